"""Depth rows from the readers ([feed] depth > 1): hftbacktest's L2 book and DBN's MBP-10
levels below the top, as tape rows of kind MD_KIND_DEPTH + level (workers/feed/sources/
tape.py). Each test reads a file written in its format's own layout (numpy for
hftbacktest's event_dtype, databento-dbn's encoder for DBN) and checks the rows against
the book computed here in plain Python. No engine runs."""

import datetime
import os
from types import SimpleNamespace

import numpy as np
import pytest

from tickpipe.engine.config import ConfigError, load_config
from tickpipe.shm_layouts.market_data import (
    MD_KIND_DEPTH, MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE,
)
from tickpipe.workers.feed.sources import databento_dbn
from tickpipe.workers.feed.sources import hftbacktest_npz as hbt

EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"),
                        ("qty", "f8"), ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")],
                       align=True)
BOTH = hbt.EXCH_EVENT | hbt.LOCAL_EVENT


def file_config(path, **feed) -> dict:
    return load_config(overrides={"feed": {"source": "file", "file": os.fspath(path), **feed}})


def tape_of(config) -> np.ndarray:
    return np.load(config["tape"]["path"])


def rows(tape: np.ndarray) -> list[tuple]:
    return [tuple(int(r[f]) for f in ("origin_ns", "symbol_id", "kind", "aggressor_side",
                                       "trade_qty", "bid_px", "ask_px", "trade_px", "bid_qty",
                                       "ask_qty")) for r in tape]


def without_depth(tape: np.ndarray) -> list[tuple]:
    return rows(tape[tape["kind"] < MD_KIND_DEPTH])


def check_depth_rows_are_well_formed(tape: np.ndarray, depth: int) -> None:
    """Levels 1..depth-1, trade fields 0; within a time, a symbol's depth rows come before
    its quote of that time, in level order."""
    depth_rows = tape[tape["kind"] > MD_KIND_DEPTH]
    assert set(depth_rows["kind"] - MD_KIND_DEPTH) <= set(range(1, depth))
    assert not depth_rows["trade_px"].any() and not depth_rows["trade_qty"].any()
    assert not depth_rows["aggressor_side"].any()
    for side in ("bid", "ask"):  # 0 px with 0 qty: no level; else both
        assert ((depth_rows[f"{side}_px"] == 0) == (depth_rows[f"{side}_qty"] == 0)).all()
    for i in range(len(tape) - 1):
        here, after = tape[i], tape[i + 1]
        if after["symbol_id"] == here["symbol_id"] and after["origin_ns"] == here["origin_ns"]:
            assert here["kind"] != MD_KIND_QUOTE
            if here["kind"] > MD_KIND_DEPTH and after["kind"] > MD_KIND_DEPTH:
                assert after["kind"] > here["kind"]


def tables_at(tape: np.ndarray, times, depth: int, n_symbols: int):
    """The depth rows applied in order to a [symbol][level] table of (bid_px, bid_qty,
    ask_px, ask_qty); yields (t, table) for each t of `times` (ascending), the table with
    every row up to time t applied (the same array each time, updated in place)."""
    table = np.zeros((n_symbols, depth, 4), dtype=np.int64)
    i = 0
    for t in times:
        while i < len(tape) and tape[i]["origin_ns"] <= t:
            r = tape[i]
            if r["kind"] > MD_KIND_DEPTH:
                table[r["symbol_id"], r["kind"] - MD_KIND_DEPTH] = (
                    r["bid_px"], r["bid_qty"], r["ask_px"], r["ask_qty"])
            i += 1
        yield t, table


# ---- hftbacktest ----------------------------------------------------------------------

