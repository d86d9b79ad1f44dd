"""Watch: it only counts the quotes and trades it sees, and never sends an order. An
engine runs the whole pipeline (a feed, a strategy, risk, a gateway); where the trading
happens elsewhere (a feed engine sending its market data over a bridge: docs/bridges.md)
this is its strategy. `tickpipe inspect` shows its counts."""

import numpy as np
from numba import njit

PARAMS = {}

STATE = np.dtype([
    ("quotes", np.int64),   # quotes seen
    ("trades", np.int64),   # trades seen
])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1


@njit
def on_trade(ctx, state, params, trade):
    state.trades += 1
