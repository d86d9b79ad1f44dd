"""Mean reversion on the mid, by z-score over a rolling window (the default strategy).

When a symbol's mid is `entry_z` standard deviations above its rolling mean it
sells at the bid, below it buys at the ask (IOC), while its position stays
within `max_position`, one order in flight per symbol at a time.

The rolling window lives in STATE, in shared memory: `tickpipe inspect` shows it,
and a restarted strategy process resumes with it exactly as committed.
"""

import math

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {
    "window": 64,          # mids in the rolling window, ticks
    "entry_z": 2.0,        # z-score that triggers an order
    "order_qty": 10,       # lots per order
    "max_position": 100,   # stop adding past this, lots
}


def check_params(params):
    if not 2 <= params["window"] <= 1000:  # a state row holds the window: 8 KiB at most
        return f"param window = {params['window']}: must be from 2 to 1000"
    if not params["entry_z"] >= 0:
        return f"param entry_z = {params['entry_z']}: must be >= 0"
    if not params["order_qty"] >= 1:
        return f"param order_qty = {params['order_qty']}: must be >= 1"
    return None


def STATE(params):
    return np.dtype([
        ("filled", np.int64),        # mids in the window so far (<= window)
        ("cursor", np.int64),        # where the next mid goes
        ("total", np.float64),       # sum of the window, price units
        ("total_sq", np.float64),    # sum of squares
        ("mids", np.float64, (params["window"],)),  # the window, price units
    ])


@njit
def push(state, value):
    """Add `value` to the window; the number of values it holds."""
    size = state.mids.shape[0]
    slot = state.cursor
    if state.filled == size:
        old = state.mids[slot]
        state.total -= old
        state.total_sq -= old * old
    else:
        state.filled += 1
    state.mids[slot] = value
    state.total += value
    state.total_sq += value * value
    state.cursor = slot + 1 if slot + 1 < size else 0
    return state.filled


@njit
def signal(value, total, total_sq, size, entry_z, position, max_position):
    """+1 buy, -1 sell or 0 from the z-score of `value` in its window."""
    mean = total / size
    variance = total_sq / size - mean * mean
    if variance <= 0.0:
        return 0
    z = (value - mean) / math.sqrt(variance)
    if z >= entry_z and position > -max_position:
        return -1
    if z <= -entry_z and position < max_position:
        return 1
    return 0


@njit
def on_quote(ctx, state, params, quote):
    mid = float((quote.bid_px + quote.ask_px) // 2)
    if push(state, mid) < state.mids.shape[0] or tp.order_in_flight(ctx):
        return
    side = signal(mid, state.total, state.total_sq, state.mids.shape[0], params.entry_z,
                  tp.position(ctx), params.max_position)
    if side > 0:
        tp.buy(ctx, params.order_qty, quote.ask_px)
    elif side < 0:
        tp.sell(ctx, params.order_qty, quote.bid_px)
