"""What a strategy's callbacks are handed as `ctx`: the runner's wiring, by name.

One namedtuple of arrays (numba passes it as one struct and caches functions
that take it, since the class is importable from here). Its type is the same for
every strategy (a strategy's STATE and PARAMS records are reached by address:
engine/callback_abi.py), so the runner is compiled once for all of them. A strategy never reads
its fields: it calls the functions of engine/strategy_api.py (re-exported as
`tickpipe.buy`, `tickpipe.position`, ...), which are its whole contract. The
runner (engine/runner.py, through engine/strategy_kernels.py) reads and writes the
fields directly.
"""

from collections import namedtuple

import numpy as np

from tickpipe.engine import batch
from tickpipe.engine.batch import RUNNER_FIELDS
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_FILLS_READ, STRATEGY_INTENTS, STRATEGY_MD_READ,
)

StrategyContext = namedtuple("StrategyContext", [
    "event",          # int64[E_SLOTS]: the event being handled (E_* below)
    "inputs",         # int64[2, HANDLE_SLOTS]: consumer handles: quotes, reports
    "quotes",         # market-data records of the quotes ring
    "reports",        # execution-report records of this strategy's reports ring
    "out",            # int64[HANDLE_SLOTS]: producer handle of the intents ring
    "intents",        # order-intent records of the intents ring
    "positions",      # this strategy's rows of strat_pos: position, in_flight, cash, ...
    "book",           # top-of-book seqlock rows (the feed's)
    "depth",          # the L2 book's seqlock rows (the feed's; row 0 alone when [feed] depth = 1)
    "top",            # int64[4]: scratch for one book read
    "tick_sizes",     # int64[n_symbols]: price increment per symbol
    "subscribed",     # uint8[n_symbols]: 1 for the symbols this strategy trades
    "state_words",    # uint64[n_symbols, words]: the per-symbol state rows in the segment
    "mirror_words",   # uint64[n_symbols, words]: this process's copy, what callbacks edit
    "dirty",          # int64[1 + n_symbols]: [0] = how many rows the batch touched, then which
    "dirty_mark",     # uint8[n_symbols]: 1 for a row in `dirty`
    "txn",            # int64: the open batch (engine/commit.py)
    "undo",           # uint64: the undo entries of its commit log (commit.undo_words)
    "row_words",      # uint64: this worker's row in the worker table
    "idle_state",     # int64: the wait strategy's state (engine/idle.py)
    "histograms",     # uint64[hops, words]
    "control",        # int: address of the control block
    "orders",         # OPEN_ORDER_DTYPE[ORDER_SLOTS]: this process's copy of its order table
    "orders_mirror",  # the same rows as uint64 words
    "orders_words",   # the segment's rows of its order table (strat_orders) as uint64 words
    "orders_dirty",   # int64[1 + ORDER_SLOTS]: rows changed in the batch
    "orders_dirty_mark",  # uint8[ORDER_SLOTS]
    "transitions",    # the order state machine (engine/order_states.py)
    "callbacks",      # int64[CB_SLOTS]: the strategy's callbacks by address, and what
                      # they are handed (engine/callback_abi.py)
    "context_cell",   # uint8[CONTEXT_CELL_BYTES]: where the runner keeps this context
                      # for the callbacks (engine/callback_abi.py)
    "timer",          # int64[4]: T_* below
    "delays",         # int64[2, K]: D_* below, K samples each (a backtest's modelled
                      # latencies, engine/clock.py latency_sample; 0 live)
    "guard",          # int64[G_SLOTS]: the record being handled, on_error's mark and mode
                      # (engine/strategy_guard.py)
] + RUNNER_FIELDS)

