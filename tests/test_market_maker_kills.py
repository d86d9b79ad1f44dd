"""Orders that rest survive kill -9: the market maker trades while the gateway (the
venue's book), risk and the strategy (its order table) are each SIGKILLed and
restarted; afterwards strategy, risk and venue agree on every position, nothing is
left open, every order has ended, and no report was applied to an order twice (the
state machine would have counted the illegal move)."""

import os
import signal
import textwrap

import numpy as np
import pytest

from engine_runs import EngineProcess, unique_name
from tickpipe.engine.engine_layout import strategy_orders, venue_orders, worker_index
from tickpipe.engine.order_states import is_final
from tickpipe.engine.segment import attach_segment, unlink_segment
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.engine.engine_layout import role_counters
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_RUNNING

pytestmark = pytest.mark.slow

CONFIG = """
[engine]
rate = 20000
seconds = 0
[risk]
max_orders_per_s = 1000000
[[strategy]]
name = "mm"
module = "tickpipe.workers.strategies.avellaneda_stoikov"
"""
# Three restarts fit the default restart limit (max_restarts = 3 in restart_window_s:
# the third finds two before it).
KILLED = ("gateway", "risk", "strategy")
GATEWAY_FILLS = role_counters("gateway")["fills"]


@pytest.fixture(scope="module")
def after_kills(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mmkill")
    (directory / "mm.toml").write_text(textwrap.dedent(CONFIG))
    name = unique_name("mmkill")
    engine = EngineProcess(name, "--keep", config_file=os.fspath(directory / "mm.toml"))
    try:
        segment = engine.wait_running()
        workers = segment.view("workers", WORKER_DTYPE, 4)
        stats = segment.view("symbols", SYMBOL_STATS_DTYPE, 8)
        gateway = workers[worker_index("gateway")]

        def running(role):
            return int(workers[worker_index(role)]["state"]) == WORKER_RUNNING

        def trading_after(restarted):
            """The workers killed so far are back and running, the market maker has
            orders resting at the venue, and fills come back after the last restart."""
            engine.wait_until(lambda: all(running(role) for role in restarted),
                              f"{restarted} to run again")
            fills = int(gateway["counters"][GATEWAY_FILLS])
            engine.wait_until(lambda: int(stats["venue_resting"].sum()) > 0 and
                              int(gateway["counters"][GATEWAY_FILLS]) > fills,
                              f"orders resting and fills past {fills} after restarting "
                              f"{restarted}")

        restarted = []
        for role in KILLED:
            trading_after(restarted)
            row = workers[worker_index(role)]
            os.kill(int(row["pid"]), signal.SIGKILL)
            engine.wait_until(lambda: int(row["restarts"]) == 1, f"the {role} to be restarted")
            restarted.append(role)
        trading_after(restarted)
        segment.close()
        report = engine.stop()
        segment = attach_segment(name, readonly=True)
        data = {"stats": np.array(segment.view("symbols", SYMBOL_STATS_DTYPE, 8)),
                "strat_pos": np.array(segment.view("strat_pos", STRATEGY_POSITION_DTYPE, 8)),
                "orders": np.array(strategy_orders(segment, 0)),
                "venue": np.array(venue_orders(segment)),
                "workers": np.array(segment.view("workers", WORKER_DTYPE, 4))}
        segment.close()
    finally:
        engine.kill()
        unlink_segment(name)
    return report, data


def test_kills_when_each_worker_with_order_state_dies_then_each_is_restarted_and_the_run_ends_clean(
        after_kills):
    report, data = after_kills
    assert report["state"] == "stopped", report["notes"]
    assert report["lost"] == 0
    assert [int(data["workers"][worker_index(role)]["restarts"]) for role in KILLED] == [1, 1, 1]
    assert int(data["stats"]["filled_qty"].sum()) > 0


def test_kills_when_the_run_ended_then_positions_agree_and_nothing_is_open(after_kills):
    _, data = after_kills
    stats, own = data["stats"], data["strat_pos"]
    assert (stats["position"] == stats["venue_net_qty"]).all()
    assert (own["position"] == own["risk_position"]).all()
    assert (stats["position"] == own["risk_position"]).all()
    for field in ("open_buy_qty", "open_sell_qty", "open_orders", "venue_resting"):
        assert (stats[field] == 0).all(), field


def test_kills_when_the_run_ended_then_every_order_ended_and_no_move_was_illegal(after_kills):
    _, data = after_kills
    for table in ("orders", "venue"):
        taken = data[table][data[table]["status"] != 0]
        assert len(taken) and all(is_final(int(s)) for s in taken["status"]), table
    workers = data["workers"]
    assert int(workers[worker_index("strategy")]["counters"]
               [role_counters("strategy")["illegal_transitions"]]) == 0
    assert int(workers[worker_index("gateway")]["counters"]
               [role_counters("gateway")["illegal_transitions"]]) == 0
