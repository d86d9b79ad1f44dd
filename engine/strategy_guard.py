"""A strategy runner's guard around its callbacks: which record is being handled (so
that a callback that raises is named by its record: a quote by the event's E_MD_SEQ,
its seq, which begin_event stores anyway; a report or a timer call by a note here),
and what `[[strategy]] on_error` asked of the next process (engine/on_error.py
decides; the errors row of shm_layouts/strategy_errors.py carries it):

  the watched record  the one the last process raised on. The runner gives it a
                      batch of its own: record_need says NOT_DUE for it and for the
                      record after it unless each starts its batch, so when it raises
                      again the committed state is exactly the state before it (the
                      diagnosis re-runs the callback on that: engine/poison.py);
  the skipped record  on_error's: a batch of its own too, and its callback is left
                      out: the record is counted (worker counter records_skipped) and
                      copied into the errors row's last_*, through the open batch, so
                      once however the process dies. The engine's own bookkeeping (a
                      report's position and order row) still runs;
  retired             no callback at all (on_error = "retire"), no timer: the
                      strategy sends nothing more, but reads its quotes and applies
                      its reports, so its rings drain and its position stays true.

engine/strategy_kernels.py calls these; the guard is ctx.guard, int64[G_SLOTS],
process-local, set from the errors row at the process's start (new_guard). With
nothing marked and not retired (G_ACTIVE 0), a quote costs one load and one
predicted branch in record_need and on_record.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import load_relaxed_u64
from tickpipe.engine.batch import count
from tickpipe.engine.commit import txn_set
from tickpipe.engine.kernels import NOT_DUE
from tickpipe.engine.ring import H_MASK, H_POSITION
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT
from tickpipe.engine.strategy_context import E_MD_SEQ
from tickpipe.shm_layouts.fill import FILL_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.open_order import OPEN_ORDER_WORDS
from tickpipe.shm_layouts.strategy_errors import (
    ERR_MODE_RETIRED, LAST_KIND_OFFSET, LAST_POSITION_OFFSET, LAST_RECORD_BYTES,
    LAST_RECORD_OFFSET, LAST_SYMBOL_OFFSET, LAST_TIME_NS_OFFSET, REC_NONE, REC_QUOTE,
    REC_REPORT, REC_TIMER,
)
from tickpipe.shm_layouts.worker_table import STRATEGY_RECORDS_SKIPPED, W_COUNTERS

G_ACTIVE = 0         # 1 when any of the below is set: the only word a quote reads
G_KIND = 1           # the report or timer being handled (REC_*); a quote is the event's
G_POSITION = 2       # E_MD_SEQ - 1 instead (current_record): no store on the quote path
G_SKIP_KIND = 3      # the record to pass without its callback (REC_NONE: none)
G_SKIP_POSITION = 4
G_WATCH_KIND = 5     # the record the last process raised on (REC_NONE: none)
G_WATCH_POSITION = 6
G_RETIRED = 7        # 1: leave every callback out, and the timer
G_ROW = 8            # address of the strategy's errors row (0: none, as in a compile)
G_SLOTS = 12

_RECORD_WORDS = LAST_RECORD_BYTES // 8
_QUOTE_BYTES = MARKET_DATA_DTYPE.itemsize
_REPORT_BYTES = FILL_DTYPE.itemsize
# A skip logs the counter, last_* and the record's words. It calls no callback, so the
# order rows and sends event_undo keeps for one (engine/strategy_events.py) are free.
SKIP_UNDO_WORDS = 1 + 4 + _RECORD_WORDS
assert SKIP_UNDO_WORDS <= MAX_ORDERS_PER_EVENT * OPEN_ORDER_WORDS + 2 * MAX_ORDERS_PER_EVENT


def new_guard(errors_row=None, row_address: int = 0) -> np.ndarray:
    """The guard of a process starting now: nothing handled yet; the records to skip and
    to watch and the mode as the supervisor left them in `errors_row` (a
    STRATEGY_ERRORS_DTYPE record; None: none)."""
    guard = np.zeros(G_SLOTS, dtype=np.int64)
    guard[G_ROW] = row_address
    if errors_row is not None:
        guard[G_SKIP_KIND] = int(errors_row["skip_kind"])
        guard[G_SKIP_POSITION] = int(errors_row["skip_position"])
        guard[G_WATCH_KIND] = int(errors_row["watch_kind"])
        guard[G_WATCH_POSITION] = int(errors_row["watch_position"])
        guard[G_RETIRED] = int(int(errors_row["mode"]) == ERR_MODE_RETIRED)
    guard[G_ACTIVE] = int(guard[G_SKIP_KIND] != REC_NONE or guard[G_WATCH_KIND] != REC_NONE
                          or guard[G_RETIRED] != 0)
    return guard


def current_record(event: np.ndarray, guard: np.ndarray) -> tuple[int, int]:
    """(kind, position) of the record whose callback was running (REC_NONE: none yet): a
    quote's seq is its ring position + 1 and begin_event keeps it in E_MD_SEQ (0 for a
    report or a timer, which note themselves in the guard)."""
    if int(event[E_MD_SEQ]) != 0:
        return REC_QUOTE, int(event[E_MD_SEQ]) - 1
    return int(guard[G_KIND]), int(guard[G_POSITION])


@njit(cache=True, _nrt=False, inline="always")
def note_record(ctx, kind, position):
    """A report or a timer call about to run its callback (a quote needs no note)."""
    ctx.guard[G_KIND] = kind
    ctx.guard[G_POSITION] = position


@njit(cache=True, _nrt=False, inline="always")
def _apart(guard, kind_slot, kind, position, first):
    if guard[kind_slot] != kind:
        return False
    mark = guard[kind_slot + 1]
    return (position == mark or position == mark + 1) and position != first


@njit(cache=True, _nrt=False, inline="always")
def kept_apart(ctx, k, kind, position):
    """True for the skipped or watched record, and the one after each, when it does not
    start the batch (record_need then says NOT_DUE: the batch ends before it, so each of
    those two records is alone in its batch)."""
    guard = ctx.guard
    if guard[G_ACTIVE] == 0:
        return False
    first = ctx.inputs[k, H_POSITION]
    return _apart(guard, G_SKIP_KIND, kind, position, first) or \
        _apart(guard, G_WATCH_KIND, kind, position, first)


@njit(cache=True, _nrt=False, inline="always")
def left_out(ctx, kind, position, symbol, time_ns):
    """True when the callback for this record is to be left out: the record to skip
    (counted and noted with the batch), or any record of a retired strategy."""
    guard = ctx.guard
    if guard[G_ACTIVE] == 0:
        return False
    return _left_out(ctx, kind, position, symbol, time_ns)


@njit(cache=True, _nrt=False)
def _left_out(ctx, kind, position, symbol, time_ns):
    guard = ctx.guard
    if guard[G_SKIP_KIND] == kind and guard[G_SKIP_POSITION] == position:
        if kind == REC_TIMER:
            guard[G_SKIP_KIND] = REC_NONE  # a timer has no position: one firing, once
        if kind == REC_QUOTE:
            address = ctx.quotes.ctypes.data + (position & ctx.inputs[0, H_MASK]) * _QUOTE_BYTES
            size = _QUOTE_BYTES
        elif kind == REC_REPORT:
            address = ctx.reports.ctypes.data + (position & ctx.inputs[1, H_MASK]) \
                * _REPORT_BYTES
            size = _REPORT_BYTES
        else:
            address, size = 0, 0
        note_skip(ctx, kind, position, symbol, time_ns, address, size)
        return True
    return guard[G_RETIRED] != 0


@njit(cache=True, _nrt=False)
def note_skip(ctx, kind, position, symbol, time_ns, address, size):
    """Count the skip and copy the record into the errors row's last_*, undoably: all of it
    commits with the batch that consumed the record, or none of it."""
    count(ctx.txn, ctx.row_words, W_COUNTERS + STRATEGY_RECORDS_SKIPPED, 1)
    row = ctx.guard[G_ROW]
    if row == 0:
        return
    txn_set(ctx.txn, row + LAST_KIND_OFFSET, kind)
    txn_set(ctx.txn, row + LAST_POSITION_OFFSET, position)
    txn_set(ctx.txn, row + LAST_SYMBOL_OFFSET, symbol)
    txn_set(ctx.txn, row + LAST_TIME_NS_OFFSET, time_ns)
    for w in range(_RECORD_WORDS):
        word = np.int64(load_relaxed_u64(address + 8 * w)) if 8 * w < size else np.int64(0)
        txn_set(ctx.txn, row + LAST_RECORD_OFFSET + 8 * w, word)


@njit(cache=True, _nrt=False, inline="always")
def retired(ctx):
    return ctx.guard[G_RETIRED] != 0
