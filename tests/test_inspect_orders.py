"""`tickpipe inspect` shows orders that rest and the P&L of what is held: each strategy's
open orders (its order table's rows neither free nor final) and counts by status, the
venue's working orders with their queue, per symbol the open and resting counts, and
realised, unrealised (at the book's mid) and fees per symbol and per strategy, in the
instrument's currency, in the table, --json and /metrics.

Most tests write rows into an engine-shaped segment with no workers (the default config:
mean_reversion on SYM0..SYM7, price units of 1/10,000, lot size 1, multiplier 1). One
slow test runs the built-in market maker.
"""

import json
import textwrap
import time

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tickpipe.engine.engine_layout import strategy_orders, strategy_positions, venue_orders
from tickpipe.engine.metrics import registry_for
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.control_block import REJECT_NAMES
from tickpipe.shm_layouts.fill import RISK_REASON_BASE, VENUE_REASON_BASE, VENUE_TOO_LATE
from tickpipe.shm_layouts.open_order import (
    STATUS_FILLED, STATUS_NEW, STATUS_PARTIALLY_FILLED, STATUS_REJECTED, STATUS_REPLACED,
)
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_LIMIT, TIF_DAY, TIF_GTC
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.cli.inspect_format import ORDER_ROWS
from engine_runs import EngineProcess, unique_name
from test_inspect_support import invoke_ok, make_engine_segment

MAX_QTY = RISK_REASON_BASE + next(code for code, name in REJECT_NAMES.items() if name == "max_qty")

# The built-in market maker quoting 8 synthetic symbols; fees so that fills cost something.
MM_CONFIG = """
[engine]
rate = 20000

[risk]
max_orders_per_s = 1000000
fee_bps = 2.0

[[strategy]]
name = "mm"
module = "tickpipe.workers.strategies.avellaneda_stoikov"
"""
WORKING = {"NEW", "PARTIALLY_FILLED", "REPLACED", "PENDING_CANCEL", "PENDING_REPLACE"}


def inspect_json(name: str) -> dict:
    return json.loads(invoke_ok("inspect", name, "--json", "--sample", "0"))


def put_order(rows, slot: int, order_id: int, symbol_id: int, side: int, status: int, qty: int,
              px: int, *, cum: int = 0, avg_px: int = 0, reason: int = 0, tif: int = TIF_GTC,
              queue_ahead: int = 0) -> None:
    row = rows[slot]
    row["order_id"] = order_id
    row["symbol_id"] = symbol_id
    row["side"] = side
    row["status"] = status
    row["order_type"] = ORDER_TYPE_LIMIT
    row["time_in_force"] = tif
    row["reject_reason"] = reason
    row["qty"] = qty
    row["cum_qty"] = cum
    row["leaves_qty"] = 0 if status in (STATUS_FILLED, STATUS_REJECTED) else qty - cum
    row["queue_ahead"] = queue_ahead
    row["limit_px"] = px
    row["avg_px"] = avg_px


def put_book(segment, symbol_id: int, bid_px: int, ask_px: int) -> None:
    row = segment.view("book", BOOK_DTYPE)[symbol_id]
    row["bid_px"], row["ask_px"], row["bid_qty"], row["ask_qty"] = bid_px, ask_px, 10, 10
    row["version"] = 2  # even: one whole write


@pytest.fixture
def engine(segments):
    return make_engine_segment(segments)


