"""A user's mixed strategy, per symbol: twelve resting orders far from the touch on
both sides that live long (now and then one is moved), and four working
slots cycled one a quote: a new resting order (with its neighbour, on the other
side, when that one is free too), an IOC at the touch now and then, a replace
across the market (it fills), a replace behind the touch, a cancel.
Its state counts what it was given."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"every": 4, "order_qty": 2, "anchor_bps": 200}

STATE = np.dtype([
    ("quotes", np.int64),
    ("trades", np.int64),
    ("reports", np.int64),
    ("filled_qty", np.int64),
    ("position", np.int64),
    ("sent", np.int64),           # requests sent (new, cancel, replace)
    ("step", np.int64),
    ("orders", np.int64, (4,)),   # working slots: order ids, 0 when free
    ("sides", np.int64, (4,)),    # their sides
    ("anchors", np.int64, (12,)),  # far resting orders
])


@njit
def _live(ctx, order_id):
    if order_id <= 0:
        return False
    status = tp.order_status(ctx, order_id)
    return status != tp.STATUS_NONE and not tp.is_final(status)


@njit
def _settled(ctx, order_id):
    status = tp.order_status(ctx, order_id)
    return status == tp.STATUS_NEW or status == tp.STATUS_PARTIALLY_FILLED or \
        status == tp.STATUS_REPLACED


@njit
def _away(quote, tick, side, ticks):
    return quote.bid_px - ticks * tick if side == tp.BUY else quote.ask_px + ticks * tick


@njit
def _place(ctx, state, params, quote, k):
    tick = tp.tick_size(ctx)
    side = tp.BUY if k % 2 == 0 else tp.SELL
    placed = tp.place(ctx, side, params.order_qty, _away(quote, tick, side, 1 + k), tp.GTC)
    if placed > 0:
        state.orders[k] = placed
        state.sides[k] = side
        state.sent += 1


@njit
def _anchor(ctx, state, params, quote, j):
    """Keep anchor j resting far away: place it, or now and then move it (same id)."""
    tick = tp.tick_size(ctx)
    side = tp.BUY if j % 2 == 0 else tp.SELL
    # inside risk's price band (500 bps of the mid): the feed's mid wanders far
    ticks = quote.bid_px * params.anchor_bps // 10_000 // tick + 2 * j + state.step % 3
    if not _live(ctx, state.anchors[j]):
        placed = tp.place(ctx, side, 1, _away(quote, tick, side, ticks), tp.GTC)
        if placed > 0:
            state.anchors[j] = placed
            state.sent += 1
    elif _settled(ctx, state.anchors[j]):
        if tp.replace(ctx, state.anchors[j], tp.order_filled(ctx, state.anchors[j]) + 1,
                      _away(quote, tick, side, ticks)) == tp.SENT:
            state.sent += 1


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.quotes % params.every != 0 or not tp.can_trade(ctx):
        return
    tick = tp.tick_size(ctx)
    state.step += 1
    if state.step % 16 == 0:
        j = (state.step // 16) % 64
        if j < 12:  # each anchor looked after once in 64 such steps: they live long
            _anchor(ctx, state, params, quote, j)
        return
    k = state.step % 4
    order_id = state.orders[k]
    if not _live(ctx, order_id):
        if state.step % 7 == 0:     # an IOC now and then, towards flat
            if state.position > 0:
                sent = tp.sell(ctx, params.order_qty, quote.bid_px)
            else:
                sent = tp.buy(ctx, params.order_qty, quote.ask_px)
            if sent > 0:  # the IOC's order id
                state.sent += 1
            return
        _place(ctx, state, params, quote, k)
        n = (k + 1) % 4
        if not _live(ctx, state.orders[n]):
            _place(ctx, state, params, quote, n)
        return
    if not _settled(ctx, order_id):
        return
    buy = state.sides[k] == tp.BUY
    filled = tp.order_filled(ctx, order_id)
    if state.step % 3 == 0:
        if tp.cancel(ctx, order_id) == tp.SENT:
            state.sent += 1
    elif state.step % 3 == 1:   # across the market: takes at the touch
        px = quote.ask_px + tick if buy else quote.bid_px - tick
        if tp.replace(ctx, order_id, filled + params.order_qty + 1, px) == tp.SENT:
            state.sent += 1
    else:
        px = quote.bid_px - (1 + k) * tick if buy else quote.ask_px + (1 + k) * tick
        if tp.replace(ctx, order_id, filled + params.order_qty, px) == tp.SENT:
            state.sent += 1


@njit
def on_trade(ctx, state, params, trade):
    state.trades += 1


@njit
def on_fill(ctx, state, params, report):
    state.reports += 1
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.filled_qty += report.last_qty
        state.position += report.side * report.last_qty
