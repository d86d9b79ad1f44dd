"""Start real engines for tests: `tickpipe run` in a subprocess, read its segment, stop it."""

import json
import os
import signal
import subprocess
import sys
import time

from tickpipe.engine.segment import SegmentError, attach_segment, unlink_segment

_counter = [0]


def _die_with_parent():
    from tickpipe.engine.atomics_lib import lib
    lib.tp_set_parent_death_signal(signal.SIGTERM)


def unique_name(tag: str) -> str:
    _counter[0] += 1
    return f"t-{tag}-{os.getpid()}-{_counter[0]}"


class EngineProcess:
    """`tickpipe run --json` in a subprocess; `stop()` sends SIGTERM and returns the report."""

    def __init__(self, name: str, *args: str, config_file: str | None = None):
        self.name = name
        command = [sys.executable, "-m", "tickpipe.cli", "run", "--json", "--name", name, *args]
        if config_file:
            command.insert(4, config_file)
        # If the test process dies, its engine goes too (no orphan running forever).
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=_die_with_parent)

    def wait_running(self, timeout: float = 90.0):
        """Wait until the feed has published ticks; returns a read-only attached segment."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited early: {self.proc.stderr.read()}")
            try:
                segment = attach_segment(self.name, readonly=True)
            except SegmentError:
                time.sleep(0.05)
                continue
            from tickpipe.engine.report import counts
            if counts(segment)["ticks"] > 0:
                return segment
            segment.close()
            time.sleep(0.05)
        raise AssertionError(f"engine {self.name} did not start ticking in {timeout} s")

    def result(self, timeout: float = 60.0) -> dict:
        out, err = self.proc.communicate(timeout=timeout)
        assert out.strip(), f"no report; stderr: {err}"
        return json.loads(out)

    def stop(self, timeout: float = 60.0) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        return self.result(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        unlink_segment(self.name)


def assert_reconciles(report: dict) -> None:
    """Every count of a finished run agrees with every other."""
    assert report["state"] == "stopped", report["notes"]
    assert report["lost"] == 0
    assert report["ticks"] > 0
    assert report["ticks_consumed"] == report["ticks"]
    assert report["intents"] == report["orders_sent"] + sum(report["rejected"].values())
    assert report["orders_at_venue"] == report["orders_sent"]
    for symbol, row in report["positions"].items():
        assert row["position"] == row["venue_net_qty"] == row["strategy_position"], (symbol, row)
