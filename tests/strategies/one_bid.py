"""A user's strategy for a case worked by hand: on the first quote it can trade, one buy of
`order_qty` lots at the bid, left to rest; it counts what it is told."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"order_qty": 10}

STATE = np.dtype([
    ("sent", np.int64),
    ("fills", np.int64),       # fill reports (partial or full)
    ("filled_qty", np.int64),
    ("quotes", np.int64),
])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.sent == 0 and tp.can_trade(ctx):
        if tp.place(ctx, tp.BUY, params.order_qty, quote.bid_px, tp.GTC) > 0:
            state.sent = 1


@njit
def on_fill(ctx, state, params, report):
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.fills += 1
        state.filled_qty += report.last_qty
