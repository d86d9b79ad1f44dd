"""The feed engine's strategy: it only counts what it sees. An engine runs the whole
pipeline (a feed, a strategy, risk, a gateway); on the feed's host the trading happens
elsewhere, so this one watches (`tickpipe inspect feed-host` shows its counts)."""

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
