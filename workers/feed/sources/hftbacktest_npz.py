"""hftbacktest's event files: an .npz (or .npy) of its 64-byte `event_dtype`

    ev u64 | exch_ts i64 | local_ts i64 | px f64 | qty f64 | order_id u64 | ival i64 | fval f64

`ev` is an event kind in its low byte and flags above: EXCH_EVENT (1 << 31) and
LOCAL_EVENT (1 << 30) say on which side the event is valid, BUY_EVENT (1 << 29) and
SELL_EVENT (1 << 28) its side of the book. Kinds: DEPTH_EVENT 1 (a level's quantity,
0 deletes it), TRADE_EVENT 2, DEPTH_CLEAR_EVENT 3 (the side's levels cleared: the
whole side here), DEPTH_SNAPSHOT_EVENT 4 (a level of a snapshot) and
DEPTH_BBO_EVENT 5 (a best level). Others (L3 order events, user events) are counted
and skipped.

A file is one instrument: [feed] instrument names it (default: the file's name up to
its first dot). The replay is what the local side sees: the events flagged
LOCAL_EVENT at their local_ts (a file with none is replayed at exch_ts). A jitted
pass keeps the L2 book and writes a quote whenever the top of the book changed,
after the last event of a timestamp (a snapshot's levels land together, never as a
half-built book), and a trade per trade event, with the top as it stands. A top with
a side empty or crossed is not sent. Prices become fixed point (PRICE_SCALE), sizes
lots: qty x [feed] qty_scale, rounded; a size that rounds to 0 lots is refused.

With [feed] depth D > 1 the pass also keeps each side's best D levels (bids
descending, asks ascending) and, after the last event of a timestamp that touched the
book, writes a depth row (tape.py: kind MD_KIND_DEPTH + level) for each level 1..D-1
that differs from the last row written for it, before that timestamp's quote (a
change only below the top: depth rows and no quote). Depth rows are written whatever
the top's state (a crossed or one-sided top still moves the levels below it). Cost:
O(D) per depth event; a level deleted from the best D of a side holding more than D
levels brings the next one up by a scan of that side's levels (O(levels in the book)),
the same scan today's top of book does when its best level goes, now for any of the
best D.
"""

import os
import zipfile

import numpy as np
from numba import njit, types
from numba.typed import Dict

from tickpipe.shm_layouts.market_data import (
    MAX_DEPTH_LEVELS, MD_KIND_DEPTH, MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE,
)
from tickpipe.workers.feed.sources.tape import TAPE_DTYPE, Recorded, TapeError, price_gcds

READS = (".npz", ".npy")

EXCH_EVENT = 1 << 31
LOCAL_EVENT = 1 << 30
BUY_EVENT = 1 << 29
SELL_EVENT = 1 << 28
DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT = 1, 2, 3, 4, 5
FIELDS = ("ev", "exch_ts", "local_ts", "px", "qty")


