"""A strategy `tickpipe bench chaos` runs beside bench/chaos_strategy.py: a user's
plug-in (loaded by path) that sends orders of every kind, so that every request and
report path is under the kills: resting orders (GTC), IOCs, replaces (behind the
touch, and across the market: they fill at once), cancels.

Per symbol, one quote in `every`: twelve orders followed by slot. Slots 0-3 are
worked: a new resting order (with its neighbour on the other side when that one is
free too), an IOC towards flat now and then, a replace across the market, a
replace behind the touch, a cancel. Slots 4-11 rest far from the touch and live
long (one is moved now and then): their rows stay taken in the order table, so
new orders' rows are found by probing past them (the lookups issue #18 was about).

Its state counts what it was given, as chaos_strategy.py's does (the bench checks
each count against the engine's), and for each order it follows, the lots its
fills brought (the bench checks them against the order table's cum_qty).
"""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"every": 4, "order_qty": 2, "anchor_bps": 200}
SLOTS = 12          # 0-3 worked, 4-11 far away
WORKED = 4

STATE = np.dtype([
    ("quotes", np.int64),           # on_quote calls
    ("trades", np.int64),           # on_trade calls
    ("reports", np.int64),          # on_fill calls
    ("filled_qty", np.int64),       # lots filled, both sides
    ("position", np.int64),         # signed lots, from its own fills
    ("sent", np.int64),             # requests it sent: new, cancel, replace
    ("step", np.int64),             # quotes acted on
    ("ids", np.int64, (SLOTS,)),    # the order each slot follows, 0: none yet
    ("filled", np.int64, (SLOTS,)),  # lots its fills brought, by slot
])


@njit
def _live(ctx, order_id):
    if order_id <= 0:
        return False
    status = tp.order_status(ctx, order_id)
    return status != tp.STATUS_NONE and not tp.is_final(status)


@njit
def _settled(ctx, order_id):
    """Working with no request of ours pending: it may be cancelled or replaced."""
    status = tp.order_status(ctx, order_id)
    return status == tp.STATUS_NEW or status == tp.STATUS_PARTIALLY_FILLED or \
        status == tp.STATUS_REPLACED


@njit
def _side(j):
    return tp.BUY if j % 2 == 0 else tp.SELL


@njit
def _away(quote, tick, side, ticks):
    return quote.bid_px - ticks * tick if side == tp.BUY else quote.ask_px + ticks * tick


@njit
def _place(ctx, state, quote, j, qty, ticks):
    placed = tp.place(ctx, _side(j), qty, _away(quote, tp.tick_size(ctx), _side(j), ticks),
                      tp.GTC)
    if placed > 0:
        state.ids[j] = placed
        state.filled[j] = 0
        state.sent += 1


@njit
def _far(ctx, state, params, quote, j):
    """Slot j (4-11) rests far away: placed, or moved to another far price (same id).
    Inside risk's price band (500 bps of the mid) however far the mid has wandered."""
    ticks = quote.bid_px * params.anchor_bps // 10_000 // tp.tick_size(ctx) + j + state.step % 3
    if not _live(ctx, state.ids[j]):
        _place(ctx, state, quote, j, 1, ticks)
    elif _settled(ctx, state.ids[j]):
        px = _away(quote, tp.tick_size(ctx), _side(j), ticks)
        if tp.replace(ctx, state.ids[j], tp.order_filled(ctx, state.ids[j]) + 1, px) == tp.SENT:
            state.sent += 1


@njit
def _work(ctx, state, params, quote, j):
    """Slot j (0-3): place, IOC, replace across or behind the touch, or cancel."""
    tick = tp.tick_size(ctx)
    order_id = state.ids[j]
    if not _live(ctx, order_id):
        if state.step % 7 == 0:     # an IOC towards flat now and then
            if state.position > 0:
                sent = tp.sell(ctx, params.order_qty, quote.bid_px)
            else:
                sent = tp.buy(ctx, params.order_qty, quote.ask_px)
            if sent > 0:            # the IOC's order id
                state.sent += 1
            return
        _place(ctx, state, quote, j, params.order_qty, 1 + j)
        n = (j + 1) % WORKED        # its neighbour on the other side: the next request
        if not _live(ctx, state.ids[n]):
            _place(ctx, state, quote, n, params.order_qty, 1 + n)
        return
    if not _settled(ctx, order_id):
        return
    buy = _side(j) == tp.BUY
    filled = tp.order_filled(ctx, order_id)
    move = state.step % 3
    if move == 0:
        if tp.cancel(ctx, order_id) == tp.SENT:
            state.sent += 1
        return
    if move == 1:       # across the market: takes at the touch
        px = quote.ask_px + tick if buy else quote.bid_px - tick
        qty = filled + params.order_qty + 1
    else:               # behind the touch again
        px = quote.bid_px - (1 + j) * tick if buy else quote.ask_px + (1 + j) * tick
        qty = filled + params.order_qty
    if tp.replace(ctx, order_id, qty, px) == tp.SENT:
        state.sent += 1


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.quotes % params.every != 0 or not tp.can_trade(ctx):
        return
    state.step += 1
    if state.step % 16 == 0:
        j = WORKED + (state.step // 16) % 64
        if j < SLOTS:   # each far slot looked after once in 64 such steps: they live long
            _far(ctx, state, params, quote, j)
        return
    _work(ctx, state, params, quote, state.step % WORKED)


@njit
def on_trade(ctx, state, params, trade):
    state.trades += 1


@njit
def on_fill(ctx, state, params, report):
    state.reports += 1
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.filled_qty += report.last_qty
        state.position += report.side * report.last_qty
        # report.order_id is uint64: compared as int64, as `place` returned it (numba
        # would compare an int64 with a uint64 through float64, inexact above 2**53)
        order_id = np.int64(report.order_id)
        for j in range(SLOTS):
            if state.ids[j] == order_id:
                state.filled[j] += report.last_qty
