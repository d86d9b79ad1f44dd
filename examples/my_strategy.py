"""EMA cross: buy when the fast EMA of the mid crosses above the slow one, sell when it
crosses below. A complete tickpipe strategy: params, per-symbol state, two callbacks."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"fast": 0.2, "slow": 0.02, "warmup": 50, "order_qty": 5, "max_position": 50}

STATE = np.dtype([
    ("fast_ema", np.float64),   # price units
    ("slow_ema", np.float64),
    ("quotes", np.int64),       # quotes seen
    ("fills", np.int64),        # fills received
    ("filled_qty", np.int64),   # lots filled, both sides
])


def check_params(params):
    if not 0 < params["slow"] < params["fast"] <= 1:
        return f"params fast = {params['fast']}, slow = {params['slow']}: need 0 < slow < fast <= 1"
    return None


@njit
def on_quote(ctx, state, params, quote):
    mid = (quote.bid_px + quote.ask_px) / 2
    if state.quotes == 0:
        state.fast_ema = mid
        state.slow_ema = mid
    was_above = state.fast_ema > state.slow_ema
    state.fast_ema += params.fast * (mid - state.fast_ema)
    state.slow_ema += params.slow * (mid - state.slow_ema)
    state.quotes += 1
    if state.quotes < params.warmup or tp.order_in_flight(ctx):
        return
    is_above = state.fast_ema > state.slow_ema
    if is_above and not was_above and tp.position(ctx) < params.max_position:
        tp.buy(ctx, params.order_qty, quote.ask_px)
    elif was_above and not is_above and tp.position(ctx) > -params.max_position:
        tp.sell(ctx, params.order_qty, quote.bid_px)


@njit
def on_fill(ctx, state, params, report):
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.fills += 1
        state.filled_qty += report.last_qty