def read(path: str, feed: dict) -> Recorded:
    events = _load(path)
    name = feed.get("instrument") or os.path.basename(path).split(".")[0]
    ev = events["ev"].astype(np.int64).view(np.uint64)
    local = (ev & np.uint64(LOCAL_EVENT)) != 0
    if local.any():
        index = np.flatnonzero(local)
        times = events["local_ts"][index].astype(np.int64)
    else:
        index = np.arange(len(events))
        times = events["exch_ts"].astype(np.int64)
    ev = ev[index]
    px = events["px"][index].astype(np.float64)
    qty = events["qty"][index].astype(np.float64)
    kind = (ev & np.uint64(0xFF)).astype(np.int64)
    book = (kind == DEPTH_EVENT) | (kind == DEPTH_SNAPSHOT_EVENT) | (kind == DEPTH_BBO_EVENT) | \
        (kind == TRADE_EVENT)
    bad = book & (~np.isfinite(px) | (px < 0) | ~np.isfinite(qty) | (qty < 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TapeError(f"data file {path!r}: event {int(index[i]) + 1}: px {px[i]} qty {qty[i]} "
                        f"is not a price and a size")
    px_units = np.rint(px * PRICE_SCALE).astype(np.int64)
    lots = np.rint(qty * feed["qty_scale"]).astype(np.int64)
    lost = book & (qty > 0) & (lots == 0)
    if lost.any():
        i = int(np.flatnonzero(lost)[0])
        raise TapeError(f"data file {path!r}: event {int(index[i]) + 1}: qty {qty[i]} rounds to 0 "
                        f"lots at [feed] qty_scale = {feed['qty_scale']} (raise it)")
    if (lots > 2**31 - 1).any():
        i = int(np.flatnonzero(lots > 2**31 - 1)[0])
        raise TapeError(f"data file {path!r}: event {int(index[i]) + 1}: qty {qty[i]} is more "
                        f"than 2**31 lots at [feed] qty_scale = {feed['qty_scale']}")
    depth = min(max(int(feed.get("depth", 1)), 1), MAX_DEPTH_LEVELS)
    size = len(index)  # a record per event at most (a quote follows a depth event)
    if depth > 1:  # and up to depth - 1 rows per run of equal times that touched the book
        touches = (kind == DEPTH_EVENT) | (kind == DEPTH_SNAPSHOT_EVENT) | \
            (kind == DEPTH_BBO_EVENT) | (kind == DEPTH_CLEAR_EVENT)
        run = np.concatenate(([0], np.cumsum(times[1:] != times[:-1])))[:len(times)]
        size += len(np.unique(run[touches])) * (depth - 1)
    out = np.zeros(size, dtype=TAPE_DTYPE)
    source = np.zeros(size, dtype=np.int64)
    made = replay_book(ev, times, px_units, lots, out, source, depth)
    records = out[:made]
    return Recorded(records, [name], price_gcds(records, 1), index[source[:made]] + 1, "event")


def _load(path: str) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                keys = list(data.keys())
                if not keys:
                    raise TapeError(f"data file {path!r}: an .npz with no array in it")
                events = data["data"] if "data" in keys else data[keys[0]]
        else:
            events = data
    except TapeError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise TapeError(f"data file {path!r}: not a readable .npz/.npy "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                        ) from None
    names = events.dtype.names or ()
    if any(f not in names for f in FIELDS):
        raise TapeError(f"data file {path!r}: not hftbacktest events (fields "
                        f"{', '.join(names) or events.dtype.str}; need {', '.join(FIELDS)})")
    return events


@njit(cache=True, inline="always")
def _better(a, b, desc):
    """a is a better price than b on a side whose best is its highest (desc) or lowest."""
    return a > b if desc else a < b


@njit(cache=True)
def _level_set(lpx, lqty, count, price, qty, desc):
    """A side's best len(lpx) levels (lpx/lqty best first, `count` of them: as many as the
    side has, at most len(lpx)) after price's level was set to qty > 0: updated in place,
    or inserted where it ranks (a full top's worst falls off; it stays in the book), or
    left as it was when price ranks below a full top. The new count."""
    cap = lpx.shape[0]
    k = 0
    while k < count and _better(lpx[k], price, desc):
        k += 1
    if k < count and lpx[k] == price:
        lqty[k] = qty
        return count
    if k == cap:
        return count
    j = count if count < cap else cap - 1
    while j > k:
        lpx[j] = lpx[j - 1]
        lqty[j] = lqty[j - 1]
        j -= 1
    lpx[k] = price
    lqty[k] = qty
    return count + 1 if count < cap else cap


@njit(cache=True)
def _level_delete(lpx, lqty, count, price, side, desc):
    """The best levels after price's level left the side (`side`, the book's dict, no longer
    holds it): out of them, and the best of the side's levels below them moved up in its
    place when the side has one (a scan of the side). The new count."""
    k = 0
    while k < count and lpx[k] != price:
        k += 1
    if k == count:
        return count
    for j in range(k, count - 1):
        lpx[j] = lpx[j + 1]
        lqty[j] = lqty[j + 1]
    count -= 1
    if len(side) > count:  # every level the side holds beyond the top kept is worse
        found = False
        best = 0
        for p in side:
            if (count == 0 or _better(lpx[count - 1], p, desc)) and \
                    (not found or _better(p, best, desc)):
                best = p
                found = True
        if found:
            lpx[count] = best
            lqty[count] = side[best]
            count += 1
    return count


@njit(cache=True)
def replay_book(ev, times, px, lots, out, source, depth):
    """The events through an L2 book into records (out) and, per record, the event it came
    from (source); the records made. The book: a dict a side (price -> lots) and the side's
    best `depth` levels kept in order beside it; depth > 1 adds the depth rows."""
    bids = Dict.empty(key_type=types.int64, value_type=types.int64)
    asks = Dict.empty(key_type=types.int64, value_type=types.int64)
    bid_px = np.zeros(depth, dtype=np.int64)
    bid_qty = np.zeros(depth, dtype=np.int64)
    ask_px = np.zeros(depth, dtype=np.int64)
    ask_qty = np.zeros(depth, dtype=np.int64)
    n_bids, n_asks = 0, 0
    rows = np.zeros((depth, 4), dtype=np.int64)  # per level below the top: the row last sent
    sent = (0, 0, 0, 0)  # the top last sent
    made = 0
    changed = False
    n = ev.shape[0]
    for i in range(n):
        kind = np.int64(ev[i] & np.uint64(0xFF))
        buy = (ev[i] & np.uint64(BUY_EVENT)) != 0
        sell = (ev[i] & np.uint64(SELL_EVENT)) != 0
        if kind == DEPTH_EVENT or kind == DEPTH_SNAPSHOT_EVENT or kind == DEPTH_BBO_EVENT:
            price, qty = px[i], lots[i]
            if buy:
                if qty > 0:
                    bids[price] = qty
                    n_bids = _level_set(bid_px, bid_qty, n_bids, price, qty, True)
                elif price in bids:
                    del bids[price]
                    n_bids = _level_delete(bid_px, bid_qty, n_bids, price, bids, True)
            elif sell:
                if qty > 0:
                    asks[price] = qty
                    n_asks = _level_set(ask_px, ask_qty, n_asks, price, qty, False)
                elif price in asks:
                    del asks[price]
                    n_asks = _level_delete(ask_px, ask_qty, n_asks, price, asks, False)
            changed = True
        elif kind == DEPTH_CLEAR_EVENT:
            if buy or not sell:
                bids = Dict.empty(key_type=types.int64, value_type=types.int64)
                n_bids = 0
            if sell or not buy:
                asks = Dict.empty(key_type=types.int64, value_type=types.int64)
                n_asks = 0
            changed = True
        elif kind == TRADE_EVENT:
            record = out[made]
            record.origin_ns = times[i]
            record.kind = MD_KIND_TRADE
            record.aggressor_side = 1 if buy else (-1 if sell else 0)
            record.trade_px = px[i]
            record.trade_qty = lots[i]
            if n_bids > 0 and bid_px[0] > 0:  # (a bid at 0 is no bid, as before)
                record.bid_px = bid_px[0]
                record.bid_qty = bid_qty[0]
            if n_asks > 0:
                record.ask_px = ask_px[0]
                record.ask_qty = ask_qty[0]
            source[made] = i
            made += 1
        if changed and (i == n - 1 or times[i + 1] != times[i]):
            changed = False
            for level in range(1, depth):
                b_px, b_qty, a_px, a_qty = 0, 0, 0, 0
                if level < n_bids:
                    b_px, b_qty = bid_px[level], bid_qty[level]
                if level < n_asks:
                    a_px, a_qty = ask_px[level], ask_qty[level]
                row = rows[level]
                if b_px != row[0] or b_qty != row[1] or a_px != row[2] or a_qty != row[3]:
                    row[0], row[1], row[2], row[3] = b_px, b_qty, a_px, a_qty
                    record = out[made]
                    record.origin_ns = times[i]
                    record.kind = MD_KIND_DEPTH + level
                    record.bid_px, record.bid_qty = b_px, b_qty
                    record.ask_px, record.ask_qty = a_px, a_qty
                    source[made] = i
                    made += 1
            if n_bids > 0 and bid_px[0] > 0 and n_asks > 0 and bid_px[0] < ask_px[0]:
                top = (bid_px[0], bid_qty[0], ask_px[0], ask_qty[0])
                if top != sent:
                    sent = top
                    record = out[made]
                    record.origin_ns = times[i]
                    record.kind = MD_KIND_QUOTE
                    record.bid_px, record.bid_qty = top[0], top[1]
                    record.ask_px, record.ask_qty = top[2], top[3]
                    source[made] = i
                    made += 1
    return made
