"""The runner's side of one strategy callback: what happens around it, and the batch.

Around each callback (engine/strategy_loop.py calls these):
  begin_event  sets the event (symbol, due time, ...) and copies the symbol's state
               row from the segment into the process-local scratch row the callback
               edits;
  end_event    stores every word of the scratch row that changed back into the
               segment through the open batch's undo log (engine/commit.py).
So the segment's state changes only through logged stores: a kill anywhere in a
callback leaves the row as it was, and the restarted runner replays the input.

A batch ends with finish_batch (commit, then publish the intents, then release
the input). Before each callback the runner checks room_for_event; without room
it calls flush, which commits what is done and waits for room (stamping the
heartbeat and checking the stop flag while it waits).
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.batch import BATCH, claim_at_least_one, commit_batch
from tickpipe.engine.commit import X_BATCH, X_UNDO, txn_add, txn_set
from tickpipe.engine.ring import producer_claim
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT
from tickpipe.engine.strategy_context import (
    E_MD_SEQ, E_NOW_NS, E_ORIGIN_NS, E_REF_MID, E_ROOM, E_SENT, E_SYMBOL, E_WRITTEN,
)
from tickpipe.shm_layouts.commit_log import UNDO_CAPACITY
from tickpipe.shm_layouts.fill import EXEC_CANCELLED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED
from tickpipe.shm_layouts.strategy_position import (
    STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_FILLS_READ, STRATEGY_INTENTS, STRATEGY_MD_READ,
)

_ROW = STRATEGY_POSITION_DTYPE.itemsize
_POSITION = STRATEGY_POSITION_OFFSETS["position"]
_PENDING_SINCE_NS = STRATEGY_POSITION_OFFSETS["pending_since_ns"]
# Undo entries one callback may need besides its state row: pending_since_ns and
# intents_sent per order sent, the report's position and pending words, and the
# batch's counters.
_UNDO_PER_EVENT = 2 * MAX_ORDERS_PER_EVENT + 2 + 8


@njit(cache=True)
def start_batch(ctx, now):
    """A new batch at `now`: claim what room the intents ring has (never waits)."""
    ctx.event[E_NOW_NS] = now
    ctx.event[E_WRITTEN] = 0
    ctx.event[E_ROOM] = producer_claim(ctx.out, BATCH)


@njit(cache=True)
def room_for_event(ctx):
    """The intents ring and the undo log can take one more callback's worst case."""
    event = ctx.event
    undo_used = ctx.txn[X_UNDO] if ctx.txn[X_BATCH] != 0 else 0
    return event[E_ROOM] - event[E_WRITTEN] >= MAX_ORDERS_PER_EVENT and \
        UNDO_CAPACITY - undo_used >= ctx.scratch_words.shape[0] + _UNDO_PER_EVENT


@njit(cache=True)
def finish_batch(ctx, in_slot, consumed):
    """Commit `consumed` records of input `in_slot` with the intents written, then
    publish those and release these."""
    counter = STRATEGY_MD_READ if in_slot == 0 else STRATEGY_FILLS_READ
    commit_batch(ctx.txn, ctx.inputs[in_slot], in_slot, consumed, ctx.out, 0,
                 ctx.event[E_WRITTEN], ctx.row_words, counter, STRATEGY_INTENTS)
    ctx.event[E_WRITTEN] = 0


@njit(cache=True)
def flush(ctx, in_slot, consumed):
    """Out of room mid-batch: commit what is done, then wait for room for one more
    callback. False only when the engine is stopping (nothing more may be read)."""
    finish_batch(ctx, in_slot, consumed)
    room = claim_at_least_one(ctx.out, BATCH, ctx.idle_state, ctx.control, ctx.row_words)
    ctx.event[E_ROOM] = room
    ctx.event[E_NOW_NS] = monotonic_ns()
    return room >= MAX_ORDERS_PER_EVENT


@njit(cache=True)
def begin_event(ctx, symbol, origin_ns, md_seq, ref_mid):
    event = ctx.event
    event[E_SYMBOL] = symbol
    event[E_ORIGIN_NS] = origin_ns
    event[E_MD_SEQ] = md_seq
    event[E_REF_MID] = ref_mid
    event[E_SENT] = 0
    ctx.scratch_words[:] = ctx.state_words[symbol]


@njit(cache=True)
def end_event(ctx):
    """Store the words of the state row the callback changed, each undoably."""
    row = ctx.state_words[ctx.event[E_SYMBOL]]
    scratch = ctx.scratch_words
    base = row.ctypes.data
    for k in range(row.shape[0]):
        if row[k] != scratch[k]:
            txn_set(ctx.txn, base + 8 * k, np.int64(scratch[k]))  # the bits, not a float


@njit(cache=True)
def apply_report(ctx, report):
    """The engine's own bookkeeping of one report, before on_fill sees it: the
    position from fills; no order in flight once one is final."""
    kind = report.exec_type
    address = ctx.positions.ctypes.data + report.symbol_id * _ROW
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
        txn_add(ctx.txn, address + _POSITION, report.side * report.last_qty)
    if kind == EXEC_FILL or kind == EXEC_CANCELLED or kind == EXEC_REJECTED:
        txn_set(ctx.txn, address + _PENDING_SINCE_NS, 0)
