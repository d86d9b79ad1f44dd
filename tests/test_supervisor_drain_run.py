"""A real engine whose drain cannot finish: it ends drain-timed-out, exit 1, one line naming
what is stranded in each ring (tests/test_supervisor_stopping.py has the same without processes)."""

import json
import os
import signal
import time

import pytest

from tickpipe.engine.report import ring_positions
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tests_support_paths import ROLES  # noqa: E402  (see tests/tests_support_paths.py)
from engine_runs import EngineProcess, unique_name

pytestmark = pytest.mark.slow


def test_run_when_a_reader_is_stopped_during_the_drain_then_it_ends_drain_timed_out_and_exit_1(
        tmp_path):
    # The frozen strategy must not be killed for its silence: that would be a death,
    # and the run would end failed for that reason instead.
    config = tmp_path / "slow-drain.toml"
    config.write_text("[engine]\ndrain_timeout_s = 0.5\nheartbeat_timeout_s = 600.0\n")
    name = unique_name("drain-timeout")
    engine = EngineProcess(name, "--seconds", "0", config_file=str(config))
    try:
        segment = engine.wait_running()
        strategy_pid = int(segment.view("workers", WORKER_DTYPE)[ROLES.index("strategy")]["pid"])
        os.kill(strategy_pid, signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while ring_positions(segment)["quotes"][0] == ring_positions(segment)["quotes"][1]:
            assert time.monotonic() < deadline, "no quote waited for the stopped strategy"
            time.sleep(0.01)
        segment.close()
        engine.proc.send_signal(signal.SIGTERM)
        out, err = engine.proc.communicate(timeout=120)
    finally:
        engine.kill()  # the workers go with it (PDEATHSIG), stopped or not
    assert engine.proc.returncode == 1, err
    report = json.loads(out)
    assert report["state"] == "drain-timed-out"
    assert report["stranded"]["quotes"] > 0
    assert report["lost"] == sum(report["stranded"].values())
    last = err.splitlines()[-1]
    per_ring = ", ".join(f"{section} {count:,}" for section, count in report["stranded"].items())
    assert last == (f"Error: engine {name} ended drain-timed-out: drain timed out after 0.5 s: "
                    f"{report['lost']:,} records stranded ({per_ring})")
    assert "Traceback" not in err
    assert {w["role"]: w["restarts"] for w in report["workers"]} == dict.fromkeys(ROLES, 0)
