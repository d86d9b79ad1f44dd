"""A user's strategy whose orders follow from the quotes alone (not from fills, timers or
the clock): every `every`th quote of a symbol, a buy of 1 lot `below` ticks under the
bid, left to rest. Live and in a backtest of the same quotes it sends the same orders,
in the same order (tests/test_backtest.py, parity)."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"every": 25, "below": 5}

STATE = np.dtype([("quotes", np.int64), ("sent", np.int64)])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if state.quotes % params.every == 0:
        px = quote.bid_px - params.below * tp.tick_size(ctx)
        if tp.place(ctx, tp.BUY, 1, px, tp.GTC) > 0:
            state.sent += 1
