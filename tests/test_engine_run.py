"""End-to-end runs of the real engine: four worker processes over one segment."""

import multiprocessing
import os
import pwd
import signal

import pytest

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.report import counts, positions, ring_positions
from tickpipe.engine.segment import SectionSpec, attach_segment, create_segment, unlink_segment
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, TRADING_REDUCING, TRADING_STATE_OFFSET
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_RUNNING
from tests_support_paths import PIPELINE  # noqa: E402  (see tests/tests_support_paths.py)
from engine_runs import HANG_S, EngineProcess, assert_reconciles, unique_name

pytestmark = pytest.mark.slow


def test_run_default_pipeline_when_stopped_by_time_then_every_count_reconciles():
    name = unique_name("e2e")
    engine = EngineProcess(name, "--seconds", "2", "--rate", "200000")
    try:
        report = engine.result()
    finally:
        engine.kill()
    assert_reconciles(report)
    assert report["orders_sent"] > 0 and report["fills"] > 0
    assert report["tick_to_trade_ns"]["count"] == report["orders_sent"]
    for key in ("p50", "p90", "p99", "p999", "max"):
        assert report["tick_to_trade_ns"][key] > 0
        for hop in report["hops_ns"].values():
            assert key in hop
    assert [w["role"] for w in report["workers"]] == list(PIPELINE)
    assert report["memory"]["backing"] in ("shm", "hugetlbfs")
    assert not os.path.exists(f"/dev/shm/tickpipe.{name}")  # unlinked without --keep


def test_run_when_sigterm_arrives_mid_run_then_rings_drain_and_nothing_is_lost():
    name = unique_name("term")
    engine = EngineProcess(name, "--seconds", "0", "--rate", "0")
    try:
        segment = engine.wait_running()
        # Flat out: the stop comes with work in the rings, 100,000 ticks in (a count, not a
        # time: as many on a loaded machine as on an idle one).
        engine.wait_until(lambda: counts(segment)["ticks"] > 100_000, "100,000 ticks")
        segment.close()
        report = engine.stop()
    finally:
        engine.kill()
    assert_reconciles(report)
    assert report["ticks"] > 100_000


KILLED = ("strategy", "risk", "gateway")


def test_run_when_each_worker_is_sigkilled_in_turn_then_each_restarts_and_the_run_reconciles():
    # One run, a kill per role: three restarts fit the default restart limit
    # (max_restarts = 3 in restart_window_s: the third restart finds two before it).
    name = unique_name("kill")
    engine = EngineProcess(name, "--seconds", "0", "--rate", "100000")
    try:
        segment = engine.wait_running()
        workers = segment.view("workers", WORKER_DTYPE)
        # killed mid-trade
        engine.wait_until(lambda: counts(segment)["fills"] > 0, "the first fills")
        for role in KILLED:
            row = workers[PIPELINE.index(role)]
            pid = int(row["pid"])
            os.kill(pid, signal.SIGKILL)
            engine.wait_until(lambda: int(row["restarts"]) == 1 and int(row["pid"]) != pid and
                              int(row["state"]) == WORKER_RUNNING,
                              f"the {role} to be restarted and running")
            # The pipeline makes progress after the restart: orders keep going out and
            # their fills come back (through the gateway, whichever worker was killed).
            before = counts(segment)
            engine.wait_until(lambda: counts(segment)["orders_sent"] > before["orders_sent"] and
                              counts(segment)["fills"] > before["fills"],
                              f"orders and fills to pass {before['orders_sent']} and "
                              f"{before['fills']} after the {role} restart")
        segment.close()
        report = engine.stop()
    finally:
        engine.kill()
    assert_reconciles(report)
    restarted = {w["role"]: w["restarts"] for w in report["workers"]}
    assert restarted == dict.fromkeys(PIPELINE, 0) | dict.fromkeys(KILLED, 1)
    for role in KILLED:
        assert any(note.startswith(role) and "restarted after signal 9" in note
                   for note in report["notes"]), (role, report["notes"])


def test_run_when_trading_state_is_halted_then_no_order_is_sent(tmp_path):
    config = tmp_path / "halted.toml"
    config.write_text('[risk]\ntrading_state = "HALTED"\n')
    name = unique_name("halt")
    engine = EngineProcess(name, "--seconds", "0", config_file=str(config))
    try:
        segment = engine.wait_running()
        engine.wait_until(lambda: counts(segment)["rejected"]["halted"] > 0, "a halted refusal")
        segment.close()
        report = engine.stop()
    finally:
        engine.kill()
    assert_reconciles(report)
    assert report["intents"] > 0
    assert report["orders_sent"] == 0
    # (those sent while the engine stopped are denied as such)
    assert report["rejected"]["halted"] + report["rejected"]["engine_stopping"] == \
        report["intents"]


