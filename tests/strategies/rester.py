"""A user's quoter: one resting order per symbol, placed a few ticks behind the touch
on the side that brings its position back; every `every`th quote it moves the order:
to a new price behind the touch, across the market (it fills at once), or away with a
cancel. A finished order is followed by a new one. Its state counts what it was given."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"every": 6, "order_qty": 4, "behind_ticks": 2}

STATE = np.dtype([
    ("quotes", np.int64),
    ("reports", np.int64),
    ("filled_qty", np.int64),
    ("position", np.int64),
    ("sent", np.int64),
    ("order_id", np.int64),     # the resting order, 0 when none
    ("moves", np.int64),        # replaces and cancels asked for
    ("side", np.int64),         # the resting order's side
])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.quotes % params.every != 0 or not tp.can_trade(ctx):
        return
    tick = tp.tick_size(ctx)
    status = tp.order_status(ctx, state.order_id) if state.order_id > 0 else tp.STATUS_NONE
    if state.order_id <= 0 or tp.is_final(status) or status == tp.STATUS_NONE:
        side = tp.SELL if state.position > 0 else tp.BUY
        px = quote.bid_px - params.behind_ticks * tick if side == tp.BUY else \
            quote.ask_px + params.behind_ticks * tick
        order_id = tp.place(ctx, side, params.order_qty, px, tp.GTC)
        if order_id > 0:
            state.order_id = order_id
            state.side = side
            state.sent += 1
        return
    if not tp.is_working(status) or status == tp.STATUS_PENDING_CANCEL or \
            status == tp.STATUS_PENDING_REPLACE:
        return
    state.moves += 1
    filled = tp.order_filled(ctx, state.order_id)
    buy = state.side == tp.BUY
    step = state.moves % 3
    if step == 0:
        if tp.cancel(ctx, state.order_id) == tp.SENT:
            state.sent += 1
        return
    if step == 1:       # across the market: takes at the touch
        px = quote.ask_px + tick if buy else quote.bid_px - tick
    else:               # a new place behind the touch
        px = quote.bid_px - params.behind_ticks * tick if buy else \
            quote.ask_px + params.behind_ticks * tick
    if tp.replace(ctx, state.order_id, filled + params.order_qty, px) == tp.SENT:
        state.sent += 1


@njit
def on_fill(ctx, state, params, report):
    state.reports += 1
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.filled_qty += report.last_qty
        state.position += report.side * report.last_qty
