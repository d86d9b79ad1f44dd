"""The top of book: one seqlock row per symbol, written by the feed, read by anyone.

The version only moves forward. A write takes it from even v (or odd v, a write a
dead feed left half done) to v | 1 (odd: being written) and then to (v | 1) + 1
(even: whole); a withdraw is such a write too, of no_market = 1 instead of a
price. So an even version names one write for good: a reader preempted across a
withdraw and a rewrite never finds the version it read first again (no ABA), and
never takes a mix of two writes' fields for a price.

All jitted functions return codes or values; none raises.
"""

from numba import njit

from tickpipe.engine.atomics import (
    cpu_pause, fence_release, fence_seqcst, load_acquire_u64, sched_yield, store_release_u64,
)
from tickpipe.shm_layouts.book import BOOK_ROW_SIZE

# book_read return codes
BOOK_EMPTY = 0        # no market: never written, or withdrawn (out[0:4] = 0)
BOOK_OK = 1           # out[0:4] is one consistent top of book
BOOK_UNREADABLE = 2   # the row stayed odd or kept changing for BOOK_READ_TRIES reads (out = 0)
BOOK_READ_TRIES = 1_000   # ~1 ms: far past any live write, far short of a heartbeat
BOOK_SPIN_TRIES = 100     # then yield: a writer preempted mid-write on our core needs it


@njit(cache=True)
def book_write(book, book_address, symbol, bid_px, ask_px, bid_qty, ask_qty, now_ns, md_seq):
    """Seqlock write of one symbol's top of book (the feed is its only writer).

    The version is even when the row is consistent (0: never written). A feed killed
    between its two version stores leaves it odd; the restarted feed withdraws such
    a row (repair_book) before it writes again. Either way the write goes from
    version | 1 (odd) to that + 1 (even): forward, and the parity never inverts.
    """
    version_address = book_address + symbol * BOOK_ROW_SIZE
    writing = book[symbol].version | 1
    store_release_u64(version_address, writing)  # odd: being written
    fence_release()  # the odd version is visible before any field store (arm64)
    row = book[symbol]
    row.bid_px = bid_px
    row.ask_px = ask_px
    row.bid_qty = bid_qty
    row.ask_qty = ask_qty
    row.update_ns = now_ns
    row.md_seq = md_seq
    row.no_market = 0
    store_release_u64(version_address, writing + 1)  # even: consistent


@njit(cache=True)
def book_withdraw(book, book_address, symbol):
    """Seqlock write of "no market" for one symbol: no_market = 1, the version moved
    forward as by book_write (to version | 1, then + 1), the price fields left as they
    are (a reader takes none of them while the flag is set). The feed's next
    book_write for the symbol clears the flag."""
    version_address = book_address + symbol * BOOK_ROW_SIZE
    writing = book[symbol].version | 1
    store_release_u64(version_address, writing)  # odd: being written
    fence_release()
    book[symbol].no_market = 1
    store_release_u64(version_address, writing + 1)  # even: consistent, no market


def repair_book(book) -> int:
    """Withdraw every row a killed feed left half written (odd version): no_market,
    its version moved on to the next even one (book_withdraw), until the feed's next
    quote for the symbol writes it whole.

    Its fields are whole words, some from the interrupted write and some from the one
    before: a price with the other write's size. Withdrawn, nobody trades on it (risk
    rejects no_market, the venue does not fill). Python, at the feed's start, before
    its loop runs. Returns how many rows were withdrawn.
    """
    repaired = 0
    for symbol in range(len(book)):
        if int(book[symbol]["version"]) & 1:
            book_withdraw(book, book.ctypes.data, symbol)
            repaired += 1
    return repaired


# A read is two halves around a copy: book_read_begin (the version), book_read_copy
# (the fields and the flag), book_read_end (the same version still?). book_read runs
# them in a loop; tests run them one by one to put writes in between.

@njit(cache=True, inline="always")
def book_read_begin(book_address, symbol):
    """The row's version, acquire-loaded: 0 never written, odd being written, else
    even, to hand to book_read_end after the copy."""
    return load_acquire_u64(book_address + symbol * BOOK_ROW_SIZE)


@njit(cache=True, inline="always")
def book_read_copy(book, symbol, out):
    """The fields into out[0:4] (bid, ask, bid_qty, ask_qty); returns no_market. Only
    what book_read_end then vouches for may be used."""
    row = book[symbol]
    out[0] = row.bid_px
    out[1] = row.ask_px
    out[2] = row.bid_qty
    out[3] = row.ask_qty
    return row.no_market


@njit(cache=True, inline="always")
def book_read_end(book_address, symbol, before):
    """True when the row's version is still `before` (even) after the copy: the copy
    is one write's. The version never comes back to a value it left, so equal means
    unchanged."""
    fence_seqcst()  # the field loads complete before the version is re-read
    return load_acquire_u64(book_address + symbol * BOOK_ROW_SIZE) == before


@njit(cache=True)
def book_read(book, book_address, symbol, out):
    """Consistent copy of one symbol's top of book into out[0:4] (bid, ask, bid_qty, ask_qty).

    Returns BOOK_OK, BOOK_EMPTY when the symbol has no market (never written, or
    withdrawn), or BOOK_UNREADABLE after BOOK_READ_TRIES reads that found it being
    written (a dead writer): the caller treats it as no market and counts it,
    instead of spinning for good. Unless BOOK_OK, out[0:4] is 0: never a price.
    """
    status = BOOK_UNREADABLE
    for attempt in range(BOOK_READ_TRIES):
        before = book_read_begin(book_address, symbol)
        if before == 0:
            status = BOOK_EMPTY
            break
        if before & 1:
            if attempt < BOOK_SPIN_TRIES:
                cpu_pause()
            else:
                sched_yield()
            continue
        no_market = book_read_copy(book, symbol, out)
        if book_read_end(book_address, symbol, before):
            if no_market == 0:
                return BOOK_OK
            status = BOOK_EMPTY
            break
    out[0] = 0
    out[1] = 0
    out[2] = 0
    out[3] = 0
    return status


