"""The strategy `tickpipe bench chaos` runs: a user's plug-in (loaded by path, as a
user's file is) whose per-symbol state counts everything it is given, so that after
a run with kills its state can be checked against the engine's own counts: each
quote, trade and report applied to the state once, however often it was killed.

It also trades, steadily, so that orders and fills flow: every `every`th quote of a
symbol it sends an IOC at the touch that brings its position back towards zero.
"""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"every": 16, "order_qty": 5}

STATE = np.dtype([
    ("quotes", np.int64),       # on_quote calls
    ("trades", np.int64),       # on_trade calls
    ("reports", np.int64),      # on_fill calls
    ("filled_qty", np.int64),   # lots filled, both sides
    ("position", np.int64),     # signed lots, from its own fills
    ("sent", np.int64),         # orders it sent
])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.quotes % params.every != 0 or tp.order_in_flight(ctx):
        return
    if state.position > 0:
        sent = tp.sell(ctx, params.order_qty, quote.bid_px)
    else:
        sent = tp.buy(ctx, params.order_qty, quote.ask_px)
    if sent > 0:
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
