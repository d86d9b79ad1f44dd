"""Pre-trade risk: one test per denial reason, calling the jitted checks directly.

Every case starts from an order that passes every check (ORDER) and changes
what the test is about.
"""

import numpy as np
import pytest

from tickpipe.shm_layouts.control_block import (
    REJECT_NAMES, TRADING_ACTIVE, TRADING_HALTED, TRADING_REDUCING,
)
from tickpipe.shm_layouts.market_data import PRICE_SCALE
from tickpipe.workers.risk.checks import (
    NO_REJECT, ONE_SECOND_NS, check_daily_loss, check_drawdown, check_duplicate,
    check_gross_exposure, check_max_open_orders, check_order, check_rate, reduces_position,
)

BUY, SELL = 1, -1
MID = 100 * PRICE_SCALE
ORDER = dict(trading_state=TRADING_ACTIVE, side=BUY, qty=10, limit_px=MID, mid_px=MID, position=0,
             open_buy=0, open_sell=0, now_ns=50 * ONE_SECOND_NS, send_times=None, sent_count=0,
             max_qty=100, max_notional=100_000 * PRICE_SCALE, band_bps=500, max_position=200,
             tick_size=PRICE_SCALE // 100)


def check(**changes):
    """check_order on ORDER with `changes`; returns the reason's name or None."""
    args = {**ORDER, **changes}
    if args["send_times"] is None:
        args["send_times"] = np.zeros(3, dtype=np.int64)
    reason = check_order(*args.values())
    return None if reason == NO_REJECT else REJECT_NAMES[reason]


def test_submit_order_when_every_check_passes_then_no_reject():
    assert check() is None
    assert check(side=SELL) is None


@pytest.mark.parametrize("side", [BUY, SELL])
def test_submit_order_when_trading_is_halted_then_denied_halted(side):
    assert check(trading_state=TRADING_HALTED, side=side) == "halted"
    assert check(trading_state=TRADING_HALTED, side=side, position=-side * 50) == "halted"


@pytest.mark.parametrize("side, position", [(BUY, 50), (SELL, -50), (BUY, 0), (SELL, 0)])
def test_submit_order_when_reducing_and_order_would_grow_the_position_then_denied_reducing_only(
        side, position):
    assert check(trading_state=TRADING_REDUCING, side=side, position=position) == "reducing_only"


@pytest.mark.parametrize("side, position", [(SELL, 5), (BUY, -5)])
def test_submit_order_when_reducing_and_order_would_flip_the_position_then_denied_reducing_only(
        side, position):
    assert check(trading_state=TRADING_REDUCING, side=side, qty=10, position=position) \
        == "reducing_only"


def test_submit_order_when_reducing_and_open_orders_already_close_the_position_then_denied():
    assert check(trading_state=TRADING_REDUCING, side=SELL, qty=10, position=15, open_sell=10) \
        == "reducing_only"


@pytest.mark.parametrize("side, position, open_same_side", [(SELL, 50, 0), (BUY, -50, 0),
                                                             (SELL, 10, 0), (SELL, 30, 20)])
def test_submit_order_when_reducing_and_order_reduces_the_position_then_passes(
        side, position, open_same_side):
    opens = {"open_sell": open_same_side} if side == SELL else {"open_buy": open_same_side}
    assert check(trading_state=TRADING_REDUCING, side=side, qty=10, position=position,
                 **opens) is None


def test_submit_order_when_qty_exceeds_max_order_qty_then_denied_max_qty():
    assert check(qty=101) == "max_qty"
    assert check(qty=100) is None


def test_submit_order_when_notional_exceeds_max_notional_then_denied_max_notional():
    assert check(qty=10, max_notional=10 * MID - 1) == "max_notional"
    assert check(qty=10, max_notional=10 * MID) is None


@pytest.mark.parametrize("limit_px", [MID * 10501 // 10000, MID * 9499 // 10000, 2 * MID])
def test_submit_order_when_limit_is_outside_the_price_band_then_denied_price_band(limit_px):
    assert check(limit_px=limit_px, band_bps=500, max_notional=10**18) == "price_band"


@pytest.mark.parametrize("limit_px", [MID * 105 // 100, MID * 95 // 100])
def test_submit_order_when_limit_is_on_the_price_band_edge_then_passes(limit_px):
    assert check(limit_px=limit_px, band_bps=500) is None


def test_submit_order_when_the_symbol_has_no_mid_yet_then_denied_no_market():
    assert check(mid_px=0) == "no_market"


def test_submit_buy_when_position_and_open_buys_would_pass_the_limit_then_denied_position_limit():
    assert check(side=BUY, qty=10, position=150, open_buy=45, max_position=200) == "position_limit"
    assert check(side=BUY, qty=10, position=150, open_buy=40, max_position=200) is None
    assert check(side=BUY, qty=10, position=150, open_sell=45, max_position=200) is None


def test_submit_sell_when_position_and_open_sells_would_pass_the_limit_then_denied_position_limit():
    assert check(side=SELL, qty=10, position=-150, open_sell=45, max_position=200) \
        == "position_limit"
    assert check(side=SELL, qty=10, position=-150, open_sell=40, max_position=200) is None
    assert check(side=SELL, qty=10, position=-150, open_buy=45, max_position=200) is None


def test_submit_buy_when_short_past_the_limit_then_a_reducing_buy_passes():
    assert check(side=BUY, qty=10, position=-250, max_position=200) is None


class SendLog:
    """The risk worker's rolling record of send times (workers/risk/agent.py), `limit` entries."""

    def __init__(self, limit):
        self.times = np.zeros(limit, dtype=np.int64)
        self.count = 0

    def submit(self, now_ns):
        """Check one order at now_ns; record it as sent if it passes. Returns the reason or None."""
        reason = check(now_ns=now_ns, send_times=self.times, sent_count=self.count)
        if reason is None:
            self.times[self.count % len(self.times)] = now_ns
            self.count += 1
        return reason


def test_submit_order_when_limit_plus_one_orders_come_within_a_second_then_denied_rate_limit():
    log = SendLog(limit=3)
    start = 10 * ONE_SECOND_NS
    assert [log.submit(start + i * 100_000_000) for i in range(3)] == [None, None, None]
    assert log.submit(start + 900_000_000) == "rate_limit"
    assert log.submit(start + ONE_SECOND_NS - 1) == "rate_limit"


def test_submit_order_when_a_second_has_passed_since_the_oldest_send_then_passes():
    log = SendLog(limit=3)
    start = 10 * ONE_SECOND_NS
    for i in range(3):
        assert log.submit(start + i * 100_000_000) is None
    assert log.submit(start + ONE_SECOND_NS) is None
    # The window rolls: the second send (start + 0.1 s) is now the oldest of the last three.
    assert log.submit(start + ONE_SECOND_NS + 50_000_000) == "rate_limit"
    assert log.submit(start + ONE_SECOND_NS + 100_000_000) is None


def test_check_rate_when_fewer_orders_than_the_limit_were_ever_sent_then_passes():
    assert check_rate(5, np.zeros(3, dtype=np.int64), 2) == NO_REJECT


# From an order that breaks every check, removing one breach at a time reveals the next
# reason in check_order's fixed order.
EVERY_BREACH = [
    ("halted", dict(trading_state=TRADING_HALTED)),
    ("max_qty", dict(qty=150)),
    ("max_notional", dict(max_notional=1)),
    ("price_band", dict(limit_px=2 * MID)),
    ("position_limit", dict(position=200)),
    ("rate_limit", dict(send_times=np.full(3, 50 * ONE_SECOND_NS - 1), sent_count=3)),
]


def test_check_order_when_several_checks_fail_then_the_first_in_order_is_returned():
    for index, (expected, _) in enumerate(EVERY_BREACH):
        breaches = {key: value for _, change in EVERY_BREACH[index:] for key, value in change.items()}
        assert check(**breaches) == expected
    assert check(trading_state=TRADING_REDUCING, qty=150, mid_px=0) == "reducing_only"
    assert check(mid_px=0, position=200) == "no_market"



def test_notional_limits_when_instruments_differ_then_each_is_the_currency_limit_in_its_units():
    from tickpipe.engine.config import load_config, notional_limits
    config = load_config(overrides={"risk": {"max_notional": 50_000.0}})
    config["instruments"] = [
        {"name": "A", "tick_size": 100, "lot_size": 1, "multiplier": 1.0, "currency": "USD"},
        {"name": "ES", "tick_size": 2500, "lot_size": 1, "multiplier": 50.0, "currency": "USD"},
        {"name": "B", "tick_size": 100, "lot_size": 10, "multiplier": 1.0, "currency": "EUR"}]
    limits = notional_limits(config)
    # qty x price (price units) <= 50,000 currency: 50,000 x 10,000 / (lot_size x multiplier)
    assert limits.tolist() == [500_000_000, 10_000_000, 50_000_000]


# ---- the checks resting orders and P&L allow (each returns its reason alone) ----------

def name(reason):
    return None if reason == NO_REJECT else REJECT_NAMES[reason]


@pytest.mark.parametrize("open_orders, max_open, expected", [
    (0, 1, None), (4, 5, None), (5, 5, "max_open_orders"), (9, 5, "max_open_orders")])
def test_check_max_open_orders_when_the_symbol_has_that_many_working_then_as_expected(
        open_orders, max_open, expected):
    assert name(check_max_open_orders(open_orders, max_open)) == expected


@pytest.mark.parametrize("gross, order_value, expected", [
    (0.0, 999.0, None), (500.0, 500.0, None), (500.0, 500.01, "gross_exposure")])
def test_check_gross_exposure_when_the_order_would_take_it_past_the_limit_then_denied(
        gross, order_value, expected):
    assert name(check_gross_exposure(gross, order_value, 1000.0)) == expected


@pytest.mark.parametrize("pnl, expected", [(10.0, None), (-99.99, None), (-100.0, "daily_loss"),
                                           (-250.0, "daily_loss")])
def test_check_daily_loss_when_the_running_pnl_has_lost_the_limit_then_denied(pnl, expected):
    assert name(check_daily_loss(pnl, 100.0)) == expected


@pytest.mark.parametrize("pnl, peak, expected", [(50.0, 100.0, None), (50.0, 149.9, None),
                                                 (50.0, 150.0, "drawdown"),
                                                 (-100.0, 0.0, "drawdown"), (-60.0, 0.0, None)])
def test_check_drawdown_when_the_pnl_is_that_far_below_its_peak_then_denied(pnl, peak, expected):
    assert name(check_drawdown(pnl, peak, 100.0)) == expected


LAST = dict(last_side=BUY, last_px=MID, last_qty=10, last_ns=1_000)


@pytest.mark.parametrize("changes, expected", [
    ({}, "duplicate_order"),
    ({"side": SELL}, None), ({"limit_px": MID + 1}, None), ({"qty": 11}, None),
    ({"now_ns": 1_000 + 5_000}, None),           # the window has passed
    ({"last_ns": 0, "now_ns": 10}, None),        # no order before
])
def test_check_duplicate_when_the_same_order_comes_within_the_window_then_denied(changes,
                                                                                  expected):
    args = {**LAST, "side": BUY, "limit_px": MID, "qty": 10, "now_ns": 1_000 + 4_999,
            "window_ns": 5_000, **changes}
    assert name(check_duplicate(*args.values())) == expected


@pytest.mark.parametrize("side, qty, position, expected", [
    (SELL, 10, 15, True), (SELL, 15, 15, True), (SELL, 16, 15, False), (BUY, 5, 15, False),
    (BUY, 5, -5, True), (BUY, 5, 0, False)])
def test_reduces_position_when_an_order_only_shrinks_the_position_then_true(side, qty, position,
                                                                           expected):
    assert reduces_position(side, qty, position) == expected


@pytest.mark.parametrize("qty", [0, -5])
def test_submit_order_when_qty_is_not_a_whole_positive_lot_then_denied_bad_qty(qty):
    assert check(qty=qty) == "bad_qty"


@pytest.mark.parametrize("limit_px", [MID + 1, MID - PRICE_SCALE // 100 + 7])
def test_submit_order_when_price_is_off_the_tick_grid_then_denied_off_tick(limit_px):
    assert check(limit_px=limit_px) == "off_tick"


def test_submit_order_when_price_is_on_the_tick_grid_then_not_denied_off_tick():
    assert check(limit_px=MID + 3 * (PRICE_SCALE // 100)) is None