def hbt_depth_events(n: int = 900, seed: int = 11) -> np.ndarray:
    """A snapshot of 8 levels a side, then level updates and deletes at every depth (some
    several at one local time), BBO updates, trades, exchange-only events, L3 events
    (skipped) and a clear of each side, prices on a 0.5 grid."""
    rng = np.random.default_rng(seed)
    events, ts = [], 1_000_000
    for level in range(8):
        events.append((BOTH | hbt.BUY_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, ts, ts + 7,
                       100.0 - level * 0.5, 2.0 + level, 0, 0, 0))
        events.append((BOTH | hbt.SELL_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, ts, ts + 7,
                       100.5 + level * 0.5, 3.0 + level, 0, 0, 0))
    for i in range(n):
        if rng.integers(0, 3):  # else: at the same local time as the event before
            ts += int(rng.integers(1, 5)) * 1000
        r = int(rng.integers(0, 10))
        if i in (n // 3, 2 * n // 3):
            side = hbt.BUY_EVENT if i == n // 3 else hbt.SELL_EVENT
            events.append((BOTH | side | hbt.DEPTH_CLEAR_EVENT, ts, ts + 7, 0, 0, 0, 0, 0))
        elif r <= 5:
            buy = r % 2 == 0
            px = 100.0 - 0.5 * int(rng.integers(-1, 12)) if buy else \
                100.5 + 0.5 * int(rng.integers(-1, 12))
            qty = 0.0 if rng.integers(0, 3) == 0 else float(rng.integers(1, 9))
            events.append((BOTH | (hbt.BUY_EVENT if buy else hbt.SELL_EVENT) | hbt.DEPTH_EVENT,
                           ts, ts + 7, px, qty, 0, 0, 0))
        elif r == 6:
            buy = bool(rng.integers(0, 2))
            px = 100.0 if buy else 100.5
            events.append((BOTH | (hbt.BUY_EVENT if buy else hbt.SELL_EVENT) |
                           hbt.DEPTH_BBO_EVENT, ts, ts + 7, px, float(rng.integers(1, 9)),
                           0, 0, 0))
        elif r == 7:
            events.append((BOTH | hbt.SELL_EVENT | hbt.TRADE_EVENT, ts, ts + 7, 100.0, 1.0,
                           0, 0, 0))
        elif r == 8:
            events.append((hbt.EXCH_EVENT | hbt.BUY_EVENT | hbt.DEPTH_EVENT, ts, 0, 97.0, 9.0,
                           0, 0, 0))  # the exchange's view only: not replayed
        else:
            events.append((BOTH | 10, ts, ts + 7, 100.0, 1.0, 7, 0, 0))  # an L3 add: skipped
    return np.array(events, dtype=EVENT_DTYPE)


def reference_books(events: np.ndarray, depth: int) -> dict:
    """Per local time whose events touched the book: levels 1..depth-1 after its last
    event, as (bid_px, bid_qty, ask_px, ask_qty), by a plain Python book (dicts, sorted)."""
    bids, asks, out = {}, {}, {}
    local = events[(events["ev"] & hbt.LOCAL_EVENT) != 0]
    for e in local:
        kind, ev = int(e["ev"]) & 0xFF, int(e["ev"])
        book = bids if ev & hbt.BUY_EVENT else asks
        if kind in (hbt.DEPTH_EVENT, hbt.DEPTH_SNAPSHOT_EVENT, hbt.DEPTH_BBO_EVENT):
            px, qty = round(e["px"] * PRICE_SCALE), round(e["qty"])
            if qty:
                book[px] = qty
            else:
                book.pop(px, None)
        elif kind == hbt.DEPTH_CLEAR_EVENT:
            book.clear()
        else:
            continue
        best_bids = sorted(bids, reverse=True)[:depth]
        best_asks = sorted(asks)[:depth]
        levels = []
        for level in range(depth):
            b = (best_bids[level], bids[best_bids[level]]) if level < len(best_bids) else (0, 0)
            a = (best_asks[level], asks[best_asks[level]]) if level < len(best_asks) else (0, 0)
            levels.append(b + a)
        out[int(e["local_ts"])] = levels  # the last event of the time wins
    return out


@pytest.mark.parametrize("depth", [2, 4, 10])
def test_hftbacktest_depth_rows_rebuild_the_books_best_levels(tmp_path, depth):
    events = hbt_depth_events()
    np.savez(tmp_path / "btc.npz", data=events)
    tape = tape_of(config := file_config(tmp_path / "btc.npz", depth=depth))
    top = tape_of(file_config(tmp_path / "btc.npz"))
    assert without_depth(tape) == rows(top)  # quotes and trades as with depth 1
    check_depth_rows_are_well_formed(tape, depth)
    n_depth = int(np.count_nonzero(tape["kind"] > MD_KIND_DEPTH))
    assert config["tape"]["depth_rows"] == n_depth > 50
    assert config["tape"]["quotes"] == int(np.count_nonzero(top["kind"] == MD_KIND_QUOTE))
    expected = reference_books(events, depth)
    assert len(expected) > 400
    for t, table in tables_at(tape, sorted(expected), depth, 1):  # every time that touched it
        assert table[0, 1:].tolist() == [list(v) for v in expected[t][1:]], t
    deep = [levels[depth - 1] for levels in expected.values()]
    assert any(v[0] == 0 for v in deep) and any(v[0] > 0 for v in deep)  # emptied, refilled


def test_hftbacktest_depth_rows_come_at_every_time_that_moved_a_level(tmp_path):
    """A change below the top only: depth rows and no quote; none when nothing moved."""
    t0 = 1_000
    snap = [(BOTH | hbt.BUY_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, t0, t0, 100.0 - k, 1.0 + k,
             0, 0, 0) for k in range(3)]
    snap += [(BOTH | hbt.SELL_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, t0, t0, 101.0 + k, 5.0 + k,
              0, 0, 0) for k in range(3)]
    later = [
        (BOTH | hbt.BUY_EVENT | hbt.DEPTH_EVENT, 2000, 2000, 98.0, 7.0, 0, 0, 0),  # level 2
        (BOTH | hbt.BUY_EVENT | hbt.DEPTH_EVENT, 3000, 3000, 90.0, 1.0, 0, 0, 0),  # level 3
        (BOTH | hbt.SELL_EVENT | hbt.DEPTH_EVENT, 4000, 4000, 102.0, 0.0, 0, 0, 0),  # delete 1
        (BOTH | hbt.BUY_EVENT | hbt.DEPTH_EVENT, 5000, 5000, 100.0, 4.0, 0, 0, 0),  # the top
    ]
    np.save(tmp_path / "x.npy", np.array(snap + later, dtype=EVENT_DTYPE))
    tape = tape_of(file_config(tmp_path / "x.npy", depth=3))
    p = PRICE_SCALE
    assert [(int(r["origin_ns"]), int(r["kind"]), int(r["bid_px"]), int(r["bid_qty"]),
             int(r["ask_px"]), int(r["ask_qty"])) for r in tape] == [
        (t0, MD_KIND_DEPTH + 1, 99 * p, 2, 102 * p, 6),
        (t0, MD_KIND_DEPTH + 2, 98 * p, 3, 103 * p, 7),
        (t0, MD_KIND_QUOTE, 100 * p, 1, 101 * p, 5),
        (2000, MD_KIND_DEPTH + 2, 98 * p, 7, 103 * p, 7),
        # 3000: a fourth bid level, below the three kept: nothing
        (4000, MD_KIND_DEPTH + 1, 99 * p, 2, 103 * p, 7),
        (4000, MD_KIND_DEPTH + 2, 98 * p, 7, 0, 0),
        (5000, MD_KIND_QUOTE, 100 * p, 4, 101 * p, 5),
    ]


def test_depth_rows_prices_count_in_the_tick_and_an_empty_file_still_fails(tmp_path):
    """The top on a 1.0 grid, a level below it at x.5: the tick the data shows is 1.0 with
    depth 1, 0.5 once the level is replayed."""
    events = [(BOTH | hbt.BUY_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, 10, 10, 100.0, 1.0, 0, 0, 0),
              (BOTH | hbt.BUY_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, 10, 10, 98.5, 1.0, 0, 0, 0),
              (BOTH | hbt.SELL_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, 10, 10, 102.0, 1.0, 0, 0, 0)]
    np.save(tmp_path / "g.npy", np.array(events, dtype=EVENT_DTYPE))
    assert file_config(tmp_path / "g.npy")["instruments"][0]["tick_size"] == 2 * PRICE_SCALE
    assert file_config(tmp_path / "g.npy", depth=2)["instruments"][0]["tick_size"] == \
        PRICE_SCALE // 2
    np.savez(tmp_path / "e.npz", data=np.zeros(0, dtype=EVENT_DTYPE))
    with pytest.raises(ConfigError, match="no quotes or trades"):
        file_config(tmp_path / "e.npz", depth=5)


# ---- Databento DBN MBP-10 ------------------------------------------------------------------

def dbn_file(path, schema: str, messages, symbols: dict) -> str:
    """A DBN file written by databento-dbn's own encoder (its metadata and records)."""
    import databento_dbn as dbn
    mappings = [SimpleNamespace(raw_symbol=name, intervals=[SimpleNamespace(
        start_date=datetime.date(2024, 1, 2), end_date=datetime.date(2024, 1, 3),
        symbol=str(iid))]) for iid, name in symbols.items()]
    metadata = dbn.Metadata(dataset="XNAS.ITCH", start=0, stype_in=dbn.SType.RAW_SYMBOL,
                            stype_out=dbn.SType.INSTRUMENT_ID, schema=dbn.Schema.from_str(schema),
                            symbols=list(symbols.values()), mappings=mappings)
    with open(path, "wb") as f:
        f.write(metadata.encode() + b"".join(bytes(m) for m in messages))
    return os.fspath(path)


def mbp10_messages(n: int = 400, seed: int = 13):
    """MBP-10 records of two instruments; each moves a few of its book's 10 levels from its
    previous record (some to DBN's undefined price: no level), every 6th a trade, every
    25th a crossed top (not sent as a quote). Returns (messages, per record (instrument,
    its 10 levels as (bid_px, bid_qty, ask_px, ask_qty) in price units, 0 0 for none))."""
    import databento_dbn as dbn
    rng = np.random.default_rng(seed)
    undef = databento_dbn.UNDEF_PRICE
    books = {iid: [[(mid - 1 - k) * 10**7, 10 + k, (mid + 1 + k) * 10**7, 20 + k]
                   for k in range(10)] for iid, mid in ((101, 18950), (202, 40210))}
    messages, expected = [], []
    for i in range(n):
        iid = 101 if rng.integers(0, 3) else 202
        book = books[iid]
        for _ in range(int(rng.integers(0, 4))):
            level, side = int(rng.integers(1, 10)), int(rng.integers(0, 2)) * 2
            if rng.integers(0, 4) == 0:
                book[level][side:side + 2] = [undef, 0]
            else:
                tick = (book[0][0] // 10**7 - level) if side == 0 else (book[0][2] // 10**7
                                                                        + level)
                book[level][side:side + 2] = [tick * 10**7, int(rng.integers(1, 500))]
        book[0][1], book[0][3] = int(rng.integers(1, 500)), int(rng.integers(1, 500))
        top = list(book[0])
        if i % 25 == 24:
            top[0] = top[2]  # crossed (locked): no quote, the levels below still move
        trade = i % 6 == 5
        levels = [dbn.BidAskPair(bid_px=(top if k == 0 else book[k])[0],
                                 ask_px=(top if k == 0 else book[k])[2],
                                 bid_sz=(top if k == 0 else book[k])[1],
                                 ask_sz=(top if k == 0 else book[k])[3], bid_ct=1, ask_ct=1)
                  for k in range(10)]
        ts = 1_704_200_000_000_000_000 + i * 1_000
        messages.append(dbn.MBP10Msg(
            publisher_id=2, instrument_id=iid, ts_event=ts - 500, price=book[0][2], size=2,
            action=dbn.Action.TRADE if trade else dbn.Action.MODIFY,
            side=dbn.Side.BID if trade else dbn.Side.ASK, depth=0, ts_recv=ts, levels=levels))
        expected.append((iid, ts, [
            tuple(0 if px == undef else v for px, v in ((lv[0], lv[0] // 10**5), (lv[0], lv[1]),
                                                         (lv[2], lv[2] // 10**5), (lv[2], lv[3])))
            for lv in (top if k == 0 else book[k] for k in range(10))]))
    return messages, expected


@pytest.mark.parametrize("depth", [2, 6, 10])
def test_dbn_mbp10_depth_rows_rebuild_each_records_levels(tmp_path, depth):
    messages, expected = mbp10_messages()
    path = dbn_file(tmp_path / "d.dbn", "mbp-10", messages, {101: "AAPL", 202: "MSFT"})
    config = file_config(path, depth=depth)
    tape, top = tape_of(config), tape_of(file_config(path))
    assert without_depth(tape) == rows(top)  # quotes and trades as with depth 1
    assert len(top) < len(messages)  # the crossed tops are not sent, their levels below are
    check_depth_rows_are_well_formed(tape, depth)
    assert config["tape"]["depth_rows"] == int(np.count_nonzero(tape["kind"] > MD_KIND_DEPTH))
    names = [i["name"] for i in config["instruments"]]
    sid = {101: names.index("AAPL"), 202: names.index("MSFT")}
    last = {iid: [(0, 0, 0, 0)] * 10 for iid in sid}
    by_time = {ts: (iid, levels) for iid, ts, levels in expected}
    for t, table in tables_at(tape, sorted(by_time), depth, 2):  # after every record ...
        iid, levels = by_time[t]
        last[iid] = levels  # ... its instrument's levels are the record's, the other's kept
        for k in sid:
            assert table[sid[k], 1:].tolist() == [list(v) for v in last[k][1:depth]], t

    recorded = databento_dbn.read(path, {"depth": depth})  # rows name their records
    assert (recorded.records["origin_ns"] ==
            np.array([expected[k - 1][1] for k in recorded.lines])).all()


def test_depth_one_mbp1_and_tbbo_have_no_depth_rows_and_the_cache_key_has_depth(tmp_path):
    import databento_dbn as dbn
    messages, _ = mbp10_messages(60)
    path = dbn_file(tmp_path / "d.dbn", "mbp-10", messages, {101: "AAPL", 202: "MSFT"})
    one, three, again = (file_config(path, depth=d) for d in (1, 3, 3))
    assert one["tape"]["depth_rows"] == 0 and three["tape"]["depth_rows"] > 0
    assert not (tape_of(one)["kind"] > MD_KIND_DEPTH).any()
    assert one["tape"]["path"] != three["tape"]["path"] == again["tape"]["path"]
    mbp1 = [dbn.MBP1Msg(publisher_id=2, instrument_id=101, ts_event=i, price=10**11, size=1,
                        action=dbn.Action.TRADE if i % 3 == 0 else dbn.Action.ADD,
                        side=dbn.Side.BID, depth=0, ts_recv=1000 + i,
                        levels=dbn.BidAskPair(bid_px=10**11, ask_px=10**11 + 10**7,
                                              bid_sz=1 + i, ask_sz=2, bid_ct=1, ask_ct=1))
            for i in range(12)]
    for schema in ("mbp-1", "tbbo"):
        p = dbn_file(tmp_path / f"{schema}.dbn", schema, mbp1, {101: "AAPL"})
        deep, flat = file_config(p, depth=10), file_config(p)
        assert deep["tape"]["depth_rows"] == 0
        assert rows(tape_of(deep)) == rows(tape_of(flat))
        assert set(tape_of(deep)["kind"]) == {MD_KIND_QUOTE, MD_KIND_TRADE}
    events = hbt_depth_events(100)
    np.savez(tmp_path / "btc.npz", data=events)
    one, two = file_config(tmp_path / "btc.npz"), file_config(tmp_path / "btc.npz", depth=2)
    assert one["tape"]["depth_rows"] == 0 and not (tape_of(one)["kind"] > MD_KIND_DEPTH).any()
    assert one["tape"]["path"] != two["tape"]["path"] and two["tape"]["depth_rows"] > 0


def test_times_going_back_with_levels_are_refused_even_when_reorder_is_asked(tmp_path):
    """A depth row is a change against the symbol's record before it in the file: sorted,
    the changes would apply in another order, so a file whose times go back keeps its
    levels only when it is sorted first (with depth = 1 reorder still sorts it)."""
    messages, _ = mbp10_messages()
    messages[3], messages[4] = messages[4], messages[3]  # one record out of time order
    path = dbn_file(tmp_path / "back.dbn", "mbp-10", messages, {101: "AAPL", 202: "MSFT"})
    with pytest.raises(ConfigError) as caught:
        file_config(path, depth=3, reorder=True)
    assert "times go back" in str(caught.value) and "[feed] depth = 1" in str(caught.value)
    assert tape_of(file_config(path, reorder=True)) is not None  # the top alone: sorted
