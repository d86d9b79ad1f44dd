"""The runner's side of one strategy callback: what happens around it, and the batch.

A callback edits the symbol's row of the *mirror*: a process-local copy of the
strategy's state rows, equal to the segment's at every commit. Around it
(engine/strategy_kernels.py calls these):
  begin_event  sets the event (symbol, due time, ...) and notes the row as touched;
  sync_state   at the batch's end, before its commit, stores every word of each
               touched row that differs from the segment's, through the open batch's
               undo log (engine/commit.py txn_store_changes, one release per row).
So the segment's state changes only through logged stores, with the batch that
caused the change: a kill anywhere leaves it as of the last commit, the restarted
runner copies it into a fresh mirror and replays the inputs after that commit.
A row is compared once per batch, not once per record.

Before each callback the runner (engine/runner.py) checks that the intents ring
has room for MAX_ORDERS_PER_EVENT requests and the undo log for event_undo words;
without, it commits what is done and waits for room.
"""

from numba import njit

from tickpipe.engine.batch import count
from tickpipe.engine.commit import mark_row, txn_add, txn_store_rows
from tickpipe.engine.order_states import INVALID, is_final, next_status, report_event
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT, _order_row
from tickpipe.engine.strategy_context import (
    E_MD_SEQ, E_ORIGIN_NS, E_REF_MID, E_REFUSED_BASE, E_SENT, E_SYMBOL,
)
from tickpipe.shm_layouts.fill import (
    EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED, EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import OPEN_ORDER_SIZE, STATUS_REJECTED
from tickpipe.shm_layouts.order_intent import REQ_NEW
from tickpipe.shm_layouts.strategy_position import (
    STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_ILLEGAL_TRANSITIONS, STRATEGY_REFUSED_BASE, STRATEGY_REFUSED_NAMES, W_COUNTERS,
)

_ROW = STRATEGY_POSITION_DTYPE.itemsize
_POSITION = STRATEGY_POSITION_OFFSETS["position"]
_IN_FLIGHT = STRATEGY_POSITION_OFFSETS["in_flight"]
_CASH = STRATEGY_POSITION_OFFSETS["cash"]
_N_REFUSALS = len(STRATEGY_REFUSED_NAMES)
# Undo entries one callback may need besides its state row: in_flight and intents_sent
# per order sent, the report's position, cash and in_flight words, and the batch's
# counters (the runner's and the refusals').
_UNDO_PER_EVENT = 2 * MAX_ORDERS_PER_EVENT + 3 + 8 + _N_REFUSALS
_ORDER_WORDS = OPEN_ORDER_SIZE // 8


@njit(cache=True, _nrt=False, inline="always")
def event_undo(ctx):
    """Undo-log words one more callback may need: every touched row may change entirely
    at the sync (this one's included), every order row touched so far and this event's
    (its orders, its report's), and its own logged words."""
    rows = ctx.dirty[0] + 1
    order_rows = ctx.orders_dirty[0] + MAX_ORDERS_PER_EVENT + 1
    return rows * ctx.mirror_words.shape[1] + order_rows * _ORDER_WORDS + _UNDO_PER_EVENT


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
    """Store the touched rows' changed words into the segment, undoably (see the top),
    and count the batch's refused sends by code (committed with the batch, so a replayed
    callback's refusals are counted once)."""
    txn_store_rows(ctx.txn, ctx.undo, ctx.state_words, ctx.mirror_words, ctx.dirty,
                   ctx.dirty_mark)
    for j in range(_N_REFUSALS):
        refused = ctx.event[E_REFUSED_BASE + j]
        if refused != 0:
            count(ctx.txn, ctx.row_words, W_COUNTERS + STRATEGY_REFUSED_BASE + j, refused)
            ctx.event[E_REFUSED_BASE + j] = 0
    txn_store_rows(ctx.txn, ctx.undo, ctx.orders_words, ctx.orders_mirror, ctx.orders_dirty,
                   ctx.orders_dirty_mark)


@njit(cache=True, _nrt=False, inline="always")
def apply_report(ctx, report):
    """The engine's own bookkeeping of one report, before on_fill sees it: the
    position and cash from fills (the strategy's own, which the engine's check
    compares with risk's books); the order's row of the table moved by the state
    machine (a move it does not have is counted, not applied); one order fewer in
    flight when the move makes it final."""
    kind = report.exec_type
    address = ctx.positions.ctypes.data + report.symbol_id * _ROW
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
        txn_add(ctx.txn, address + _POSITION, report.side * report.last_qty)
        txn_add(ctx.txn, address + _CASH, -report.side * report.last_qty * report.last_px)
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
    if is_final(status) and not is_final(row.status):
        txn_add(ctx.txn, ctx.positions.ctypes.data + row.symbol_id * _ROW + _IN_FLIGHT, -1)
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
