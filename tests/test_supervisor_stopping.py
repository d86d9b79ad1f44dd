"""The supervisor once it is stopping: a worker that dies is restarted under the same policy
and the drain waits for it, and a drain that fails says so.

Worker processes are faked over a real (small) segment, as in tests/test_lifecycle.py,
so each death and each drain outcome is one call; ring contents are set by writing
the ring headers' head and tail.
"""

import json

import pytest

from fake_workers import RING_CAPACITY as CAPACITY, FakeProc, kill, running_supervisor
from click.testing import CliRunner

from tickpipe.cli.run_cmd import run as run_command
from tickpipe.engine import supervisor as supervisor_module
from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.engine.lifecycle import (
    DRAIN_TIMED_OUT, DRAINING, FAILED, FAILING, FINAL_STATES, INCONSISTENT, RUNNING, STOPPED,
    TRANSITIONS,
)
from tickpipe.engine.report import failure_line, final_report
from tickpipe.engine.ring_layout import ring_header
from tickpipe.shm_layouts.control_block import (
    CONTROL_DTYPE, ENGINE_DRAIN_TIMED_OUT, ENGINE_INCONSISTENT,
)
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_READY, WORKER_STOPPED

@pytest.fixture
def supervisor(segments, monkeypatch, tmp_path):
    """make(**engine) -> a RUNNING Supervisor over a real segment, workers faked, spawns recorded."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # no worker log of ours
    return lambda **engine: running_supervisor(segments, **engine)


def feed_left_cleanly(sup):
    """What the feed does on stop_feed: state STOPPED, exit code 0."""
    sup.segment.view("workers", WORKER_DTYPE)[PIPELINE.index("feed")]["state"] = WORKER_STOPPED
    sup.procs["feed"].returncode = 0


def put_records(sup, section, count):
    ring_header(sup.segment, section)["head"] = count


def engine_state(sup):
    return int(sup.segment.view("control", CONTROL_DTYPE)[0]["engine_state"])


# ---- restarts while stopping: the same policy as while running ----------------------

def test_transitions_when_draining_or_failing_then_a_worker_restart_keeps_the_state():
    assert {key: new for key, new in TRANSITIONS.items() if key[1] == "worker_restarted"} == {
        (RUNNING, "worker_restarted"): RUNNING, (DRAINING, "worker_restarted"): DRAINING,
        (FAILING, "worker_restarted"): FAILING}


@pytest.mark.parametrize("stop_trigger", ["time_up", "stop_requested"])
@pytest.mark.parametrize("role", ["gateway", "risk"])
def test_check_workers_when_a_worker_dies_while_draining_then_it_is_restarted_and_still_draining(
        supervisor, stop_trigger, role):
    sup = supervisor(restart="one", max_restarts=10)
    sup.lifecycle.fire(stop_trigger)
    kill(sup, role)
    assert sup.spawned == [role]
    assert sup.lifecycle.state == DRAINING
    assert sup.said == [f"{role} died (signal 9); restarting it (restart 1)"]
    assert sup.failures == []


def test_check_workers_when_a_worker_dies_while_draining_past_the_limit_then_it_is_given_up(
        supervisor):
    sup = supervisor(restart="one", max_restarts=1)
    sup.lifecycle.fire("time_up")
    kill(sup, "gateway")
    kill(sup, "gateway")
    assert sup.spawned == ["gateway"]
    assert sup.lifecycle.state == FAILING
    assert sup.failures == [
        "gateway died (signal 9); 1 restarts in the last 5 s reached the limit: stopping all"]


def test_check_workers_when_a_worker_dies_after_the_restart_limit_then_it_is_not_restarted(
        supervisor):
    sup = supervisor(restart="one", max_restarts=0)
    kill(sup, "risk")
    assert sup.lifecycle.state == FAILING
    kill(sup, "feed")
    assert sup.spawned == []
    assert set(sup.procs) == {"strategy", "gateway"}
    assert sup.failures[-1] == \
        "feed died (signal 9); 0 restarts in the last 5 s reached the limit: stopping all"


def test_drain_when_a_worker_restarted_during_it_warms_up_then_it_waits_and_the_warm_up_is_not_counted(
        supervisor):
    sup = supervisor(restart="one", drain_timeout_s=0.2)
    sup.lifecycle.fire("time_up")
    feed_left_cleanly(sup)
    kill(sup, "gateway")       # restarted: its row says FAILED until it has recovered
    check_workers, polls = sup._check_workers, []

    def ready_after_25_polls():  # 25 x POLL_S = 0.5 s of warm-up: longer than the drain's time
        polls.append(1)
        if len(polls) == 25:
            sup._row("gateway")["state"] = WORKER_READY
        check_workers()

    sup._check_workers = ready_after_25_polls
    sup.drain_and_stop()
    assert len(polls) > 25     # it waited for the READY, and drained after it
    assert sup.lifecycle.history[-1] == (DRAINING, "drained", STOPPED)
    assert sup.failures == []


# ---- how a drain ends ---------------------------------------------------------------

def test_drain_when_every_ring_empties_then_it_ends_stopped_with_nothing_stranded(supervisor):
    sup = supervisor()
    sup.lifecycle.fire("time_up")
    feed_left_cleanly(sup)
    sup.drain_and_stop()
    assert sup.lifecycle.state == STOPPED
    assert sup.failures == []
    assert final_report(sup.segment, state=sup.lifecycle.state, seconds=1.0,
                        notes=sup.notes)["stranded"] == {}


def test_drain_when_rings_are_not_empty_in_time_then_it_ends_drain_timed_out_naming_each_ring(
        supervisor):
    sup = supervisor(drain_timeout_s=0.1)
    sup.lifecycle.fire("stop_requested")
    feed_left_cleanly(sup)
    put_records(sup, "quotes", 5)
    put_records(sup, "orders", 1_234)
    sup.drain_and_stop()
    assert sup.lifecycle.state == DRAIN_TIMED_OUT
    assert DRAIN_TIMED_OUT in FINAL_STATES and DRAIN_TIMED_OUT != STOPPED
    assert engine_state(sup) == ENGINE_DRAIN_TIMED_OUT  # tools never see it as a clean stop
    expected = "drain timed out after 0.1 s: 1,239 records stranded (quotes 5, orders 1,234)"
    assert sup.failures == [expected] and sup.notes[-1] == expected
    report = final_report(sup.segment, state=sup.lifecycle.state, seconds=1.0, notes=sup.notes)
    assert report["stranded"] == {"quotes": 5, "orders": 1_234}


def test_drain_when_a_gate_lags_behind_empty_rings_then_the_line_names_its_reader_and_records(
        supervisor):
    """The rings are empty but their gate's reader (a journal, an out bridge) has not
    passed everything: the line says what the drain was waiting for, not just "0 stranded"."""
    sup = supervisor(drain_timeout_s=0.1)
    sup.lifecycle.fire("time_up")
    feed_left_cleanly(sup)
    header = ring_header(sup.segment, "quotes")
    header["head"] = header["tail"] = 300
    header["gated"], header["gate"] = 1, 100
    sup.gate_readers = {"quotes": ["bridge_out"]}
    sup.procs["bridge_out"] = FakeProc()  # alive: the drain waits for it
    sup.drain_and_stop()
    assert sup.lifecycle.state == DRAIN_TIMED_OUT
    assert sup.failures == ["drain timed out after 0.1 s, waiting for bridge_out to pass 200 "
                            "records of quotes: 0 records stranded"]


def test_drain_when_the_reader_of_a_ring_was_given_up_then_it_ends_failed_without_waiting(
        supervisor):
    sup = supervisor(restart="fail-fast", drain_timeout_s=30.0)
    put_records(sup, "quotes", 7)
    kill(sup, "strategy")
    feed_left_cleanly(sup)
    sup.drain_and_stop()
    assert sup.lifecycle.history[-1] == (FAILING, "drain_stranded", FAILED)
    assert sup.failures == [
        "strategy mean_reversion died (signal 9); restart policy fail-fast: stopping all",
        "drain ended early, what is left can no longer be read (its reader was given up): "
        "7 records stranded (quotes 7)"]


def test_drain_when_a_live_reader_waits_on_a_full_ring_of_a_given_up_one_then_it_ends_at_once(
        supervisor):
    sup = supervisor(restart="fail-fast", drain_timeout_s=30.0)
    put_records(sup, "orders", CAPACITY)   # full, and its reader (the gateway) is gone
    put_records(sup, "intents", 3)         # risk cannot read these: no room for its orders
    kill(sup, "gateway")
    feed_left_cleanly(sup)
    sup.drain_and_stop()
    assert sup.lifecycle.history[-1] == (FAILING, "drain_stranded", FAILED)
    assert sup.failures[-1].endswith(f"{CAPACITY + 3} records stranded (intents 3, orders 64)")


# ---- what the user sees -------------------------------------------------------------

@pytest.fixture
def timed_out_report(supervisor):
    sup = supervisor(drain_timeout_s=0.1)
    sup.lifecycle.fire("time_up")
    feed_left_cleanly(sup)
    put_records(sup, "intents", 1_240)
    sup.drain_and_stop()
    report = final_report(sup.segment, state=sup.lifecycle.state, seconds=10.0, notes=sup.notes)
    report["failures"] = sup.failures
    return report


def test_failure_line_when_the_run_stopped_cleanly_then_there_is_none(timed_out_report):
    assert failure_line(dict(timed_out_report, state=STOPPED)) is None


@pytest.mark.parametrize("as_json", [False, True])
def test_run_command_when_the_drain_timed_out_then_exit_1_with_one_line_naming_the_stranded(
        timed_out_report, monkeypatch, as_json):
    monkeypatch.setattr(supervisor_module, "run_engine", lambda config, **kwargs: timed_out_report)
    result = CliRunner().invoke(run_command, ["--seconds", "1"] + (["--json"] if as_json else []))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: engine {timed_out_report['engine']} ended drain-timed-out: drain timed out "
        "after 0.1 s: 1,240 records stranded (intents 1,240)")
    assert "Traceback" not in result.output
    if as_json:
        assert json.loads(result.stdout)["stranded"] == {"intents": 1_240}
    else:
        assert result.stdout.startswith(f"engine {timed_out_report['engine']}: drain-timed-out")


# ---- an honest end: a clean drain whose books do not add up ----------------------------

def test_drain_when_the_books_do_not_add_up_then_it_ends_inconsistent_naming_each_check(
        supervisor):
    sup = supervisor()
    sup.lifecycle.fire("time_up")
    feed_left_cleanly(sup)
    stats = sup.segment.view("symbols", SYMBOL_STATS_DTYPE)
    stats[1]["open_sell_qty"] = 3          # lots risk still counts open after the drain
    stats[2]["realised_pnl"] = 1           # realised without any fill: cash + basis is 0
    sup.drain_and_stop()
    assert sup.lifecycle.state == INCONSISTENT
    assert engine_state(sup) == ENGINE_INCONSISTENT
    assert "engine book SYM1: open_sell_qty 3 after the drain" in sup.notes
    assert "engine book SYM2: realised 1 != cash 0 + cost basis 0 (off by 1)" in sup.notes
    assert "symbol SYM2: net P&L at engine 1 != at sum of strategies 0" in sup.notes
    assert sup.failures[0].startswith("the books do not add up (3 checks failed): ")


def test_run_command_when_the_books_do_not_add_up_then_exit_1_with_the_checks(
        supervisor, monkeypatch):
    sup = supervisor()
    sup.lifecycle.fire("time_up")
    feed_left_cleanly(sup)
    sup.segment.view("symbols", SYMBOL_STATS_DTYPE)[0]["venue_cash"] = 500
    sup.drain_and_stop()
    report = final_report(sup.segment, state=sup.lifecycle.state, seconds=1.0, notes=sup.notes)
    report["failures"] = sup.failures
    monkeypatch.setattr(supervisor_module, "run_engine", lambda config, **kwargs: report)
    result = CliRunner().invoke(run_command, ["--seconds", "1"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: engine {report['engine']} ended inconsistent: the books do not add up (1 check "
        "failed): engine book SYM0: cash at risk 0 != at venue 500")
    assert "Traceback" not in result.output
