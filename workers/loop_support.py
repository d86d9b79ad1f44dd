"""Jitted pieces every worker loop shares: stop flags, heartbeat, backpressure, the book.

All return codes or values; none raises.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import (
    cpu_pause, fence_release, fence_seqcst, lib, load_acquire_u32, load_acquire_u64, monotonic_ns,
    sched_yield, store_release_u64,
)
from tickpipe.engine.idle import I_SLEEPS, pause_while_full
from tickpipe.engine.ring import consumer_release, producer_claim, producer_publish
from tickpipe.shm_layouts.book import BOOK_ROW_SIZE
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET
from tickpipe.shm_layouts.worker_table import (
    W_BUSY_PASSES, W_COUNTERS, W_HEARTBEAT_NS, W_IDLE_PASSES, W_INPUT_DONE_SEQ, W_PROCESSED,
    W_PUBLISHED, W_SLEEPS,
)

BATCH = 256  # records per read/claim: bounds the latency one batch adds


@njit(cache=True)
def stop_requested(control_address):
    return load_acquire_u32(control_address + STOP_ALL_OFFSET) != 0


@njit(cache=True)
def account_pass(row_words, idle_state, work, passes):
    """Pass counters on every pass; the heartbeat on every 64th pass and after every
    futex sleep. A spinning worker does not read the clock on each spin, and a
    sleeping one (at most one sleep timeout per pass) still looks alive."""
    if work > 0:
        row_words[W_BUSY_PASSES] += 1
    else:
        row_words[W_IDLE_PASSES] += 1
    slept = np.uint64(idle_state[I_SLEEPS]) != row_words[W_SLEEPS]
    if slept or (passes & 63) == 0:
        row_words[W_HEARTBEAT_NS] = monotonic_ns()
        row_words[W_SLEEPS] = idle_state[I_SLEEPS]


@njit(cache=True)
def wait_while_full(row_words, idle_state, streak):
    """One wait of a producer whose output ring is full. It stamps its heartbeat
    every 256 waits: a producer held up by a stalled consumer is alive, and the
    supervisor must kill the stalled one, not the producer behind it."""
    if (streak & 255) == 0:
        row_words[W_HEARTBEAT_NS] = monotonic_ns()
    pause_while_full(idle_state, streak)


@njit(cache=True)
def claim_at_least_one(handle, wanted, idle_state, control_address, row_words):
    """Claim up to `wanted` slots, waiting while the ring is full; 0 only when stopping."""
    streak = 0
    while True:
        got = producer_claim(handle, wanted)
        if got > 0:
            return got
        if stop_requested(control_address):
            return 0
        wait_while_full(row_words, idle_state, streak)
        streak += 1


# book_read return codes
BOOK_EMPTY = 0        # the symbol has no market yet
BOOK_OK = 1           # out[0:4] is one consistent top of book
BOOK_UNREADABLE = 2   # the row stayed odd or kept changing for BOOK_READ_TRIES reads
BOOK_READ_TRIES = 1_000   # ~1 ms: far past any live write, far short of a heartbeat
BOOK_SPIN_TRIES = 100     # then yield: a writer preempted mid-write on our core needs it


@njit(cache=True)
def book_write(book, book_address, symbol, bid_px, ask_px, bid_qty, ask_qty, now_ns, md_seq):
    """Seqlock write of one symbol's top of book (the feed is its only writer).

    The version is even when the row is consistent. A feed killed between its two
    version stores leaves it odd; the restarted feed repairs that (repair_book)
    before it writes again, so the parity never inverts.
    """
    version_address = book_address + symbol * BOOK_ROW_SIZE
    version = book[symbol].version
    store_release_u64(version_address, version + 1)  # odd: being written
    fence_release()  # the odd version is visible before any field store (arm64)
    row = book[symbol]
    row.bid_px = bid_px
    row.ask_px = ask_px
    row.bid_qty = bid_qty
    row.ask_qty = ask_qty
    row.update_ns = now_ns
    row.md_seq = md_seq
    store_release_u64(version_address, version + 2)  # even: consistent


def repair_book(book) -> int:
    """Finish any write a killed feed left half done: each odd version becomes even.

    The fields of such a row are whole words, some from the interrupted write and
    some from the one before (both the feed's own values); the next quote for the
    symbol overwrites them. Python, at the feed's start, before its loop runs.
    Returns how many rows were repaired.
    """
    repaired = 0
    for symbol in range(len(book)):
        version = int(book[symbol]["version"])
        if version & 1:
            lib.tp_store_release_u64(book.ctypes.data + symbol * BOOK_ROW_SIZE, version + 1)
            repaired += 1
    return repaired


@njit(cache=True)
def book_read(book, book_address, symbol, out):
    """Consistent copy of one symbol's top of book into out[0:4] (bid, ask, bid_qty, ask_qty).

    Returns BOOK_OK, BOOK_EMPTY when the symbol has no market yet, or BOOK_UNREADABLE
    after BOOK_READ_TRIES reads that found it being written (a dead writer): the
    caller treats it as no market and counts it, instead of spinning for good.
    """
    version_address = book_address + symbol * BOOK_ROW_SIZE
    for attempt in range(BOOK_READ_TRIES):
        before = load_acquire_u64(version_address)
        if before == 0:
            return BOOK_EMPTY
        if before & 1:
            if attempt < BOOK_SPIN_TRIES:
                cpu_pause()
            else:
                sched_yield()
            continue
        row = book[symbol]
        out[0] = row.bid_px
        out[1] = row.ask_px
        out[2] = row.bid_qty
        out[3] = row.ask_qty
        fence_seqcst()  # the field loads complete before the version is re-read
        if load_acquire_u64(version_address) == before:
            return BOOK_OK
    return BOOK_UNREADABLE


@njit(cache=True)
def publish_counted(out_handle, written, row_words, counter_slot):
    """Publish `written` records (one index store) and count them in the worker's row."""
    if written > 0:
        producer_publish(out_handle, written)
        row_words[W_PUBLISHED] += written
        row_words[W_COUNTERS + counter_slot] += written


@njit(cache=True)
def flush_and_claim(out_handle, written, wanted, row_words, counter_slot, idle_state,
                    control_address):
    """Publish what is written so far, then claim room for up to `wanted` more.

    Returns the room claimed; 0 only when stopping.
    """
    publish_counted(out_handle, written, row_words, counter_slot)
    return claim_at_least_one(out_handle, wanted, idle_state, control_address, row_words)


@njit(cache=True)
def finish_batch(handle, count, last_seq, row_words, input_slot, counter_slot):
    """End a consumed batch: count it, record the last input seq whose effects are
    applied (a restarted worker skips up to it), then release the slots."""
    row_words[W_PROCESSED] += count
    row_words[W_COUNTERS + counter_slot] += count
    row_words[W_INPUT_DONE_SEQ + input_slot] = last_seq
    consumer_release(handle, count)