# event slots
E_SYMBOL = 0          # the event's symbol: every order a callback sends is for it
E_NOW_NS = 1          # when the runner took the batch (monotonic ns)
E_ORIGIN_NS = 2       # the triggering tick's due time: carried to the order (tick-to-trade)
E_MD_SEQ = 3          # the triggering tick's seq (0 for a report or a timer)
E_ROOM = 4            # intents ring slots claimed for this batch
E_WRITTEN = 5         # intents written in this batch so far
E_SENT = 6            # orders sent by the current callback
E_REF_MID = 7         # the mid of the triggering quote (0 when none)
E_SENT_TOTAL = 8      # orders sent by this process since its start
E_STRATEGY = 10       # this strategy's index: its order ids' bits 48 and up
E_REFUSED_BASE = 11   # [11 + code - 1]: sends refused with REFUSED_<code> in the open batch,
                      # not yet counted (counted with the batch's commit: sync_state)
E_SLOTS = 16


# timer slots
T_INTERVAL_NS = 0     # the plug-in's TIMER_MS in ns (0: no timer)
T_NEXT_NS = 1         # when it fires next (0: not started)
T_CURSOR = 2          # the next symbol of a firing in progress, -1 when none
T_FIRED_NS = 3        # the firing's time: every symbol's on_timer gets it

# delay rows: how long after its time a record reaches the strategy, modelled. 0 in a
# live engine (the real latency is there already); a backtest's --feed-latency-us and
# --report-latency-us, or samples of a recorded distribution (engine/backtest.py): a
# quote is due at origin_ns + its sample of D_FEED_NS, a report at publish_ns + its
# sample of D_REPORT_NS, and waits (with those behind it) until then.
D_FEED_NS = 0
D_REPORT_NS = 1


def new_event() -> np.ndarray:
    return np.zeros(E_SLOTS, dtype=np.int64)


def runner_fields(event: np.ndarray, out: np.ndarray, timer_ns: int) -> dict:
    """The fields the runner drives a strategy by: one output (the intents ring, whose
    written and room are the event's E_WRITTEN and E_ROOM, which the API checks), two
    inputs (quotes, then reports; reports are read while waiting for room, with sends
    refused, so a strategy and the gateway never wait on each other)."""
    fields = batch.runner_fields(out.reshape(1, -1), [STRATEGY_INTENTS],
                                 [[STRATEGY_MD_READ, 1], [STRATEGY_FILLS_READ, 1]], [0, 1], [0, 1])
    fields.update(timer=np.array([timer_ns, 0, -1, 0], dtype=np.int64),
                  delays=np.zeros((2, 1), dtype=np.int64),
                  written=event[E_WRITTEN:E_WRITTEN + 1], room=event[E_ROOM:E_ROOM + 1])
    return fields


def new_callbacks(context_cell: np.ndarray, state: np.ndarray, params: np.ndarray) -> np.ndarray:
    """ctx.callbacks with no callback yet (engine/runner_gen.py's entry_addresses fills
    them in), the context kept in `context_cell`, the state rows of `state` (the mirror,
    one row per symbol) and the params record params[0] handed to them."""
    from tickpipe.engine.callback_abi import (
        CB_CONTEXT, CB_PARAMS, CB_SLOTS, CB_STATE, CB_STATE_BYTES,
    )
    callbacks = np.zeros(CB_SLOTS, dtype=np.int64)
    callbacks[CB_CONTEXT] = context_cell.ctypes.data
    callbacks[CB_STATE] = state.ctypes.data
    callbacks[CB_STATE_BYTES] = state.dtype.itemsize
    callbacks[CB_PARAMS] = params.ctypes.data
    return callbacks


def new_context_cell() -> np.ndarray:
    from tickpipe.engine.callback_abi import CONTEXT_CELL_BYTES
    return np.zeros(CONTEXT_CELL_BYTES, dtype=np.uint8)


def _one_level_depth(dtype) -> np.ndarray:
    depth = np.zeros(1, dtype)
    depth["levels"] = 1  # the top only, as an engine of [feed] depth = 1 has it
    return depth


