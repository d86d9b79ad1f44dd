"""The callbacks a strategy leaves out: each does nothing.

engine/strategy_kernels.py imports these; the runner generated for a strategy
(engine/runner_gen.py) binds the strategy's own in their place.
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
