"""A user's taker: every `every`th quote of a symbol, an IOC at the touch that brings
its position back towards zero. Its state counts what it was given (for the checks)."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"every": 8, "order_qty": 3}

STATE = np.dtype([
    ("quotes", np.int64),       # on_quote calls
    ("reports", np.int64),      # on_fill calls
    ("filled_qty", np.int64),   # lots filled, both sides
    ("position", np.int64),     # signed lots, from its own fills
    ("sent", np.int64),         # requests it sent
])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.quotes % params.every != 0 or not tp.can_trade(ctx):
        return
    if state.position > 0:
        sent = tp.sell(ctx, params.order_qty, quote.bid_px)
    else:
        sent = tp.buy(ctx, params.order_qty, quote.ask_px)
    if sent > 0:
        state.sent += 1


@njit
def on_fill(ctx, state, params, report):
    state.reports += 1
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.filled_qty += report.last_qty
        state.position += report.side * report.last_qty
