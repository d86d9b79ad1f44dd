"""Exactly once across kill -9: a worker's batch and its progress commit as one step.

The layout and the rule are in shm_layouts/commit_log.py; docs/commit_protocol.md
argues each crash point. In short, for each batch a worker:

1. changes shared state only through txn_add / txn_set, which write an undo
   entry (old value) before the word itself;
2. writes its outputs into ring slots it has claimed, without publishing them;
3. records how far it consumed and produced (txn_consumed / txn_produced) and
   calls txn_commit: the point is written, then one release store of the
   batch number into `committed` is the commit;
4. only then publishes its outputs and releases its inputs.

A restarted worker calls recover() before it builds its ring handles: a batch
that was open and not committed is rolled back from its undo entries, outputs
the committed point counts but that were never published are published, inputs
it counts as consumed are released. So every input is applied once and every
output emitted once, wherever the kill landed.

A transaction handle is a process-local int64 array (slots X_*). Jitted
functions return codes and never raise.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import (
    fence_release, lib, load_relaxed_u64, store_relaxed_u64, store_release_u64,
)
from tickpipe.engine.ring import (
    H_POSITION, H_TAIL_ADDR, consumer_handle, producer_handle, producer_publish,
)
from tickpipe.shm_layouts.commit_log import (
    COMMIT_LOG_DTYPE, COMMITTED_OFFSET, MAX_INPUTS, MAX_OUTPUTS, OPEN_BATCH_OFFSET, POINT_SIZE,
    POINT_OUTPUTS_OFFSET, POINTS_OFFSET, UNDO_CAPACITY, UNDO_COUNT_OFFSET, UNDO_ENTRY_SIZE,
    UNDO_OFFSET,
)

# Transaction handle slots.
X_LOG_ADDR = 0        # address of this worker's commit log
X_BASE = 1            # the segment's base address: undo entries hold offsets from it
X_BATCH = 2           # the open batch's number, 0 when none is open
X_UNDO = 3            # undo entries written in the open batch
X_COMMITTED = 4       # the last committed batch's number
X_INPUTS_USED = 5     # the worker's inputs and outputs: a commit stores only their slots of
X_OUTPUTS_USED = 6    # its point (the others stay 0 in both points; recover reads only these)
X_IN = 8              # X_IN + k: input k consumed through (pending until the commit)
X_OUT = X_IN + MAX_INPUTS  # X_OUT + m: output m produced through
TXN_SLOTS = X_OUT + MAX_OUTPUTS

# txn_add / txn_set return codes
TXN_OK = 0
TXN_FULL = 1          # the undo log is full: nothing changed; commit the batch so far first


def make_txn(segment, log_offset: int, inputs, outputs) -> np.ndarray:
    """A transaction handle at the committed point; inputs/outputs: this worker's ring
    handles (2-D arrays, one row each), already at their recovered positions."""
    txn = np.zeros(TXN_SLOTS, dtype=np.int64)
    txn[X_LOG_ADDR] = segment.base_address + log_offset
    txn[X_BASE] = segment.base_address
    txn[X_COMMITTED] = lib.tp_load_acquire_u64(int(txn[X_LOG_ADDR]) + COMMITTED_OFFSET)
    txn[X_INPUTS_USED] = len(inputs)
    txn[X_OUTPUTS_USED] = len(outputs)
    for k in range(len(inputs)):
        txn[X_IN + k] = inputs[k][H_POSITION]
    for m in range(len(outputs)):
        txn[X_OUT + m] = outputs[m][H_POSITION]
    return txn


def scratch_txn() -> np.ndarray:
    """A transaction handle over a private log inside the same array: for code that runs
    a kernel outside an engine (tests, the mp.Queue peer). Nothing is recoverable."""
    log_words = COMMIT_LOG_DTYPE.itemsize // 8
    txn = np.zeros(TXN_SLOTS + log_words, dtype=np.int64)
    txn[X_LOG_ADDR] = txn.ctypes.data + TXN_SLOTS * 8
    txn[X_INPUTS_USED] = MAX_INPUTS
    txn[X_OUTPUTS_USED] = MAX_OUTPUTS
    return txn


@njit(cache=True)
def txn_begin(txn):
    """Open the next batch (a no-op while one is open)."""
    if txn[X_BATCH] != 0:
        return
    log = txn[X_LOG_ADDR]
    batch = txn[X_COMMITTED] + 1
    txn[X_UNDO] = 0
    store_release_u64(log + UNDO_COUNT_OFFSET, 0)
    store_release_u64(log + OPEN_BATCH_OFFSET, batch)
    txn[X_BATCH] = batch


@njit(cache=True)
def _logged_store(txn, address, old, value):
    """Store `value` at `address`, whose word holds `old`, undoably.

    The undo entry is stored, then the count that makes it valid (release), then
    the word (release): a kill at any point leaves either the old word, or the old
    word with its entry, or the new word with its entry. A word that keeps its
    value is left alone, entry and all. Returns TXN_OK or TXN_FULL.
    """
    if value == old:
        return TXN_OK
    txn_begin(txn)
    n = txn[X_UNDO]
    if n >= UNDO_CAPACITY:
        return TXN_FULL
    log = txn[X_LOG_ADDR]
    entry = log + UNDO_OFFSET + n * UNDO_ENTRY_SIZE
    store_relaxed_u64(entry, address - txn[X_BASE])
    store_relaxed_u64(entry + 8, old)
    txn[X_UNDO] = n + 1
    store_release_u64(log + UNDO_COUNT_OFFSET, n + 1)
    store_release_u64(address, value)
    return TXN_OK


@njit(cache=True)
def txn_set(txn, address, value):
    """Set the 8-byte word of shared state at `address` to `value`, undoably."""
    return _logged_store(txn, address, np.int64(load_relaxed_u64(address)), value)


@njit(cache=True)
def txn_add(txn, address, delta):
    """Add `delta` to the int64 word at `address`, undoably."""
    old = np.int64(load_relaxed_u64(address))
    return _logged_store(txn, address, old, old + delta)


@njit(cache=True, _nrt=False)
def txn_store_changes(txn, undo, address, current, target):
    """Make the words `current` (a view of shared state at `address`) equal `target`,
    undoably, with one release store for all their undo entries.

    `undo`: this log's undo entries as uint64 words (offset, old, offset, old, ...).
    The entries are plain stores, then the count (release: they are in before it
    counts them), then a release fence, then the words: a kill anywhere leaves every
    changed word with its entry counted, or unchanged. One call per row instead of
    one logged store per word. Returns TXN_OK or TXN_FULL (nothing changed).
    """
    changed = 0
    for k in range(target.shape[0]):
        if current[k] != target[k]:
            changed += 1
    if changed == 0:
        return TXN_OK
    txn_begin(txn)
    n = txn[X_UNDO]
    if n + changed > UNDO_CAPACITY:
        return TXN_FULL
    offset = address - txn[X_BASE]
    j = n
    for k in range(target.shape[0]):
        if current[k] != target[k]:
            undo[2 * j] = offset + 8 * k
            undo[2 * j + 1] = current[k]
            j += 1
    txn[X_UNDO] = j
    store_release_u64(txn[X_LOG_ADDR] + UNDO_COUNT_OFFSET, j)
    fence_release()  # the count before any word (arm64; x86 keeps stores in order)
    for k in range(target.shape[0]):
        current[k] = target[k]
    return TXN_OK


@njit(cache=True, _nrt=False, inline="always")
def mark_row(dirty, dirty_mark, row):
    """Note `row` of a table kept in a process-local mirror as changed in the open batch,
    once: dirty[0] is how many rows are noted, dirty[1:] which; dirty_mark[row] = 1."""
    if dirty_mark[row] == 0:
        dirty_mark[row] = 1
        dirty[0] += 1
        dirty[dirty[0]] = row


@njit(cache=True, _nrt=False)
def txn_store_rows(txn, undo, words, mirror, dirty, dirty_mark):
    """How a table kept in a mirror joins the open batch: every noted row's changed words
    stored from `mirror` into `words` (the segment's rows, uint64[rows, row_words]) with
    txn_store_changes, then the notes cleared. The strategy's state and order table and
    the venue's book all commit so."""
    row_bytes = words.shape[1] * 8
    for n in range(1, dirty[0] + 1):
        row = dirty[n]
        txn_store_changes(txn, undo, words.ctypes.data + row * row_bytes, words[row],
                          mirror[row])
        dirty_mark[row] = 0
    dirty[0] = 0


def undo_words(txn) -> np.ndarray:
    """The undo entries of the log `txn` writes, as uint64 words (for txn_store_changes)."""
    from tickpipe.engine.atomics_lib import ffi
    address = int(txn[X_LOG_ADDR]) + UNDO_OFFSET
    buffer = ffi.buffer(ffi.cast("char *", address), UNDO_CAPACITY * UNDO_ENTRY_SIZE)
    return np.frombuffer(buffer, dtype=np.uint64)


@njit(cache=True)
def txn_consumed(txn, slot, position):
    txn[X_IN + slot] = position


@njit(cache=True)
def txn_produced(txn, slot, position):
    txn[X_OUT + slot] = position


@njit(cache=True)
def txn_commit(txn):
    """Commit the open batch (opening an empty one if none is): its point, then the
    release store of its number into `committed`, the one store that makes it so.
    The caller publishes its outputs and releases its inputs only after this."""
    txn_begin(txn)
    log = txn[X_LOG_ADDR]
    batch = txn[X_BATCH]
    point = log + POINTS_OFFSET + (batch & 1) * POINT_SIZE
    for k in range(txn[X_INPUTS_USED]):  # a C call a word: the unused slots cost 12 a commit
        store_relaxed_u64(point + 8 * k, txn[X_IN + k])
    for m in range(txn[X_OUTPUTS_USED]):
        store_relaxed_u64(point + POINT_OUTPUTS_OFFSET + 8 * m, txn[X_OUT + m])
    store_release_u64(log + COMMITTED_OFFSET, batch)  # the commit
    store_release_u64(log + OPEN_BATCH_OFFSET, 0)
    txn[X_COMMITTED] = batch
    txn[X_BATCH] = 0


def commit_log(segment, log_offset: int):
    return segment.buf[log_offset:log_offset + COMMIT_LOG_DTYPE.itemsize].view(COMMIT_LOG_DTYPE)[0]


def recover(segment, log_offset: int, input_sections: list[str], output_sections: list[str]) -> dict:
    """Bring a (re)starting worker's shared state and rings to its last commit.

    Python, before the worker builds its ring handles. Returns what it did:
    {"rolled_back": undo entries applied, "published": {section: n}, "released": {section: n}}.
    """
    log = commit_log(segment, log_offset)
    log_address = segment.base_address + log_offset
    committed = int(log["committed"])
    open_batch = int(log["open_batch"])
    rolled_back = 0
    if open_batch != 0 and open_batch != committed:
        count = min(int(log["undo_count"]), UNDO_CAPACITY)
        for entry in log["undo"][:count][::-1]:  # newest first: the oldest value wins
            lib.tp_store_release_u64(segment.base_address + int(entry["offset"]), int(entry["old"]))
        rolled_back = count
    lib.tp_store_release_u64(log_address + OPEN_BATCH_OFFSET, 0)
    lib.tp_store_release_u64(log_address + UNDO_COUNT_OFFSET, 0)
    point = log["points"][committed & 1] if committed else None
    published, released = {}, {}
    for m, section in enumerate(output_sections):
        handle = producer_handle(segment, section)  # at the end of what is published
        through = int(point["outputs"][m]) if point is not None else 0
        missing = through - int(handle[H_POSITION])
        if missing > 0:  # committed, killed before its publish: the slots are written
            producer_publish(handle, missing)
        published[section] = max(missing, 0)
    for k, section in enumerate(input_sections):
        handle = consumer_handle(segment, section)
        through = int(point["inputs"][k]) if point is not None else 0
        behind = through - int(handle[H_POSITION])
        if behind > 0:  # committed, killed before its release
            lib.tp_store_release_u64(int(handle[H_TAIL_ADDR]), through)
        released[section] = max(behind, 0)
    return {"rolled_back": rolled_back, "published": published, "released": released}
