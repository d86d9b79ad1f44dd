"""A strategy's callbacks as the strategy runner calls them: one entry each, by address
(engine/callback_abi.py).

This file is a template. For each strategy file, engine/runner_gen.py writes a copy
whose block marked CALLBACKS binds that strategy's callbacks and its STATE and
PARAMS dtypes instead of the no-ops below, so they are module globals of the copy
and numba caches the compiled entries on disk under the copy's name (a digest of the
strategy's files): a second strategy process, a restart or an unchanged file loads
them; an edit compiles these four small functions, not the runner.

An entry rebuilds what the callback is handed from addresses: the context (kept by
the runner), the symbol's state row, the params record and the quote, trade or report
(for on_timer, the time). The callback's own types are what they always were.
"""

import numpy as np
from numba import njit

from tickpipe.engine.callback_abi import (
    CB_ON_FILL, CB_ON_QUOTE, CB_ON_TRADE, CB_PARAMS, CB_STATE, CB_STATE_BYTES,
    context_at, record_at,
)
from tickpipe.shm_layouts.fill import FILL_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE

# ---- CALLBACKS: engine/runner_gen.py puts the strategy's here ----
STATE = PARAMS = np.dtype([("_none", np.int64)])  # the template's own: no callbacks
from tickpipe.engine.strategy_callbacks import on_fill, on_quote, on_timer, on_trade  # noqa: E402
# ---- end of CALLBACKS ----


@njit(cache=True, _nrt=False)
def on_quote_entry(ctx_address, state_address, params_address, quote_address):
    on_quote(context_at(ctx_address), record_at(state_address, STATE),
             record_at(params_address, PARAMS), record_at(quote_address, MARKET_DATA_DTYPE))


@njit(cache=True, _nrt=False)
def on_trade_entry(ctx_address, state_address, params_address, trade_address):
    on_trade(context_at(ctx_address), record_at(state_address, STATE),
             record_at(params_address, PARAMS), record_at(trade_address, MARKET_DATA_DTYPE))


@njit(cache=True, _nrt=False)
def on_fill_entry(ctx_address, state_address, params_address, report_address):
    on_fill(context_at(ctx_address), record_at(state_address, STATE),
            record_at(params_address, PARAMS), record_at(report_address, FILL_DTYPE))


@njit(cache=True, _nrt=False)
def on_timer_entry(ctx_address, state_address, params_address, now_ns):
    on_timer(context_at(ctx_address), record_at(state_address, STATE),
             record_at(params_address, PARAMS), now_ns)


@njit(_nrt=False, inline="always")
def inlined(ctx, which, symbol, argument):
    """engine/strategy_kernels.py's `callback` with this file's callbacks inlined instead of
    called by address: what a strategy's inlined runner is compiled with
    (engine/inline_tier.py). Their arguments are the entries', made the same way, but for
    `ctx`: the runner's own context struct, not a ContextRef (every tp.* function takes
    either); `which` is a constant where the runner calls it, so one branch is left. A callback the
    strategy leaves out is the no-op, inlined to nothing."""
    callbacks = ctx.callbacks
    context = ctx  # the struct itself: its fields stay in registers, nothing to load
    state = record_at(callbacks[CB_STATE] + symbol * callbacks[CB_STATE_BYTES], STATE)
    params = record_at(callbacks[CB_PARAMS], PARAMS)
    if which == CB_ON_QUOTE:
        on_quote(context, state, params, record_at(argument, MARKET_DATA_DTYPE))
    elif which == CB_ON_TRADE:
        on_trade(context, state, params, record_at(argument, MARKET_DATA_DTYPE))
    elif which == CB_ON_FILL:
        on_fill(context, state, params, record_at(argument, FILL_DTYPE))
    else:
        on_timer(context, state, params, argument)
