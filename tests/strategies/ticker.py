"""A user's strategy for the timer's tests: on every timer firing, one IOC buy 50 ticks
under the last bid seen (never filled: the venue cancels its rest), so each firing is
one intent, stamped with the firing's time."""

import numpy as np
from numba import njit

import tickpipe as tp

TIMER_MS = 100

STATE = np.dtype([("bid", np.int64)])


@njit
def on_quote(ctx, state, params, quote):
    state.bid = quote.bid_px


@njit
def on_timer(ctx, state, params, now_ns):
    if state.bid > 0 and tp.can_trade(ctx):
        tp.send_order(ctx, tp.BUY, 1, state.bid - 50 * tp.tick_size(ctx), tp.IOC)
