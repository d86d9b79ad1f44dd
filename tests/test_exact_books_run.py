"""Exact books and honest orders, end to end (issue #18): one engine with three
strategies on two symbols — the built-in momentum, a user's IOC taker that guards with
tp.order_in_flight under a 5 ms venue, and a user's strategy that makes each kind of
refusal — and a kill -9 of the taker mid-run. Afterwards: the strategies' net P&L sums
to the engine's to the last price unit, the taker never passed its own limit, every
refusal was counted, and the engine checked its own books (state `stopped`)."""

import os
import signal
import textwrap
import time

import pytest

from engine_runs import EngineProcess, unique_name
from tickpipe.engine.engine_layout import strategy_worker, worker_index
from tickpipe.engine.segment import unlink_segment
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.worker_table import GATEWAY_FILLS, WORKER_DTYPE, WORKER_RUNNING

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
TAKER_LIMIT = 10
CONFIG = f"""
[engine]
rate = 20000
seconds = 0
ready_timeout_s = 600.0
[feed]
symbols = 2
[venue]
latency_us = 5000
[risk]
max_orders_per_s = 1000000
max_position = 1000
[[strategy]]
name = "momentum"
module = "tickpipe.workers.strategies.momentum"
[[strategy]]
name = "taker"
path = "{HERE}/strategies/inflight_taker.py"
params = {{ order_qty = 3, limit = {TAKER_LIMIT} }}
[[strategy]]
name = "refuser"
path = "{HERE}/strategies/refuser.py"
"""


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("books")
    (directory / "books.toml").write_text(textwrap.dedent(CONFIG))
    name = unique_name("books")
    engine = EngineProcess(name, "--keep", config_file=os.fspath(directory / "books.toml"))
    try:
        segment = engine.wait_running(timeout=600)
        workers = segment.view("workers", WORKER_DTYPE)
        taker = worker_index(strategy_worker(1))
        gateway = workers[worker_index("gateway")]["counters"]
        _wait(lambda: int(gateway[GATEWAY_FILLS]) > 20, 60, "20 fills")
        pid = int(workers[taker]["pid"])
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: int(workers[taker]["restarts"]) == 1 and int(workers[taker]["pid"]) != pid
              and int(workers[taker]["state"]) == WORKER_RUNNING, 120, "the taker running again")
        fills = int(gateway[GATEWAY_FILLS])
        _wait(lambda: int(gateway[GATEWAY_FILLS]) > fills + 20, 60, "20 more fills after the restart")
        segment.close()
        report = engine.stop(timeout=120)
        inspector = Inspector.attach(name)
        data = inspector.snapshot().data
        inspector.close()
    finally:
        engine.kill()
        unlink_segment(name)
    return report, data


def test_run_when_a_strategy_was_killed_then_the_engine_checked_its_books_and_stopped(run):
    report, _ = run
    assert report["state"] == "stopped", (report["failures"], report["notes"])
    assert report["lost"] == 0
    taker = next(w for w in report["workers"] if w.get("name", w["role"]).endswith("taker")
                 or w["role"] == strategy_worker(1))
    assert taker["restarts"] == 1


def test_run_when_strategies_share_a_symbol_then_their_net_pnl_sums_to_the_engines_exactly(run):
    report, _ = run
    traded = 0
    for symbol, row in report["positions"].items():
        per_strategy = [entry["positions"][symbol] for entry in report["strategies"].values()
                        if symbol in entry.get("positions", {})]
        assert row["net_pnl"] is not None
        assert row["net_pnl"] == sum(p["net_pnl"] for p in per_strategy), symbol
        assert row["fees"] == sum(p["fees"] for p in per_strategy)
        assert row["position"] == sum(p["risk_position"] for p in per_strategy)
        assert row["realised_pnl"] == row["cash"] + row["cost_basis"]
        assert row["cash"] == row["venue_cash"]
        traded += sum(1 for p in per_strategy if p["filled_qty"] > 0)
    assert traded >= 3  # at least two strategies filled on some symbol: the sum is a real one


def test_ioc_when_the_venue_answers_in_5ms_then_a_strategy_guarding_with_order_in_flight_stays_in_its_limit(
        run):
    _, data = run
    state = data["strategies"]["taker"]["state"]
    for symbol, row in state.items():
        assert row["sent"] > 10, symbol
        assert 0 < row["max_abs_position"] <= TAKER_LIMIT, (symbol, row)
        assert row["tracked"] > 0  # its IOCs' ids lead to their final status
    for symbol, row in data["strategies"]["taker"]["positions"].items():
        assert abs(row["risk_position"]) <= TAKER_LIMIT
        assert row["in_flight"] == 0


def test_send_when_refused_or_denied_then_each_is_counted_where_the_user_looks(run):
    report, data = run
    state = data["strategies"]["refuser"]["state"]
    n_symbols = len(state)
    assert [row["bad_order"] for row in state.values()] == [1] * n_symbols
    assert [row["no_room"] for row in state.values()] == [1] * n_symbols
    assert [row["off_tick"] for row in state.values()] == [1] * n_symbols
    assert report["refused"]["refuser"] == {"no_room": n_symbols, "bad_order": n_symbols}
    assert data["risk"]["refused"]["refuser"] == report["refused"]["refuser"]
    assert report["rejected"]["off_tick"] == n_symbols
    assert "refuser: no_room 2, bad_order 2" in _text(report)


def _text(report):
    from tickpipe.engine.report import format_report
    return format_report(report)
