"""The top of book: one seqlock row per symbol, written by the feed, read by anyone.

All jitted functions return codes or values; none raises.
"""

from numba import njit

from tickpipe.engine.atomics import (
    cpu_pause, fence_release, fence_seqcst, lib, load_acquire_u64, sched_yield, store_release_u64,
)
from tickpipe.shm_layouts.book import BOOK_ROW_SIZE

# book_read return codes
BOOK_EMPTY = 0        # the symbol has no market yet
BOOK_OK = 1           # out[0:4] is one consistent top of book
BOOK_UNREADABLE = 2   # the row stayed odd or kept changing for BOOK_READ_TRIES reads
BOOK_READ_TRIES = 1_000   # ~1 ms: far past any live write, far short of a heartbeat
BOOK_SPIN_TRIES = 100     # then yield: a writer preempted mid-write on our core needs it


@njit(cache=True)
def book_write(book, book_address, symbol, bid_px, ask_px, bid_qty, ask_qty, now_ns, md_seq):
    """Seqlock write of one symbol's top of book (the feed is its only writer).

    The version is even when the row is consistent (0: no market yet). A feed killed
    between its two version stores leaves it odd; the restarted feed withdraws such
    a row (repair_book) before it writes again, so the parity never inverts.
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
    """Withdraw every row a killed feed left half written (odd version): version 0,
    "no market yet", until the feed's next quote for the symbol writes it whole.

    Its fields are whole words, some from the interrupted write and some from the one
    before: a price with the other write's size. Withdrawn, nobody trades on it (risk
    rejects no_market, the venue does not fill). Python, at the feed's start, before
    its loop runs. Returns how many rows were withdrawn.
    """
    repaired = 0
    for symbol in range(len(book)):
        if int(book[symbol]["version"]) & 1:
            lib.tp_store_release_u64(book.ctypes.data + symbol * BOOK_ROW_SIZE, 0)
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


