"""Real engines while they drain. A worker SIGKILLed during the drain is restarted and the
drain goes on: the run ends stopped, nothing stranded, every count reconciled. A drain
that cannot finish ends drain-timed-out, exit 1, one line naming what is stranded in each
ring (tests/test_supervisor_stopping.py has both without processes)."""

import json
import os
import signal

import pytest

from tickpipe.engine.report import ring_positions
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_DRAINING
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tests_support_paths import PIPELINE  # noqa: E402  (see tests/tests_support_paths.py)
from engine_runs import HANG_S, EngineProcess, assert_reconciles, unique_name

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
        strategy_pid = int(segment.view("workers", WORKER_DTYPE)[PIPELINE.index("strategy")]["pid"])
        os.kill(strategy_pid, signal.SIGSTOP)

        def quotes_waiting():
            head, tail = ring_positions(segment)["quotes"]
            return head - tail

        engine.wait_until(lambda: quotes_waiting() > 0, "a quote to wait for the stopped strategy")
        segment.close()
        engine.proc.send_signal(signal.SIGTERM)
        out, err = engine.proc.communicate(timeout=HANG_S)
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
    assert {w["role"]: w["restarts"] for w in report["workers"]} == dict.fromkeys(PIPELINE, 0)


# The market maker rests orders (so the close has cancels to sweep and report), and every
# request reaches the venue [venue] latency_us after risk sent it: at the stop the orders
# ring holds up to that long of requests, and the drain cannot end before the last is
# due. So it lasts about LATENCY_S whatever the machine's speed, and a kill while the
# orders ring still holds records is a kill during the drain.
LATENCY_S = 2.0
DRAIN_CONFIG = f"""
[engine]
rate = 20000
drain_timeout_s = 30.0
[venue]
latency_us = {LATENCY_S * 1e6}
[risk]
max_orders_per_s = 1000000
[[strategy]]
name = "mm"
module = "tickpipe.workers.strategies.avellaneda_stoikov"
params = {{ gamma = 0.1, order_qty = 5, max_inventory = 50 }}
"""


@pytest.mark.parametrize("role", ["gateway", "strategy"])
def test_run_when_a_worker_is_sigkilled_during_the_drain_then_it_restarts_and_the_drain_ends_stopped(
        tmp_path, role):
    config = tmp_path / "slow-venue.toml"
    config.write_text(DRAIN_CONFIG)
    name = unique_name(f"drain-kill-{role}")
    engine = EngineProcess(name, "--seconds", "0", config_file=str(config))
    try:
        segment = engine.wait_running()
        control = segment.view("control", CONTROL_DTYPE)[0]
        row = segment.view("workers", WORKER_DTYPE)[PIPELINE.index(role)]

        def orders_waiting():
            head, tail = ring_positions(segment)["orders"]
            return head - tail

        engine.wait_until(lambda: orders_waiting() > 0, "requests held back by the venue's latency",
                          poll_s=0.002)
        engine.proc.send_signal(signal.SIGTERM)
        engine.wait_until(lambda: int(control["engine_state"]) == ENGINE_DRAINING,
                          "the drain to start", poll_s=0.002)
        pid = int(row["pid"])
        assert orders_waiting() > 0  # the drain has not ended, and cannot for a while
        os.kill(pid, signal.SIGKILL)
        drain_was_on = int(control["engine_state"]) == ENGINE_DRAINING and orders_waiting() > 0
        segment.close()
        report = engine.result()
    finally:
        engine.kill()
    assert drain_was_on, "the kill came after the drain"
    assert engine.proc.returncode == 0
    assert_reconciles(report)  # stopped, nothing lost, every count agrees
    assert report["stranded"] == {}
    assert report["failures"] == []
    assert {w["role"]: w["restarts"] for w in report["workers"]} == dict.fromkeys(PIPELINE, 0) | {
        role: 1}
    assert any(note.startswith(f"{role}") and "restarted after signal 9" in note
               for note in report["notes"]), report["notes"]
    assert report["venue"]["working"] == 0  # the close cancelled every order, once
