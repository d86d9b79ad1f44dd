"""The callbacks a strategy leaves out: each does nothing.

engine/strategy_entries.py (the template) imports these; the copy generated for a
strategy (engine/runner_gen.py) binds the strategy's own in their place, and the
runner calls none for a callback the strategy leaves out (engine/callback_abi.py).
"""

from numba import njit


@njit(cache=True, _nrt=False, inline="always")
def on_quote(ctx, state, params, quote):
    pass


@njit(cache=True, _nrt=False, inline="always")
def on_trade(ctx, state, params, trade):
    pass


@njit(cache=True, _nrt=False, inline="always")
def on_fill(ctx, state, params, report):
    pass


@njit(cache=True, _nrt=False, inline="always")
def on_timer(ctx, state, params, now_ns):
    pass
