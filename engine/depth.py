"""The L2 book (shm_layouts/depth.py): one seqlock row per symbol, written by the feed
(a tape's depth row: one level; the walk: all its levels in one write), read by
strategies, the simulated venue and the tools.

The seqlock is the top of book's (engine/book.py): the version only moves forward,
odd while a write is under way, so a reader takes a copy only between two reads of
one even version. A feed killed mid-write leaves the row odd, and may have written
levels past its commit point. The restarted feed writes every row whole before its
loop runs, so no reader ever takes a mix: a replay rebuilds each level from the tape's
committed records (rebuild_depth), the walk writes a torn row empty until its
symbol's next tick (withdraw_torn_depth).

All jitted functions return codes or values; none raises.
"""

from numba import njit

from tickpipe.engine.atomics import (
    cpu_pause, fence_release, fence_seqcst, load_acquire_u64, sched_yield, store_release_u64,
)
from tickpipe.engine.book import BOOK_EMPTY, BOOK_OK, BOOK_READ_TRIES, BOOK_SPIN_TRIES, BOOK_UNREADABLE
from tickpipe.shm_layouts.depth import DEPTH_ROW_SIZE


@njit(cache=True, inline="always")
def depth_write_begin(depth, depth_address, symbol):
    """Open a seqlock write of one symbol's row (the feed is its only writer): its
    version odd; returns it for depth_write_end. Between the two, set any levels."""
    writing = depth[symbol].version | 1
    store_release_u64(depth_address + symbol * DEPTH_ROW_SIZE, writing)  # odd: being written
    fence_release()  # the odd version is visible before any field store (arm64)
    return writing


@njit(cache=True, inline="always")
def depth_write_end(depth, depth_address, symbol, writing, now_ns, md_seq):
    """Close the write depth_write_begin opened: the version even again, one more write."""
    row = depth[symbol]
    row.update_ns = now_ns
    row.md_seq = md_seq
    store_release_u64(depth_address + symbol * DEPTH_ROW_SIZE, writing + 1)  # even: consistent


@njit(cache=True, inline="always")
def depth_write_level(depth, depth_address, symbol, level, bid_px, bid_qty, ask_px, ask_qty,
                      now_ns, md_seq):
    """Seqlock write of one level of one symbol's book."""
    writing = depth_write_begin(depth, depth_address, symbol)
    row = depth[symbol]
    row.bid_px[level] = bid_px
    row.bid_qty[level] = bid_qty
    row.ask_px[level] = ask_px
    row.ask_qty[level] = ask_qty
    depth_write_end(depth, depth_address, symbol, writing, now_ns, md_seq)


@njit(cache=True)
def depth_write_row(depth, depth_address, symbol, levels, now_ns, md_seq):
    """Seqlock write of one symbol's whole row: levels[0:4, k] (bid_px, ask_px, bid_qty,
    ask_qty) into level k, every level the row holds (0 past levels.shape[1])."""
    writing = depth_write_begin(depth, depth_address, symbol)
    row = depth[symbol]
    for k in range(row.bid_px.shape[0]):
        inside = k < levels.shape[1]
        row.bid_px[k] = levels[0, k] if inside else 0
        row.ask_px[k] = levels[1, k] if inside else 0
        row.bid_qty[k] = levels[2, k] if inside else 0
        row.ask_qty[k] = levels[3, k] if inside else 0
    depth_write_end(depth, depth_address, symbol, writing, now_ns, md_seq)


