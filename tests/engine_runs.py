"""Start real engines for tests: `tickpipe run` in a subprocess, read its segment, stop it."""

import json
import os
import signal
import subprocess
import sys
import time

from tickpipe.engine.segment import SegmentError, attach_segment, unlink_segment

_counter = [0]

# A start under a concurrent suite with a cold numba cache can take minutes (every loop
# compiles): a deadline here only bounds a hang. Each wait ends on what it waits for
# (the first tick, the report, a counter passing a value), never on the time.
HANG_S = 600.0


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

    def wait_running(self, timeout: float = HANG_S):
        """Wait until the feed has published ticks; returns a read-only attached segment.
        An engine that exits first fails the wait at once, with its stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine {self.name} exited ({self.proc.returncode}) "
                                     f"before its first tick: {self.proc.stderr.read()}")
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

    def wait_until(self, condition, what: str, timeout: float = HANG_S,
                   poll_s: float = 0.005) -> None:
        """wait_until while the engine runs: an engine that exits first fails the wait at
        once, with its stderr, instead of at the deadline."""
        def done():
            if condition():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"engine {self.name} exited ({self.proc.returncode}) "
                                     f"while waiting for {what}: {self.proc.stderr.read()}")
            return False
        wait_until(done, what, timeout, poll_s)

    def result(self, timeout: float = HANG_S) -> dict:
        """The report of a run that ends (by its time, or after stop()); waits for the exit."""
        out, err = self.proc.communicate(timeout=timeout)
        assert out.strip(), f"no report (exit {self.proc.returncode}); stderr: {err}"
        return json.loads(out)

    def stop(self, timeout: float = HANG_S) -> dict:
        """SIGTERM: the engine drains its rings and stops; returns its report."""
        self.proc.send_signal(signal.SIGTERM)
        return self.result(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        unlink_segment(self.name)


def kill_feed_after(engine: "EngineProcess", segment, ticks: int) -> None:
    """SIGKILL the feed once it has made `ticks` ticks; return when it has restarted."""
    from tickpipe.engine.report import counts
    from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
    workers = segment.view("workers", WORKER_DTYPE, 4)
    engine.wait_until(lambda: counts(segment)["ticks"] >= ticks, f"{ticks:,} ticks made")
    pid = int(workers[0]["pid"])  # the feed's row
    os.kill(pid, signal.SIGKILL)
    engine.wait_until(lambda: int(workers[0]["pid"]) != pid, "the feed restarted")


def wait_until(condition, what: str, timeout: float = HANG_S, poll_s: float = 0.005) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` (a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(poll_s)


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