def test_inspect_when_orders_rest_then_each_strategy_lists_its_open_ones_by_name(engine):
    mine = strategy_orders(engine, 0)
    put_order(mine, 1, 1, 1, +1, STATUS_NEW, 5, 1_000_100, tif=TIF_DAY)
    put_order(mine, 2, 2, 0, -1, STATUS_PARTIALLY_FILLED, 10, 999_900, cum=4, avg_px=999_900)
    put_order(mine, 3, 3, 0, +1, STATUS_REPLACED, 5, 999_000,
              reason=VENUE_REASON_BASE + VENUE_TOO_LATE)
    put_order(mine, 4, 4, 2, +1, STATUS_FILLED, 5, 1_000_000, cum=5, avg_px=1_000_000)
    put_order(mine, 5, 5, 2, -1, STATUS_REJECTED, 50, 1_000_000, reason=MAX_QTY)
    orders = inspect_json(engine.name)["strategies"]["mean_reversion"]["orders"]
    assert orders["open_count"] == 3
    # by symbol, buys before sells, the best price first
    assert [(o["order_id"], o["symbol"], o["side"], o["status"]) for o in orders["open"]] == [
        (3, "SYM0", "buy", "REPLACED"), (2, "SYM0", "sell", "PARTIALLY_FILLED"),
        (1, "SYM1", "buy", "NEW")]
    partial = orders["open"][1]
    assert partial == {"order_id": 2, "symbol": "SYM0", "symbol_id": 0, "side": "sell",
                       "status": "PARTIALLY_FILLED", "type": "LIMIT", "tif": "GTC", "qty": 10,
                       "cum_qty": 4, "leaves_qty": 6, "price": 99.99, "limit_px": 999_900,
                       "avg_px": 99.99, "reject_reason": "none"}
    assert orders["open"][2]["tif"] == "DAY" and orders["open"][2]["avg_px"] is None
    assert orders["open"][0]["reject_reason"] == "too_late"  # its replace came too late
    assert orders["by_status"] == {"NEW": 1, "PARTIALLY_FILLED": 1, "FILLED": 1,
                                   "REPLACED": 1, "REJECTED": 1}
    assert orders["reject_reasons"] == {"risk_max_qty": 1, "too_late": 1}


def test_inspect_when_orders_work_at_the_venue_then_each_names_its_strategy_and_queue(engine):
    put_order(venue_orders(engine), 0, 7, 3, -1, STATUS_NEW, 5, 1_000_300, queue_ahead=42)
    stats = engine.view("symbols", SYMBOL_STATS_DTYPE)
    stats[3]["venue_resting"] = 1
    stats[3]["open_orders"] = 1
    data = inspect_json(engine.name)
    venue = data["venue"]
    assert venue["working"] == 1 and venue["by_status"] == {"NEW": 1}
    [order] = venue["resting"]
    assert (order["strategy"], order["symbol"], order["side"], order["queue_ahead"],
            order["price"]) == ("mean_reversion", "SYM3", "sell", 42, 100.03)
    assert data["risk"]["positions"]["SYM3"]["venue_resting"] == 1
    assert data["risk"]["positions"]["SYM3"]["open_orders"] == 1
    assert data["risk"]["open_orders"] == 1
    text = invoke_ok("inspect", engine.name, "--sample", "0")
    assert "venue: 1 order working" in text
    line = next(line for line in text.splitlines() if line.strip().startswith("7 "))
    assert line.split() == ["7", "mean_reversion", "SYM3", "sell", "NEW", "LIMIT", "GTC", "5", "0",
                            "5", "100.03", "-", "-", "42"]


def test_inspect_text_when_many_orders_rest_then_at_most_a_screenful_and_a_count_of_the_rest(
        engine):
    mine, venue = strategy_orders(engine, 0), venue_orders(engine)
    for n in range(ORDER_ROWS + 4):
        put_order(mine, n + 1, n + 1, n % 8, +1 if n % 2 else -1, STATUS_NEW, 5, 1_000_000 + n)
        put_order(venue, n, n + 1, n % 8, +1 if n % 2 else -1, STATUS_NEW, 5, 1_000_000 + n)
    text = invoke_ok("inspect", engine.name, "--sample", "0")
    assert text.count("... and 4 more orders; --json has them all") == 2
    data = inspect_json(engine.name)
    assert len(data["venue"]["resting"]) == len(data["strategies"]["mean_reversion"]["orders"]
                                                ["open"]) == ORDER_ROWS + 4


