"""The runner's side of one strategy callback: what happens around it, and the batch.

A callback edits the symbol's row of the *mirror*: a process-local copy of the
strategy's state rows, equal to the segment's at every commit. Around it
(engine/strategy_loop.py calls these):
  begin_event  sets the event (symbol, due time, ...) and notes the row as touched;
  sync_state   at the batch's end, before its commit, stores every word of each
               touched row that differs from the segment's, through the open batch's
               undo log (engine/commit.py txn_store_changes, one release per row).
So the segment's state changes only through logged stores, with the batch that
caused the change: a kill anywhere leaves it as of the last commit, the restarted
runner copies it into a fresh mirror and replays the inputs after that commit.
A row is compared once per batch, not once per record.

A batch ends with finish_batch (commit, then publish the intents, then release
the input). Before each callback the runner checks room_for_event; without room
it calls flush, which commits what is done and waits for room (stamping the
heartbeat and checking the stop flag while it waits).
"""

from numba import njit

from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.batch import BATCH, claim_at_least_one, commit_batch
from tickpipe.engine.commit import X_BATCH, X_UNDO, mark_row, txn_add, txn_set, txn_store_rows
from tickpipe.engine.order_states import INVALID, is_final, next_status, report_event
from tickpipe.engine.ring import producer_claim
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT, _order_row
from tickpipe.engine.strategy_context import (
    E_MD_SEQ, E_NOW_NS, E_ORIGIN_NS, E_REF_MID, E_ROOM, E_SENT, E_SYMBOL, E_WRITTEN,
)
from tickpipe.shm_layouts.commit_log import UNDO_CAPACITY
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED, EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import OPEN_ORDER_SIZE, STATUS_REJECTED
from tickpipe.shm_layouts.order_intent import REQ_NEW
from tickpipe.shm_layouts.strategy_position import (
    STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_FILLS_READ, STRATEGY_ILLEGAL_TRANSITIONS, STRATEGY_INTENTS, STRATEGY_MD_READ,
    W_COUNTERS,
)
from tickpipe.engine.batch import count

_ROW = STRATEGY_POSITION_DTYPE.itemsize
_POSITION = STRATEGY_POSITION_OFFSETS["position"]
_PENDING_SINCE_NS = STRATEGY_POSITION_OFFSETS["pending_since_ns"]
# Undo entries one callback may need besides its state row: pending_since_ns and
# intents_sent per order sent, the report's position and pending words, and the
# batch's counters.
_UNDO_PER_EVENT = 2 * MAX_ORDERS_PER_EVENT + 2 + 8
_ORDER_WORDS = OPEN_ORDER_SIZE // 8


@njit(cache=True, _nrt=False, inline="always")
def start_batch(ctx, now):
    """A new batch at `now`: claim what room the intents ring has (never waits)."""
    ctx.event[E_NOW_NS] = now
    ctx.event[E_WRITTEN] = 0
    ctx.event[E_ROOM] = producer_claim(ctx.out, BATCH)


@njit(cache=True, _nrt=False, inline="always")
def room_for_event(ctx):
    """The intents ring and the undo log can take one more callback's worst case."""
    event = ctx.event
    undo_used = ctx.txn[X_UNDO] if ctx.txn[X_BATCH] != 0 else 0
    # every touched row may change entirely at the sync (this one's included), and this
    # event logs its orders' and report's words now
    rows = ctx.dirty[0] + 1
    # and every order row touched so far, and this event's (its orders, its report's)
    order_rows = ctx.orders_dirty[0] + MAX_ORDERS_PER_EVENT + 1
    return event[E_ROOM] - event[E_WRITTEN] >= MAX_ORDERS_PER_EVENT and \
        UNDO_CAPACITY - undo_used >= rows * ctx.mirror_words.shape[1] + \
        order_rows * _ORDER_WORDS + _UNDO_PER_EVENT