def rebuild_depth(depth, tape, position: int, levels: int) -> None:
    """A replaying feed's start: every symbol's row as the tape's records before
    `position` (the committed tape position) left it: each level the last record that
    set it (a quote: level 0; a depth row: its level), 0 where none did. What a killed
    feed left, a row half written (odd) or levels written past its commit point, is
    replaced, never read half: the version moves on by one whole write."""
    import numpy as np

    from tickpipe.shm_layouts.market_data import MD_KIND_DEPTH, MD_KIND_QUOTE
    book = np.zeros((len(depth), 4, levels), dtype=np.int64)
    done = tape[:position]
    kinds = done["kind"].astype(np.int64)
    level = np.where(kinds == MD_KIND_QUOTE, 0,
                     np.where(kinds > MD_KIND_DEPTH, kinds - MD_KIND_DEPTH, -1))
    setting = np.flatnonzero((level >= 0) & (level < levels))
    key = done["symbol_id"][setting].astype(np.int64) * levels + level[setting]
    keys, first_from_end = np.unique(key[::-1], return_index=True)
    last = setting[::-1][first_from_end]  # the last record of each (symbol, level)
    symbols, at = keys // levels, keys % levels
    for row, field in enumerate(("bid_px", "ask_px", "bid_qty", "ask_qty")):
        book[symbols, row, at] = done[field][last]
    for symbol in range(len(depth)):
        depth_write_row(depth, depth.ctypes.data, symbol, book[symbol], 0, position)


def withdraw_torn_depth(depth) -> int:
    """The walk's start: a row a killed feed left odd is written empty (no levels) until
    its symbol's next tick, never read half. Returns how many were."""
    import numpy as np
    empty = np.zeros((4, 0), dtype=np.int64)
    torn = 0
    for symbol in range(len(depth)):
        if int(depth[symbol]["version"]) & 1:
            depth_write_row(depth, depth.ctypes.data, symbol, empty, 0, 0)
            torn += 1
    return torn


@njit(cache=True)
def depth_read(depth, depth_address, symbol, first, count, out):
    """Levels [first, first + count) of one symbol's book as of one write, into
    out[0:4, 0:count] (rows: bid_px, ask_px, bid_qty, ask_qty): BOOK_OK, BOOK_EMPTY (never
    written) or BOOK_UNREADABLE (stayed odd for BOOK_READ_TRIES reads: a dead writer).
    Unless BOOK_OK, out[:, :count] is 0: never a price."""
    version_address = depth_address + symbol * DEPTH_ROW_SIZE
    status = BOOK_UNREADABLE
    for attempt in range(BOOK_READ_TRIES):
        before = load_acquire_u64(version_address)
        if before == 0:
            status = BOOK_EMPTY
            break
        if before & 1:
            if attempt < BOOK_SPIN_TRIES:
                cpu_pause()
            else:
                sched_yield()
            continue
        row = depth[symbol]
        for k in range(count):
            out[0, k] = row.bid_px[first + k]
            out[1, k] = row.ask_px[first + k]
            out[2, k] = row.bid_qty[first + k]
            out[3, k] = row.ask_qty[first + k]
        fence_seqcst()  # the field loads complete before the version is re-read
        if load_acquire_u64(version_address) == before:
            return BOOK_OK
    for k in range(count):
        out[0, k] = 0
        out[1, k] = 0
        out[2, k] = 0
        out[3, k] = 0
    return status


@njit(cache=True, inline="always")
def depth_read_level(depth, depth_address, symbol, level, out):
    """One level of one symbol's book, whole, into out[0:4] (bid_px, ask_px, bid_qty,
    ask_qty): depth_read of that level alone."""
    return depth_read(depth, depth_address, symbol, level, 1, out.reshape((4, 1)))


def read_depth_rows(depth, n_symbols: int, levels: int):
    """The tools' copy: per symbol, a dict of lists (bid_px, ask_px, bid_qty, ask_qty),
    or None when the symbol's row was never written or stayed unreadable."""
    import numpy as np
    out = np.zeros((4, levels), dtype=np.int64)
    rows = []
    for symbol in range(n_symbols):
        if depth_read(depth, depth.ctypes.data, symbol, 0, levels, out) != BOOK_OK:
            rows.append(None)
            continue
        rows.append({"bid_px": out[0].tolist(), "ask_px": out[1].tolist(),
                     "bid_qty": out[2].tolist(), "ask_qty": out[3].tolist()})
    return rows