def test_pnl_when_a_position_is_open_then_unrealised_at_the_mid_and_fees_in_currency(engine):
    put_book(engine, 0, 1_000_000, 1_000_400)   # mid 100.02
    stats = engine.view("symbols", SYMBOL_STATS_DTYPE)
    stats[0]["position"], stats[0]["cost_basis"] = 10, 9_990_000
    stats[0]["realised_pnl"], stats[0]["fees"] = 50_000, 2_000
    stats[1]["position"], stats[1]["cost_basis"] = -3, -3_000_000  # no market for SYM1
    own = strategy_positions(engine, 0, 8)
    own[0]["risk_position"], own[0]["cost_basis"] = 10, 9_990_000
    own[0]["realised_pnl"], own[0]["fees"] = 50_000, 2_000
    data = inspect_json(engine.name)
    sym0 = data["risk"]["positions"]["SYM0"]
    # 10 lots x (1,000,200 - 999,000) = 12,000 price units x lots = 1.20 USD
    assert (sym0["mid_px"], sym0["unrealised_pnl"], sym0["unrealised_pnl_ccy"]) == \
        (1_000_200, 12_000, 1.2)
    assert (sym0["fees"], sym0["fees_ccy"], sym0["realised_pnl_ccy"]) == (2_000, 0.2, 5.0)
    assert sym0["net_pnl_ccy"] == pytest.approx(5.0 + 1.2 - 0.2)
    sym1 = data["risk"]["positions"]["SYM1"]
    assert sym1["unrealised_pnl"] is None and sym1["net_pnl_ccy"] is None  # nothing to mark at
    assert data["risk"]["positions"]["SYM2"]["unrealised_pnl"] == 0       # flat
    assert data["risk"]["unrealised_pnl_ccy"] == {"USD": 1.2}
    assert data["risk"]["fees_ccy"] == {"USD": 0.2}
    strategy = data["strategies"]["mean_reversion"]
    assert strategy["positions"]["SYM0"]["unrealised_pnl_ccy"] == 1.2
    assert strategy["positions"]["SYM0"]["fees_ccy"] == 0.2
    assert (strategy["realised_pnl_ccy"], strategy["unrealised_pnl_ccy"], strategy["fees_ccy"],
            strategy["net_pnl_ccy"]) == ({"USD": 5.0}, {"USD": 1.2}, {"USD": 0.2}, {"USD": 6.0})
    text = invoke_ok("inspect", engine.name, "--sample", "0")
    assert "PnL: realised 5.00 USD, unrealised 1.20 USD, fees 0.20 USD, net 6.00 USD" in text


def test_metrics_when_scraped_then_unrealised_fees_and_orders_per_symbol_and_strategy(engine):
    put_book(engine, 0, 1_000_000, 1_000_400)
    stats = engine.view("symbols", SYMBOL_STATS_DTYPE)
    stats[0]["position"], stats[0]["cost_basis"], stats[0]["fees"] = 10, 9_990_000, 2_000
    stats[0]["venue_resting"] = 1
    own = strategy_positions(engine, 0, 8)
    own[0]["risk_position"], own[0]["cost_basis"], own[0]["fees"] = 10, 9_990_000, 2_000
    put_order(strategy_orders(engine, 0), 1, 1, 0, +1, STATUS_NEW, 5, 1_000_000)
    inspector = Inspector.attach(engine.name)
    try:
        text = generate_latest(registry_for(inspector)).decode()
    finally:
        inspector.close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    name = engine.name
    assert samples[("tickpipe_unrealised_pnl", (("currency", "USD"), ("engine", name),
                                                ("symbol", "SYM0")))] == 1.2
    assert samples[("tickpipe_fees", (("currency", "USD"), ("engine", name),
                                      ("symbol", "SYM0")))] == 0.2
    labels = (("currency", "USD"), ("engine", name), ("strategy", "mean_reversion"),
              ("symbol", "SYM0"))
    assert samples[("tickpipe_strategy_unrealised_pnl", labels)] == 1.2
    assert samples[("tickpipe_strategy_fees", labels)] == 0.2
    assert samples[("tickpipe_strategy_realised_pnl", labels)] == 0.0
    assert samples[("tickpipe_venue_resting_orders", (("engine", name), ("symbol", "SYM0")))] == 1
    assert samples[("tickpipe_strategy_open_orders", (("engine", name), ("status", "NEW"),
                                                      ("strategy", "mean_reversion")))] == 1