def sample_context(n_symbols: int, state_dtype: np.dtype | None = None,
                   params_dtype: np.dtype | None = None):
    """(ctx, mirror, params, control): a context over private arrays with the same numba
    type as a worker's over the segment: compiling against it fills the cache the
    workers load from; tests drive callbacks through it."""
    from tickpipe.engine.commit import scratch_txn, undo_words
    from tickpipe.engine.idle import make_idle_state
    from tickpipe.engine.order_states import TRANSITIONS
    from tickpipe.engine.ring import HANDLE_SLOTS
    from tickpipe.engine.strategy_guard import new_guard
    from tickpipe.shm_layouts.book import BOOK_DTYPE
    from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
    from tickpipe.shm_layouts.depth import DEPTH_DTYPE
    from tickpipe.shm_layouts.fill import FILL_DTYPE
    from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE, HOPS
    from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
    from tickpipe.shm_layouts.open_order import OPEN_ORDER_DTYPE, ORDER_SLOTS
    from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
    from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
    from tickpipe.shm_layouts.worker_table import WORKER_DTYPE

    state_dtype = np.dtype([("_none", np.int64)]) if state_dtype is None else state_dtype
    params_dtype = np.dtype([("_none", np.int64)]) if params_dtype is None else params_dtype
    words = state_dtype.itemsize // 8
    mirror = np.zeros(n_symbols, dtype=state_dtype)
    control = np.zeros(CONTROL_DTYPE.itemsize, dtype=np.uint8)  # a control block: all clear
    txn = scratch_txn()
    orders = np.zeros(ORDER_SLOTS, dtype=OPEN_ORDER_DTYPE)
    event = new_event()
    out = np.zeros(HANDLE_SLOTS, dtype=np.int64)
    params = np.zeros(1, dtype=params_dtype)
    cell = new_context_cell()
    ctx = StrategyContext(
        event=event, inputs=np.zeros((2, HANDLE_SLOTS), dtype=np.int64),
        quotes=np.zeros(1, MARKET_DATA_DTYPE), reports=np.zeros(1, FILL_DTYPE),
        out=out, intents=np.zeros(1, ORDER_INTENT_DTYPE),
        positions=np.zeros(n_symbols, STRATEGY_POSITION_DTYPE),
        book=np.zeros(n_symbols, BOOK_DTYPE), depth=_one_level_depth(DEPTH_DTYPE),
        top=np.zeros(4, dtype=np.int64), tick_sizes=np.ones(n_symbols, dtype=np.int64),
        subscribed=np.zeros(n_symbols, dtype=np.uint8),
        state_words=np.zeros((n_symbols, words), dtype=np.uint64),
        mirror_words=mirror.view(np.uint64).reshape(n_symbols, words),
        dirty=np.zeros(1 + n_symbols, dtype=np.int64), dirty_mark=np.zeros(n_symbols, np.uint8),
        txn=txn, undo=undo_words(txn),
        row_words=np.zeros(WORKER_DTYPE.itemsize // 8, dtype=np.uint64),
        idle_state=make_idle_state(0, control.ctypes.data),
        histograms=np.zeros((len(HOPS), HISTOGRAM_DTYPE.itemsize // 8), dtype=np.uint64),
        control=control.ctypes.data, orders=orders,
        orders_mirror=orders.view(np.uint64).reshape(ORDER_SLOTS, -1),
        orders_words=np.zeros((ORDER_SLOTS, OPEN_ORDER_DTYPE.itemsize // 8), dtype=np.uint64),
        orders_dirty=np.zeros(1 + ORDER_SLOTS, dtype=np.int64),
        orders_dirty_mark=np.zeros(ORDER_SLOTS, dtype=np.uint8), transitions=TRANSITIONS,
        callbacks=new_callbacks(cell, mirror, params), context_cell=cell,
        guard=new_guard(), **runner_fields(event, out, 0))
    return ctx, mirror, params, control
