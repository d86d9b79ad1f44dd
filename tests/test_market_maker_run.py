"""The market maker end to end: the built-in Avellaneda-Stoikov plug-in trades against
the simulated venue, beside an IOC strategy, until its orders have rested, been replaced
and filled and it has closed lots in every symbol; then every order has ended, strategy,
risk and venue agree on every position, risk's open quantities and open orders are back
to zero, and P&L reconciles with the fills.

One real engine, stopped and kept for the post-mortem: the checks read its segment.
"""

import os
import textwrap

import numpy as np
import pytest

from engine_runs import EngineProcess, unique_name
from tickpipe.engine.engine_layout import strategy_orders, strategy_state, venue_orders
from tickpipe.engine.order_states import is_final
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.segment import attach_segment, unlink_segment
from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.open_order import ORDER_SLOTS
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.engine.engine_layout import role_counters
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE

pytestmark = pytest.mark.slow

# Runs until it has done what the checks read (it_has_traded), then stopped by SIGTERM.
CONFIG = """
[engine]
rate = 20000
seconds = 0
[risk]
max_orders_per_s = 1000000
max_position = 100000
fee_bps = 0.5
[[strategy]]
name = "mm"
module = "tickpipe.workers.strategies.avellaneda_stoikov"
[[strategy]]
name = "mr"
module = "tickpipe.workers.strategies.mean_reversion"
symbols = ["SYM0", "SYM1"]
"""
MM_MODULE = "tickpipe.workers.strategies.avellaneda_stoikov"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mm")
    (directory / "mm.toml").write_text(textwrap.dedent(CONFIG))
    name = unique_name("mm")
    engine = EngineProcess(name, "--keep", config_file=os.fspath(directory / "mm.toml"))
    try:
        segment = engine.wait_running()
        engine.wait_until(lambda: it_has_traded(segment),
                          "the market maker to rest, be replaced, fill and close lots in every "
                          "symbol, and the IOC strategy to fill", poll_s=0.05)
        segment.close()
        report = engine.stop()
        segment = attach_segment(name, readonly=True)
        n_symbols = len(report["positions"])
        state_dtype = load_plugin({"name": "mm", "module": MM_MODULE, "params": {}}).state_dtype
        data = {
            "stats": np.array(segment.view("symbols", SYMBOL_STATS_DTYPE, n_symbols)),
            "strat_pos": np.array(segment.view("strat_pos", STRATEGY_POSITION_DTYPE,
                                               2 * n_symbols)),
            "mm_orders": np.array(strategy_orders(segment, 0)),
            "mr_orders": np.array(strategy_orders(segment, 1)),
            "venue": np.array(venue_orders(segment)),
            "mm_state": np.array(strategy_state(segment, 0, state_dtype)),
            "workers": np.array(segment.view("workers", WORKER_DTYPE, 5)),
        }
        book = np.array(segment.view("book", BOOK_DTYPE, n_symbols))
        data["mids"] = (book["bid_px"].astype(np.int64) + book["ask_px"]) // 2
        segment.close()
    finally:
        engine.kill()
        unlink_segment(name)
    return report, data


def it_has_traded(segment) -> bool:
    """What the checks need to have happened, read live: the venue acknowledged more
    orders than the market maker's order table has rows (each row reused, as in a long
    run), replaced and filled them; the market maker closed lots (realised P&L) in every
    symbol, so that the P&L check covers closed lots and open ones; the IOC strategy filled."""
    n_symbols = int(segment.view("control", CONTROL_DTYPE)[0]["n_symbols"])
    rows = segment.view("strat_pos", STRATEGY_POSITION_DTYPE, 2 * n_symbols)
    mm, mr = rows[:n_symbols], rows[n_symbols:]
    gateway = segment.view("workers", WORKER_DTYPE, 5)[3]["counters"]
    slot = role_counters("gateway")
    return (int(gateway[slot["new_acks"]]) > ORDER_SLOTS and int(gateway[slot["replaces"]]) > 0 and
            int(gateway[slot["fills"]]) + int(gateway[slot["partial_fills"]]) > 0 and
            bool((mm["realised_pnl"] != 0).all()) and int(mr["filled_qty"].sum()) > 0)


def counter(data, worker_index, role, name):
    return int(data["workers"][worker_index]["counters"][role_counters(role)[name]])


def test_run_when_the_market_maker_has_traded_then_it_ends_cleanly_with_fills(finished):
    report, data = finished
    assert report["state"] == "stopped", report["notes"]
    assert report["lost"] == 0
    assert int(data["strat_pos"]["filled_qty"][:len(data["stats"])].sum()) > 0  # the mm filled
    # it rested, was replaced, and filled as a maker
    gateway = 3
    assert counter(data, gateway, "gateway", "new_acks") > 0
    assert counter(data, gateway, "gateway", "replaces") > 0
    assert counter(data, gateway, "gateway", "fills") + \
        counter(data, gateway, "gateway", "partial_fills") > 0


def test_run_when_it_stops_then_every_order_has_ended_and_nothing_is_open(finished):
    _, data = finished
    for table in ("mm_orders", "mr_orders", "venue"):
        rows = data[table]
        taken = rows[rows["status"] != 0]
        assert all(is_final(int(s)) for s in taken["status"]), table
        assert (taken["leaves_qty"] == 0).all(), table
    stats = data["stats"]
    assert (stats["open_buy_qty"] == 0).all() and (stats["open_sell_qty"] == 0).all()
    assert (stats["open_orders"] == 0).all() and (stats["venue_resting"] == 0).all()
    rows = data["strat_pos"]
    assert (rows["open_buy_qty"] == 0).all() and (rows["open_sell_qty"] == 0).all()
    for worker, role in ((1, "strategy"), (3, "gateway"), (4, "strategy")):
        assert counter(data, worker, role, "illegal_transitions") == 0


def test_run_when_it_stops_then_strategy_risk_and_venue_agree_on_every_position(finished):
    report, data = finished
    stats = data["stats"]
    n = len(stats)
    rows = data["strat_pos"]
    mm, mr = rows[:n], rows[n:]
    assert (mm["position"] == mm["risk_position"]).all()
    assert (mr["position"] == mr["risk_position"]).all()
    assert (stats["position"] == mm["risk_position"] + mr["risk_position"]).all()
    assert (stats["position"] == stats["venue_net_qty"]).all()
    for symbol, row in report["positions"].items():
        assert row["position"] == row["venue_net_qty"], symbol


def test_run_when_it_stops_then_pnl_reconciles_with_the_fills(finished):
    """The market maker's own cash from its fills, marked at the last mids, equals
    risk's realised + unrealised P&L for it exactly, and fees are fee_bps of the
    traded value."""
    _, data = finished
    n = len(data["stats"])
    mm = data["strat_pos"][:n]
    state = data["mm_state"]
    mids = data["mids"]
    own = state["cash"] + mm["position"] * mids
    risk = mm["realised_pnl"] + mm["risk_position"] * mids - mm["cost_basis"]
    assert (own == risk).all(), (own, risk)  # exact cost basis: to the unit
    traded = mm["filled_qty"].sum()
    assert traded > 0
    assert (mm["fees"] >= 0).all() and mm["fees"].sum() > 0