def wait_for(read, predicate, timeout: float = 30.0, every: float = 0.1):
    """read() until predicate(value) holds; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"condition not met in {timeout} s"
        time.sleep(every)


@pytest.mark.slow
def test_inspect_when_market_maker_quotes_then_its_orders_rest_at_the_venue_with_pnl(tmp_path):
    config = tmp_path / "mm.toml"
    config.write_text(textwrap.dedent(MM_CONFIG))
    engine = EngineProcess(unique_name("mm-orders"), "--seconds", "0", config_file=str(config))
    try:
        engine.wait_running(timeout=180).close()
        inspector = Inspector.attach(engine.name)
        try:
            wait_for(lambda: inspector.snapshot().data,
                     lambda d: d["venue"]["working"] > 0 and d["risk"]["fills"] > 0
                     and d["risk"]["fees_ccy"].get("USD", 0) > 0)
        finally:
            inspector.close()
        data = inspect_json(engine.name)
    finally:
        report = engine.stop()
    mm = data["strategies"]["mm"]
    names = {f"SYM{i}" for i in range(8)}
    # its own orders: not free, named; a market maker keeps a bid and an ask working
    assert mm["orders"]["open_count"] == len(mm["orders"]["open"]) > 0
    for order in mm["orders"]["open"]:
        assert order["symbol"] in names and order["side"] in ("buy", "sell")
        assert order["status"] in WORKING | {"PENDING_NEW"}
        assert order["type"] == "LIMIT" and order["tif"] == "GTC"
        assert order["qty"] == order["cum_qty"] + order["leaves_qty"] and order["price"] > 0
        assert isinstance(order["reject_reason"], str)
    assert sum(mm["orders"]["by_status"].values()) >= mm["orders"]["open_count"]
    # the venue's working orders: the market maker's, with their queue
    venue = data["venue"]
    assert venue["working"] == len(venue["resting"]) > 0
    for order in venue["resting"]:
        assert order["strategy"] == "mm" and order["symbol"] in names
        assert order["status"] in WORKING and order["queue_ahead"] >= 0
    positions = data["risk"]["positions"]
    assert sum(p["venue_resting"] for p in positions.values()) > 0
    assert all(p["open_orders"] >= 0 for p in positions.values())
    # P&L: fees once it has fills, unrealised wherever it holds a position at a market
    assert data["risk"]["fees_ccy"]["USD"] > 0 and mm["fees_ccy"]["USD"] > 0
    for symbol, row in mm["positions"].items():
        assert row["currency"] == "USD" and row["fees"] >= 0
        assert row["unrealised_pnl"] is not None and row["mid_px"] > 0, (symbol, row)
        assert row["net_pnl_ccy"] == pytest.approx(
            row["realised_pnl_ccy"] + row["unrealised_pnl_ccy"] - row["fees_ccy"])
    # the final report carries the same figures
    assert report["state"] == "stopped", report["notes"]
    assert report["fees_ccy"]["USD"] > 0 and "USD" in report["unrealised_pnl_ccy"]
    assert report["strategies"]["mm"]["fees_ccy"]["USD"] > 0
    assert report["venue"]["working"] >= 0 and "kill_switch_cancels" in report["venue"]
