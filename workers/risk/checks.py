"""Pre-trade checks: each returns NO_REJECT (-1) or a REJECT_* reason code.

One small jitted function per check, so each denial reason has its own test
(tests/test_risk_checks.py). `check_order` runs them in a fixed order and
returns the first reason.
"""

from numba import njit

from tickpipe.shm_layouts.control_block import (
    REJECT_CLOSING, REJECT_DAILY_LOSS, REJECT_DRAWDOWN, REJECT_DUPLICATE, REJECT_GROSS_EXPOSURE, REJECT_HALTED,
    REJECT_MAX_NOTIONAL, REJECT_MAX_OPEN_ORDERS, REJECT_MAX_QTY, REJECT_NO_MARKET,
    REJECT_BAD_QTY, REJECT_OFF_TICK, REJECT_POSITION_LIMIT, REJECT_PRICE_BAND, REJECT_RATE_LIMIT,
    REJECT_REDUCING,
    REJECT_STRATEGY_POSITION_LIMIT, TRADING_HALTED, TRADING_REDUCING,
)

NO_REJECT = -1
ONE_SECOND_NS = 1_000_000_000


TRADING_CLOSING = 0  # not a trading state of the control block: risk's own while it stops


@njit(cache=True)
def check_trading_state(trading_state, side, qty, position, open_same_side):
    """HALTED: nothing. REDUCING: only orders that shrink |position| without flipping it.
    TRADING_CLOSING (the engine is stopping): nothing, said so."""
    if trading_state == TRADING_CLOSING:
        return REJECT_CLOSING
    if trading_state == TRADING_HALTED:
        return REJECT_HALTED
    if trading_state == TRADING_REDUCING:
        if side * position >= 0 or qty + open_same_side > abs(position):
            return REJECT_REDUCING
    return NO_REJECT


@njit(cache=True)
def check_order_shape(qty, limit_px, tick_size):
    """A quantity of at least one whole lot, a price on the instrument's tick grid: what
    the venue would reject anyway, denied before it sees it (and counted here)."""
    if qty <= 0:
        return REJECT_BAD_QTY
    if limit_px <= 0 or limit_px % tick_size != 0:
        return REJECT_OFF_TICK
    return NO_REJECT


@njit(cache=True)
def check_max_qty(qty, max_qty):
    return REJECT_MAX_QTY if qty > max_qty else NO_REJECT


@njit(cache=True)
def check_max_notional(qty, limit_px, max_notional):
    return REJECT_MAX_NOTIONAL if qty * limit_px > max_notional else NO_REJECT


@njit(cache=True)
def check_price_band(limit_px, mid_px, band_bps):
    """Fat finger: the limit must lie within band_bps of the last mid (no mid: no market)."""
    if mid_px <= 0:
        return REJECT_NO_MARKET
    if abs(limit_px - mid_px) * 10_000 > band_bps * mid_px:
        return REJECT_PRICE_BAND
    return NO_REJECT


@njit(cache=True)
def check_position_limit(side, qty, position, open_buy, open_sell, max_position):
    """Worst case: the position if every open order on this side and this one fill."""
    if side > 0 and position + open_buy + qty > max_position:
        return REJECT_POSITION_LIMIT
    if side < 0 and position - open_sell - qty < -max_position:
        return REJECT_POSITION_LIMIT
    return NO_REJECT


@njit(cache=True)
def check_strategy_position_limit(side, qty, position, open_buy, open_sell, max_position):
    """The strategy's own limit, worst case as check_position_limit: its position if all
    its open orders on this side and this one fill."""
    if check_position_limit(side, qty, position, open_buy, open_sell, max_position) != NO_REJECT:
        return REJECT_STRATEGY_POSITION_LIMIT
    return NO_REJECT


@njit(cache=True)
def check_max_open_orders(open_orders, max_open):
    """A new order may not make the symbol's working orders exceed max_open."""
    return REJECT_MAX_OPEN_ORDERS if open_orders + 1 > max_open else NO_REJECT


@njit(cache=True)
def check_gross_exposure(gross, order_value, max_gross):
    """Sum of |position x mid| and open orders, plus this order's value, within
    max_gross (all in currency)."""
    return REJECT_GROSS_EXPOSURE if gross + order_value > max_gross else NO_REJECT


@njit(cache=True)
def check_daily_loss(pnl, max_loss):
    """The running P&L (realised + marked - fees, currency) has not lost max_loss."""
    return REJECT_DAILY_LOSS if pnl <= -max_loss else NO_REJECT


@njit(cache=True)
def check_drawdown(pnl, peak, max_drawdown):
    """The running P&L is less than max_drawdown below its peak."""
    return REJECT_DRAWDOWN if peak - pnl >= max_drawdown else NO_REJECT


@njit(cache=True)
def check_duplicate(last_side, last_px, last_qty, last_ns, side, limit_px, qty, now_ns,
                    window_ns):
    """Not the same side, price and qty as the strategy's last order in the symbol
    within window_ns (a strategy stuck in a loop sends the same order again)."""
    if last_ns > 0 and side == last_side and limit_px == last_px and qty == last_qty and \
            now_ns - last_ns < window_ns:
        return REJECT_DUPLICATE
    return NO_REJECT


@njit(cache=True)
def reduces_position(side, qty, position):
    """The order only shrinks |position| (it does not flip it)."""
    return side * position < 0 and qty <= abs(position)


@njit(cache=True)
def check_rate(now_ns, send_times, sent_count):
    """At most len(send_times) orders in any rolling second: the one that many sends
    ago must be more than a second old."""
    limit = send_times.shape[0]
    if sent_count >= limit and now_ns - send_times[sent_count % limit] < ONE_SECOND_NS:
        return REJECT_RATE_LIMIT
    return NO_REJECT


@njit(cache=True)
def check_order(trading_state, side, qty, limit_px, mid_px, position, open_buy, open_sell,
                now_ns, send_times, sent_count, max_qty, max_notional, band_bps, max_position,
                tick_size):
    """All checks in order; the first reason, or NO_REJECT."""
    open_same_side = open_buy if side > 0 else open_sell
    reason = check_trading_state(trading_state, side, qty, position, open_same_side)
    if reason != NO_REJECT:
        return reason
    reason = check_order_shape(qty, limit_px, tick_size)
    if reason != NO_REJECT:
        return reason
    reason = check_max_qty(qty, max_qty)
    if reason != NO_REJECT:
        return reason
    reason = check_max_notional(qty, limit_px, max_notional)
    if reason != NO_REJECT:
        return reason
    reason = check_price_band(limit_px, mid_px, band_bps)
    if reason != NO_REJECT:
        return reason
    reason = check_position_limit(side, qty, position, open_buy, open_sell, max_position)
    if reason != NO_REJECT:
        return reason
    return check_rate(now_ns, send_times, sent_count)