@njit(cache=True, _nrt=False, inline="always")
def finish_batch(ctx, in_slot, consumed):
    """Commit `consumed` records of input `in_slot` with the intents written, then
    publish those and release these."""
    counter = STRATEGY_MD_READ if in_slot == 0 else STRATEGY_FILLS_READ
    sync_state(ctx)
    commit_batch(ctx.txn, ctx.inputs[in_slot], in_slot, consumed, ctx.out, 0,
                 ctx.event[E_WRITTEN], ctx.row_words, counter, STRATEGY_INTENTS)
    ctx.event[E_WRITTEN] = 0


@njit(cache=True, _nrt=False, inline="always")
def flush(ctx, in_slot, consumed):
    """Out of room mid-batch: commit what is done, then wait for room for one more
    callback. False only when the engine is stopping (nothing more may be read)."""
    finish_batch(ctx, in_slot, consumed)
    room = claim_at_least_one(ctx.out, BATCH, ctx.idle_state, ctx.control, ctx.row_words)
    ctx.event[E_ROOM] = room
    ctx.event[E_NOW_NS] = monotonic_ns()
    return room >= MAX_ORDERS_PER_EVENT


@njit(cache=True, _nrt=False, inline="always")
def begin_event(ctx, symbol, origin_ns, md_seq, ref_mid):
    event = ctx.event
    event[E_SYMBOL] = symbol
    event[E_ORIGIN_NS] = origin_ns
    event[E_MD_SEQ] = md_seq
    event[E_REF_MID] = ref_mid
    event[E_SENT] = 0
    mark_row(ctx.dirty, ctx.dirty_mark, symbol)


@njit(cache=True, _nrt=False)
def sync_state(ctx):
    """Store the touched rows' changed words into the segment, undoably (see the top)."""
    txn_store_rows(ctx.txn, ctx.undo, ctx.state_words, ctx.mirror_words, ctx.dirty,
                   ctx.dirty_mark)
    txn_store_rows(ctx.txn, ctx.undo, ctx.orders_words, ctx.orders_mirror, ctx.orders_dirty,
                   ctx.orders_dirty_mark)


@njit(cache=True, _nrt=False, inline="always")
def apply_report(ctx, report):
    """The engine's own bookkeeping of one report, before on_fill sees it: the
    position from fills; no order in flight once one is final; the order's row of
    the table moved by the state machine (a move it does not have is counted, not
    applied)."""
    kind = report.exec_type
    address = ctx.positions.ctypes.data + report.symbol_id * _ROW
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
        txn_add(ctx.txn, address + _POSITION, report.side * report.last_qty)
    if kind == EXEC_FILL or kind == EXEC_CANCELLED or kind == EXEC_REJECTED or \
            kind == EXEC_EXPIRED:
        txn_set(ctx.txn, address + _PENDING_SINCE_NS, 0)
    slot = _order_row(ctx, report.order_id)
    if slot < 0:
        return  # not ours to track (a request for an order the table never had)
    row = ctx.orders[slot]
    event = report_event(kind, report.request, report.leaves_qty, report.cum_qty)
    if event < 0:
        return
    status = next_status(ctx.transitions, row.status, event)
    if status == INVALID:
        count(ctx.txn, ctx.row_words, W_COUNTERS + STRATEGY_ILLEGAL_TRANSITIONS, 1)
        return
    if row.status != status or kind == EXEC_PARTIAL_FILL or kind == EXEC_REPLACED:
        row.status = status
        if not (kind == EXEC_REJECTED and report.request != REQ_NEW and
                report.ord_status == STATUS_REJECTED):
            # (a rejected cancel/replace of an order the venue did not know keeps the row's)
            row.cum_qty = report.cum_qty
            row.leaves_qty = 0 if is_final(status) else report.leaves_qty
            row.avg_px = report.avg_px
            row.cum_notional = report.avg_px * report.cum_qty
        if kind == EXEC_REPLACED:
            row.qty = report.order_qty
            row.limit_px = report.order_px
        if kind == EXEC_REJECTED:
            row.reject_reason = report.reject_reason
        row.updated_ns = report.publish_ns
        mark_row(ctx.orders_dirty, ctx.orders_dirty_mark, slot)
