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
"""

import os
import zipfile

import numpy as np
from numba import njit, types
from numba.typed import Dict

from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE
from tickpipe.workers.feed_sources.tape import TAPE_DTYPE, Recorded, TapeError, price_gcds

READS = (".npz", ".npy")

EXCH_EVENT = 1 << 31
LOCAL_EVENT = 1 << 30
BUY_EVENT = 1 << 29
SELL_EVENT = 1 << 28
DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT = 1, 2, 3, 4, 5
FIELDS = ("ev", "exch_ts", "local_ts", "px", "qty")
NO_ASK = np.iinfo(np.int64).max


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
    out = np.zeros(len(index), dtype=TAPE_DTYPE)
    source = np.zeros(len(index), dtype=np.int64)
    made = replay_book(ev, times, px_units, lots, out, source)
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


@njit(cache=True)
def _best_bid(bids):
    best = 0
    for price in bids:
        if price > best:
            best = price
    return best


@njit(cache=True)
def _best_ask(asks):
    best = NO_ASK
    for price in asks:
        if price < best:
            best = price
    return best


@njit(cache=True)
def replay_book(ev, times, px, lots, out, source):
    """The events through an L2 book into records (out) and, per record, the event it came
    from (source); the records made."""
    bids = Dict.empty(key_type=types.int64, value_type=types.int64)
    asks = Dict.empty(key_type=types.int64, value_type=types.int64)
    best_bid, best_ask = 0, NO_ASK
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
                    if price > best_bid:
                        best_bid = price
                elif price in bids:
                    del bids[price]
                    if price == best_bid:
                        best_bid = _best_bid(bids)
            elif sell:
                if qty > 0:
                    asks[price] = qty
                    if price < best_ask:
                        best_ask = price
                elif price in asks:
                    del asks[price]
                    if price == best_ask:
                        best_ask = _best_ask(asks)
            changed = True
        elif kind == DEPTH_CLEAR_EVENT:
            if buy or not sell:
                bids = Dict.empty(key_type=types.int64, value_type=types.int64)
                best_bid = 0
            if sell or not buy:
                asks = Dict.empty(key_type=types.int64, value_type=types.int64)
                best_ask = NO_ASK
            changed = True
        elif kind == TRADE_EVENT:
            record = out[made]
            record.origin_ns = times[i]
            record.kind = MD_KIND_TRADE
            record.aggressor_side = 1 if buy else (-1 if sell else 0)
            record.trade_px = px[i]
            record.trade_qty = lots[i]
            if best_bid > 0:
                record.bid_px = best_bid
                record.bid_qty = bids[best_bid]
            if best_ask != NO_ASK:
                record.ask_px = best_ask
                record.ask_qty = asks[best_ask]
            source[made] = i
            made += 1
        if changed and (i == n - 1 or times[i + 1] != times[i]):
            changed = False
            if best_bid > 0 and best_ask != NO_ASK and best_bid < best_ask:
                top = (best_bid, bids[best_bid], best_ask, asks[best_ask])
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