def test_run_when_switched_to_reducing_then_only_position_reducing_orders_pass():
    name = unique_name("reduce")
    engine = EngineProcess(name, "--seconds", "0", "--rate", "200000")
    try:
        segment = engine.wait_running()
        engine.wait_until(lambda: any(p["position"] for p in positions(segment).values()),
                          "positions")
        writable = attach_segment(name)  # the read-only mapping cannot take the write
        control_address = writable.base_address + writable.section("control")[0]
        lib.tp_store_release_u32(control_address + TRADING_STATE_OFFSET, TRADING_REDUCING)
        writable.close()
        # Risk has seen the state once it turns an intent away for it; the orders it
        # passed before then are settled once the orders and fills rings are empty at
        # one instant. From there on every order can only shrink a position.
        engine.wait_until(lambda: counts(segment)["rejected"]["reducing_only"] > 0,
                          "a reducing-only reject")
        engine.wait_until(lambda: all(head == tail for ring, (head, tail)
                                      in ring_positions(segment).items()
                                      if ring in ("orders", "fills_risk")),
                          "the orders in flight to settle")
        at_switch = {s: abs(p["position"]) for s, p in positions(segment).items()}

        def decided():  # intents risk has answered: passed or turned away
            now = counts(segment)
            return now["orders_sent"] + sum(now["rejected"].values())
        # Then risk answers many more intents (about a second's worth at this rate) while
        # REDUCING, the strategy trying to trade on as before.
        start = decided()
        engine.wait_until(lambda: decided() >= start + 20_000,
                          f"risk to answer 20,000 intents after {start}")
        after = {s: abs(p["position"]) for s, p in positions(segment).items()}
        segment.close()
        report = engine.stop()
    finally:
        engine.kill()
    assert_reconciles(report)
    assert report["trading_state"] == "REDUCING"
    assert report["rejected"]["reducing_only"] > 0
    for symbol, size in after.items():
        assert size <= at_switch[symbol], (symbol, at_switch[symbol], size)


def _create_and_exit(name):
    create_segment(name, [SectionSpec("control", CONTROL_DTYPE.itemsize)]).mark_ready()


def test_run_when_a_dead_engines_segment_is_left_then_it_is_reclaimed():
    name = unique_name("stale")
    child = multiprocessing.get_context("spawn").Process(target=_create_and_exit, args=(name,))
    child.start()
    child.join(HANG_S)
    assert os.path.exists(f"/dev/shm/tickpipe.{name}")
    engine = EngineProcess(name, "--seconds", "0.5")
    try:
        report = engine.result()
    finally:
        engine.kill()
    assert report["state"] == "stopped"
    assert any("reclaimed" in note for note in report["notes"])


def test_run_when_a_live_engine_holds_the_name_then_it_is_refused():
    name = unique_name("live")
    segment = create_segment(name, [SectionSpec("control", CONTROL_DTYPE.itemsize)])
    segment.mark_ready()
    try:
        engine = EngineProcess(name, "--seconds", "0.5")
        out, err = engine.proc.communicate(timeout=HANG_S)
    finally:
        segment.close()
        unlink_segment(name)
    assert engine.proc.returncode == 1
    user = pwd.getpwuid(os.getuid()).pw_name
    assert f"engine {name!r} is already running (owner pid {os.getpid()}, user {user})" in err
    assert "Traceback" not in err
    assert out == ""


def test_run_when_the_feed_paces_a_slow_rate_then_its_heartbeat_stays_fresh_and_nobody_restarts(tmp_path):
    # 1 tick/s leaves the feed waiting between ticks as long as the 1 s heartbeat timeout.
    # The feed's pacing sleeps on its doorbell whatever the wait (but spin); the others
    # idle, and with wait = "block" they sleep too, stamping their heartbeat after each
    # sleep. Yielding (what "auto" picks here) they stamp it every 64 idle passes, and
    # on a core shared with a concurrent suite 64 yields can outlast this 1 s timeout:
    # they were killed for it (the default 5 s leaves room that this test does not).
    config = tmp_path / "slow.toml"
    config.write_text('[engine]\nrate = 1\nheartbeat_timeout_s = 1.0\nwait = "block"\n')
    engine = EngineProcess(unique_name("slow"), "--seconds", "3.5", config_file=str(config))
    try:
        report = engine.result()
    finally:
        engine.kill()
    assert report["state"] == "stopped"
    assert {w["role"]: w["restarts"] for w in report["workers"]} == dict.fromkeys(PIPELINE, 0)
    assert 2 <= report["ticks"] <= 5  # 3.5 s at 1 tick/s, give or take the start and stop
    assert_reconciles(report)
