"""Market data from files (workers/feed/sources/): what each reader makes of a file written
by the format's own writer (csv, numpy), the one-line errors for bad files, and replays
through a real engine that reach the strategy record for record, across a kill -9 of
the feed."""

import csv
import os
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from engine_runs import EngineProcess, kill_feed_after, unique_name
from tickpipe.cli.main import tickpipe
from tickpipe.engine.config import ConfigError, load_config
from tickpipe.engine.engine_layout import strategy_state
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.segment import attach_segment, unlink_segment
from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE
from tickpipe.workers.feed.sources import hftbacktest_npz as hbt


HEADER = ["ts_ns", "symbol", "kind", "bid_px", "bid_qty", "ask_px", "ask_qty", "trade_px",
          "trade_qty", "aggressor"]
T0 = 1_700_000_000_000_000_000


def quote_rows(n: int, spacing_ns: int = 500_000, seed: int = 3) -> list[list]:
    """n lines of two symbols, every 7th a trade, prices on a 0.01 tick."""
    rng = np.random.default_rng(seed)
    mids = {"ACME": 10125, "GLOBEX": 5550}  # in cents
    rows, t = [], T0
    for i in range(n):
        symbol = "GLOBEX" if i % 3 == 1 else "ACME"
        mids[symbol] += int(rng.integers(-1, 2))
        t += spacing_ns
        bid, ask = mids[symbol] - 1, mids[symbol] + 1
        bq, aq = int(rng.integers(1, 500)), int(rng.integers(1, 500))
        if i % 7 == 6:
            side = "buy" if rng.integers(0, 2) else "sell"
            rows.append([t, symbol, "trade", f"{bid / 100:.2f}", bq, f"{ask / 100:.2f}", aq,
                         f"{(ask if side == 'buy' else bid) / 100:.2f}", int(rng.integers(1, 9)),
                         side])
        else:
            rows.append([t, symbol, "quote", f"{bid / 100:.2f}", bq, f"{ask / 100:.2f}", aq,
                         "", "", ""])
    return rows


def write_csv(path, rows, header=HEADER) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return os.fspath(path)


def file_config(path, **feed) -> dict:
    return load_config(overrides={"feed": {"source": "file", "file": os.fspath(path), **feed}})


def tape_of(config) -> np.ndarray:
    return np.load(config["tape"]["path"])


# ---- CSV -----------------------------------------------------------------------------

def test_csv_records_are_the_lines_in_fixed_point_with_instruments_from_the_data(tmp_path):
    rows = quote_rows(50)
    config = file_config(write_csv(tmp_path / "q.csv", rows))
    tape = tape_of(config)
    assert [i["name"] for i in config["instruments"]] == ["ACME", "GLOBEX"]  # first seen first
    assert [i["tick_size"] for i in config["instruments"]] == [PRICE_SCALE // 100] * 2
    assert config["feed"]["symbols"] == 2 and len(tape) == len(rows)
    for record, row in zip(tape, rows):
        assert int(record["origin_ns"]) == row[0]
        assert config["instruments"][record["symbol_id"]]["name"] == row[1]
        assert int(record["bid_px"]) == round(float(row[3]) * PRICE_SCALE)
        assert int(record["ask_qty"]) == row[6]
        if row[2] == "trade":
            assert record["kind"] == MD_KIND_TRADE
            assert int(record["trade_px"]) == round(float(row[7]) * PRICE_SCALE)
            assert int(record["aggressor_side"]) == (1 if row[9] == "buy" else -1)
        else:
            assert record["kind"] == MD_KIND_QUOTE and record["trade_qty"] == 0


def test_csv_symbols_are_checked_against_the_configured_instruments(tmp_path):
    path = write_csv(tmp_path / "q.csv", quote_rows(10))
    with pytest.raises(ConfigError, match=r"line 3: symbol 'GLOBEX' is not a configured "
                                          r"\[\[instrument\]\] \(ACME\)"):
        load_config(overrides={"feed": {"source": "file", "file": path},
                               "instrument": [{"name": "ACME", "tick_size": 100}]})
    config = load_config(overrides={"feed": {"source": "file", "file": path},
                                    "instrument": [{"name": "GLOBEX", "tick_size": 100},
                                                   {"name": "ACME", "tick_size": 100}]})
    tape = tape_of(config)
    assert set(tape["symbol_id"][1::3]) == {0}  # GLOBEX: the config's first
    assert set(tape["symbol_id"][0::3]) == {1}
    with pytest.raises(ConfigError, match="prices off its tick size 500"):
        load_config(overrides={"feed": {"source": "file", "file": path},
                               "instrument": [{"name": "GLOBEX", "tick_size": 500},
                                              {"name": "ACME", "tick_size": 100}]})


def test_a_side_file_gives_a_csv_its_instruments_whole_and_the_data_is_checked_against_it(
        tmp_path):
    path = write_csv(tmp_path / "q.csv", quote_rows(10))
    side = tmp_path / "q.csv.instruments.toml"
    side.write_text('[[instrument]]\nname = "ACME"\ntick_size = 100\nlot_size = 100\n'
                    'currency = "EUR"\n\n[[instrument]]\nname = "GLOBEX"\ntick_size = 100\n'
                    'multiplier = 50.0\n')
    config = load_config(overrides={"feed": {"source": "file", "file": path}})
    assert [(i["name"], i["lot_size"], i["multiplier"], i["currency"])
            for i in config["instruments"]] == [("ACME", 100, 1.0, "EUR"),
                                                ("GLOBEX", 1, 50.0, "USD")]
    assert config["feed"]["symbols"] == 2
    side.write_text('[[instrument]]\nname = "ACME"\ntick_size = 100\n')
    with pytest.raises(ConfigError, match=r"line 3: symbol 'GLOBEX' is not a configured"):
        load_config(overrides={"feed": {"source": "file", "file": path}})
    side.write_text('[[instrument]]\nname = "ACME"\nlot_size = "big"\n')
    with pytest.raises(ConfigError, match=r"instruments file .*q.csv.instruments.toml': "
                                          r"instrument 'ACME': tick_size = None") as caught:
        load_config(overrides={"feed": {"source": "file", "file": path}})
    assert "\n" not in str(caught.value)
    # the config's own tables come first: the side file is not read
    config = load_config(overrides={"feed": {"source": "file", "file": path},
                                    "instrument": [{"name": "GLOBEX", "tick_size": 100},
                                                   {"name": "ACME", "tick_size": 100}]})
    assert [i["name"] for i in config["instruments"]] == ["GLOBEX", "ACME"]


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows.__setitem__(3, rows[3][:5]), r"line 5: the number of columns changed"),
    (lambda rows: rows[4].__setitem__(3, "12x.5"), r"line 6: bid_px '12x.5' is not a number"),
    (lambda rows: rows[2].__setitem__(0, "soon"), r"line 4: ts_ns 'soon' is not an integer"),
    (lambda rows: rows[1].__setitem__(3, rows[1][5]), r"line 3: a quote with bid_px"),
    (lambda rows: rows[6].__setitem__(7, ""), r"line 8: a trade with no trade_px"),
    (lambda rows: rows[2].__setitem__(2, "fill"), r"line 4: kind 'fill' is not one of"),
    (lambda rows: rows[5].__setitem__(0, T0), r"line 7: time .* is before the previous"),
])
def test_a_bad_csv_line_is_one_error_naming_it(tmp_path, edit, message):
    rows = quote_rows(20)
    edit(rows)
    with pytest.raises(ConfigError, match=message) as caught:
        file_config(write_csv(tmp_path / "bad.csv", rows))
    assert "\n" not in str(caught.value)


def test_times_going_back_are_sorted_only_when_asked(tmp_path):
    rows = quote_rows(20)
    rows[5][0], rows[6][0] = rows[6][0], rows[5][0]
    tape = tape_of(file_config(write_csv(tmp_path / "q.csv", rows), reorder=True))
    assert (np.diff(tape["origin_ns"]) >= 0).all() and len(tape) == 20


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"ts_ns,symbol,bid_px\n", "the header lacks ask_px"),
    (b"ts_ns,symbol,bid_px,ask_px\n", "a header and no records"),
    (b"ts_ns,symbol,bid_px,ask_px\n\xff\xfe1,A,1,2\n", "not a UTF-8 text CSV"),
])
def test_an_empty_or_foreign_csv_is_one_error(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        file_config(path)


def test_a_missing_file_or_an_unknown_suffix_is_one_error(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        file_config(tmp_path / "none.csv")
    with pytest.raises(ConfigError, match="No such file"):  # (a journal's folder, mistyped)
        file_config(tmp_path / "journal" / "20261203-182533-usr")
    (tmp_path / "ticks.dat").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot tell its format .* set \[feed\] format"):
        file_config(tmp_path / "ticks.dat")
    with pytest.raises(ConfigError, match=r"no \[feed\] file"):
        load_config(overrides={"feed": {"source": "file"}})


# ---- hftbacktest ----------------------------------------------------------------------

EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"),
                        ("qty", "f8"), ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")],
                       align=True)
BOTH = hbt.EXCH_EVENT | hbt.LOCAL_EVENT


def hbt_events(n: int = 600, seed: int = 5) -> np.ndarray:
    """A snapshot of 5 levels a side, then random level updates, trades and a clear."""
    rng = np.random.default_rng(seed)
    events, ts = [], 1_000_000
    for level in range(5):
        events.append((BOTH | hbt.BUY_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, ts, ts + 7,
                       100.0 - level * 0.5, 2.0 + level, 0, 0, 0))
        events.append((BOTH | hbt.SELL_EVENT | hbt.DEPTH_SNAPSHOT_EVENT, ts, ts + 7,
                       100.5 + level * 0.5, 3.0 + level, 0, 0, 0))
    for i in range(n):
        ts += int(rng.integers(1, 5)) * 1000
        r = int(rng.integers(0, 5))
        if i == n // 2:
            events.append((BOTH | hbt.BUY_EVENT | hbt.DEPTH_CLEAR_EVENT, ts, ts + 7, 0, 0, 0, 0, 0))
        elif r in (0, 1):
            side = hbt.BUY_EVENT if r == 0 else hbt.SELL_EVENT
            px = (99.5 + 0.5 * int(rng.integers(-4, 2))) if r == 0 else \
                (101.0 + 0.5 * int(rng.integers(-2, 4)))
            events.append((BOTH | side | hbt.DEPTH_EVENT, ts, ts + 7, px,
                           float(rng.integers(0, 6)), 0, 0, 0))
        elif r == 2:
            events.append((BOTH | hbt.BUY_EVENT | hbt.TRADE_EVENT, ts, ts + 7, 100.5, 1.0, 0, 0, 0))
        elif r == 3:
            events.append((hbt.EXCH_EVENT | hbt.SELL_EVENT | hbt.DEPTH_EVENT, ts, 0, 100.0, 9.0,
                           0, 0, 0))  # the exchange's view only: not replayed
        else:
            events.append((BOTH | 10, ts, ts + 7, 100.0, 1.0, 7, 0, 0))  # an L3 add: skipped
    return np.array(events, dtype=EVENT_DTYPE)


def reference_tops(events: np.ndarray) -> list[tuple]:
    """What the local side sees, by a plain Python book: per local timestamp that changed
    the book, its top when both sides stand uncrossed and differ from the last; a trade
    per trade event."""
    bids, asks, out, last = {}, {}, [], None
    local = events[(events["ev"] & hbt.LOCAL_EVENT) != 0]
    for i, e in enumerate(local):
        kind, ev = int(e["ev"]) & 0xFF, int(e["ev"])
        px, qty = round(e["px"] * PRICE_SCALE), round(e["qty"])
        book = bids if ev & hbt.BUY_EVENT else asks
        if kind in (1, 4, 5):
            if qty:
                book[px] = qty
            else:
                book.pop(px, None)
        elif kind == 3:
            book.clear()
        elif kind == 2:
            out.append(("trade", int(e["local_ts"]), px, qty))
            continue
        else:
            continue
        if i + 1 < len(local) and local[i + 1]["local_ts"] == e["local_ts"]:
            continue
        if bids and asks and max(bids) < min(asks):
            top = (max(bids), bids[max(bids)], min(asks), asks[min(asks)])
            if top != last:
                last = top
                out.append(("quote", int(e["local_ts"])) + top)
    return out


def test_hftbacktest_events_become_the_local_top_of_book_and_trades(tmp_path):
    events = hbt_events()
    np.savez(tmp_path / "btc.20240101.npz", data=events)
    config = file_config(tmp_path / "btc.20240101.npz")
    assert [i["name"] for i in config["instruments"]] == ["btc"]
    assert config["instruments"][0]["tick_size"] == PRICE_SCALE // 2
    tape = tape_of(config)
    made = []
    for r in tape:
        if r["kind"] == MD_KIND_TRADE:
            made.append(("trade", int(r["origin_ns"]), int(r["trade_px"]), int(r["trade_qty"])))
            assert r["aggressor_side"] == 1
        else:
            made.append(("quote", int(r["origin_ns"]), int(r["bid_px"]), int(r["bid_qty"]),
                         int(r["ask_px"]), int(r["ask_qty"])))
    expected = reference_tops(events)
    assert len(expected) > 100 and made == expected


def test_hftbacktest_sizes_scale_and_a_lost_size_is_refused(tmp_path):
    events = hbt_events(50)
    events["qty"] = events["qty"] / 1000  # 0.002 BTC ...
    np.save(tmp_path / "btc.npy", events)
    with pytest.raises(ConfigError, match=r"event 1: qty 0\.002 rounds to 0 lots .* qty_scale"):
        file_config(tmp_path / "btc.npy")
    tape = tape_of(file_config(tmp_path / "btc.npy", qty_scale=1000.0))
    assert tape[0]["bid_qty"] == 2 and tape[0]["ask_qty"] == 3  # the snapshot's top


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "not a readable .npz/.npy"),
    (lambda p: np.savez(p, data=np.zeros(3, dtype=[("a", "i8")])), "not hftbacktest events"),
    (lambda p: np.savez(p, data=np.zeros(0, dtype=EVENT_DTYPE)), "no quotes or trades"),
])
def test_a_truncated_or_foreign_npz_is_one_error(tmp_path, make, message):
    path = tmp_path / "x.npz"
    make(path)
    with pytest.raises(ConfigError, match=message):
        file_config(path)


# ---- Databento DBN ------------------------------------------------------------------------

def dbn_file(path, schema: str, messages, symbols: dict, compress: bool = False) -> str:
    """A DBN file written by databento-dbn's own encoder (its metadata and records)."""
    import datetime
    from types import SimpleNamespace

    import databento_dbn as dbn
    mappings = [SimpleNamespace(raw_symbol=name, intervals=[SimpleNamespace(
        start_date=datetime.date(2024, 1, 2), end_date=datetime.date(2024, 1, 3),
        symbol=str(iid))]) for iid, name in symbols.items()]
    metadata = dbn.Metadata(dataset="XNAS.ITCH", start=0, stype_in=dbn.SType.RAW_SYMBOL,
                            stype_out=dbn.SType.INSTRUMENT_ID, schema=dbn.Schema.from_str(schema),
                            symbols=list(symbols.values()), mappings=mappings)
    data = metadata.encode() + b"".join(bytes(m) for m in messages)
    if compress:
        import zstandard
        data = zstandard.ZstdCompressor().compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return os.fspath(path)


def mbp1_messages(n: int = 300, seed: int = 9):
    """MBP-1 messages of two instruments: book updates, every 5th a trade; the prices in
    DBN's 1e-9 units on a 0.01 tick. Returns (messages, expected tape rows)."""
    import databento_dbn as dbn
    rng = np.random.default_rng(seed)
    mids = {101: 189_50, 202: 402_10}  # cents
    messages, expected = [], []
    for i in range(n):
        iid = 101 if i % 2 else 202
        mids[iid] += int(rng.integers(-1, 2))
        bid, ask = (mids[iid] - 1) * 10_000_000, (mids[iid] + 1) * 10_000_000
        bq, aq = int(rng.integers(1, 900)), int(rng.integers(1, 900))
        trade = i % 5 == 4
        side = dbn.Side.BID if rng.integers(0, 2) else dbn.Side.ASK
        price = ask if side == dbn.Side.BID else bid
        ts = 1_704_200_000_000_000_000 + i * 1_000
        messages.append(dbn.MBP1Msg(
            publisher_id=2, instrument_id=iid, ts_event=ts - 500, price=price if trade else bid,
            size=3 if trade else bq, action=dbn.Action.TRADE if trade else dbn.Action.ADD,
            side=side if trade else dbn.Side.BID, depth=0, ts_recv=ts,
            levels=dbn.BidAskPair(bid_px=bid, ask_px=ask, bid_sz=bq, ask_sz=aq, bid_ct=1,
                                  ask_ct=1)))
        expected.append((ts, iid, MD_KIND_TRADE if trade else MD_KIND_QUOTE, bid // 100_000,
                         ask // 100_000, bq, aq, price // 100_000 if trade else 0,
                         3 if trade else 0,
                         (1 if side == dbn.Side.BID else -1) if trade else 0))
    return messages, expected


def tape_rows(config) -> list[tuple]:
    names = [i["name"] for i in config["instruments"]]
    ids = {"AAPL": 101, "MSFT": 202}
    return [(int(r["origin_ns"]), ids[names[r["symbol_id"]]], int(r["kind"]), int(r["bid_px"]),
             int(r["ask_px"]), int(r["bid_qty"]), int(r["ask_qty"]), int(r["trade_px"]),
             int(r["trade_qty"]), int(r["aggressor_side"])) for r in tape_of(config)]


@pytest.mark.parametrize("compress", [False, True])
def test_dbn_mbp1_becomes_the_top_of_book_and_trades_named_by_its_symbology(tmp_path, compress):
    messages, expected = mbp1_messages()
    name = "day.dbn.zst" if compress else "day.dbn"
    config = file_config(dbn_file(tmp_path / name, "mbp-1", messages,
                                  {101: "AAPL", 202: "MSFT"}, compress))
    assert [i["name"] for i in config["instruments"]] == ["MSFT", "AAPL"]  # first seen first
    assert tape_rows(config) == expected


def test_dbn_trades_and_mbp10_schemas(tmp_path):
    import databento_dbn as dbn
    trades = [dbn.TradeMsg(publisher_id=2, instrument_id=101, ts_event=i, price=(100 + i) * 10**9,
                           size=i + 1, action=dbn.Action.TRADE, side=dbn.Side.ASK, depth=0,
                           ts_recv=1000 + i) for i in range(20)]
    tape = tape_of(file_config(dbn_file(tmp_path / "t.dbn", "trades", trades, {101: "AAPL"})))
    assert list(tape["trade_px"]) == [(100 + i) * PRICE_SCALE for i in range(20)]
    assert set(tape["kind"]) == {MD_KIND_TRADE} and set(tape["aggressor_side"]) == {-1}
    levels = [dbn.BidAskPair(bid_px=(50 - k) * 10**9, ask_px=(51 + k) * 10**9, bid_sz=10 + k,
                             ask_sz=20 + k, bid_ct=1, ask_ct=1) for k in range(10)]
    depth = [dbn.MBP10Msg(publisher_id=2, instrument_id=101, ts_event=i, price=50 * 10**9,
                          size=1, action=dbn.Action.ADD, side=dbn.Side.BID, depth=0,
                          ts_recv=1000 + i, levels=levels) for i in range(5)]
    tape = tape_of(file_config(dbn_file(tmp_path / "d.dbn", "mbp-10", depth, {101: "AAPL"})))
    assert len(tape) == 5 and set(tape["bid_px"]) == {50 * PRICE_SCALE}
    assert set(tape["ask_px"]) == {51 * PRICE_SCALE} and set(tape["ask_qty"]) == {20}


def test_a_dbn_of_another_schema_truncated_or_foreign_is_one_error(tmp_path):
    import databento_dbn as dbn
    mbo = [dbn.MBOMsg(publisher_id=2, instrument_id=101, ts_event=1, order_id=1,
                      price=10**11, size=1, flags=0, channel_id=0, action=dbn.Action.ADD,
                      side=dbn.Side.BID, ts_recv=2, ts_in_delta=0, sequence=1)]
    with pytest.raises(ConfigError, match="schema mbo is not one tickpipe replays"):
        file_config(dbn_file(tmp_path / "o.dbn", "mbo", mbo, {101: "AAPL"}))
    messages, _ = mbp1_messages(10)
    path = dbn_file(tmp_path / "t.dbn", "mbp-1", messages, {101: "AAPL", 202: "MSFT"})
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 30)
    with pytest.raises(ConfigError, match=r"truncated: 50 bytes of a partial mbp-1 record "
                                          r"after record 9"):
        file_config(path)
    (tmp_path / "x.dbn").write_bytes(b"PK not dbn at all")
    with pytest.raises(ConfigError, match="not a DBN file"):
        file_config(tmp_path / "x.dbn")


# ---- the CLI ---------------------------------------------------------------------------

def test_run_data_sets_the_file_source_and_runs_to_its_end(tmp_path):
    path = write_csv(tmp_path / "q.csv", quote_rows(10))
    result = CliRunner().invoke(tickpipe, ["run", "--data", path, "--speed", "2",
                                           "--print-config"])
    assert result.exit_code == 0, result.output
    assert 'source = "file"' in result.output and f'file = "{path}"' in result.output
    assert "speed = 2.0" in result.output and "seconds = 0.0" in result.output
    bad = CliRunner().invoke(tickpipe, ["run", "--data", path, "--speed", "-1"])
    assert bad.exit_code == 1 and "--speed -1.0: must be >= 0.0" in bad.output


# ---- through the engine ------------------------------------------------------------------

TALLY = '''
import numpy as np
from numba import njit

STATE = np.dtype([("quotes", np.int64), ("trades", np.int64), ("px_sum", np.int64),
                  ("qty_sum", np.int64)])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    state.px_sum += quote.bid_px + 3 * quote.ask_px
    state.qty_sum += quote.bid_qty + 7 * quote.ask_qty


@njit
def on_trade(ctx, state, params, trade):
    state.trades += 1
    state.px_sum += trade.trade_px
    state.qty_sum += trade.trade_qty * trade.aggressor_side
'''


def expected_tallies(rows) -> dict:
    """Per symbol, from the CSV lines (Python's own arithmetic, not the reader's)."""
    out = {}
    for row in rows:
        t = out.setdefault(row[1], [0, 0, 0, 0])
        bid, ask = round(float(row[3]) * PRICE_SCALE), round(float(row[5]) * PRICE_SCALE)
        if row[2] == "trade":
            t[1] += 1
            t[2] += round(float(row[7]) * PRICE_SCALE)
            t[3] += int(row[8]) * (1 if row[9] == "buy" else -1)
        else:
            t[0] += 1
            t[2] += bid + 3 * ask
            t[3] += int(row[4]) + 7 * int(row[6])
    return out


def replay(tmp_path, rows, speed: float, kill_feed_after_ticks: int | None = None):
    """Run the tally strategy over the rows; its per-symbol state and the report."""
    data = write_csv(tmp_path / "day.csv", rows)
    (tmp_path / "tally.py").write_text(TALLY)
    (tmp_path / "replay.toml").write_text(textwrap.dedent("""
        [engine]
        ready_timeout_s = 600
        [[strategy]]
        name = "tally"
        path = "tally.py"
        """))
    name = unique_name("replay")
    engine = EngineProcess(name, "--keep", "--data", data, "--speed", str(speed),
                           config_file=os.fspath(tmp_path / "replay.toml"))
    try:
        if kill_feed_after_ticks is not None:
            segment = engine.wait_running()
            kill_feed_after(engine, segment, kill_feed_after_ticks)
            segment.close()
        report = engine.result()
        assert engine.proc.returncode == 0, engine.proc.stderr.read()
        segment = attach_segment(name, readonly=True)
        dtype = load_plugin({"name": "tally", "path": os.fspath(tmp_path / "tally.py"),
                             "params": {}}).state_dtype
        state = np.array(strategy_state(segment, 0, dtype))
        segment.close()
        return report, state
    finally:
        engine.kill()
        unlink_segment(name)


@pytest.mark.slow
def test_a_replay_reaches_the_strategy_record_for_record(tmp_path):
    rows = quote_rows(3000)
    report, state = replay(tmp_path, rows, speed=0)
    assert report["ticks"] == len(rows) and report["lost"] == 0
    expected = expected_tallies(rows)
    for k, name in enumerate(["ACME", "GLOBEX"]):
        got = [int(state[k][f]) for f in ("quotes", "trades", "px_sum", "qty_sum")]
        assert got == expected[name], name


@pytest.mark.slow
def test_a_feed_killed_mid_replay_resumes_with_nothing_lost_or_sent_twice(tmp_path):
    # 6,000 lines 0.5 ms apart at speed 2: a 1.5 s replay, the feed killed after 1,000.
    rows = quote_rows(6000)
    report, state = replay(tmp_path, rows, speed=2, kill_feed_after_ticks=1000)
    assert report["ticks"] == len(rows)
    assert any(w["restarts"] >= 1 for w in report["workers"] if w["role"] == "feed")
    expected = expected_tallies(rows)
    for k, name in enumerate(["ACME", "GLOBEX"]):
        got = [int(state[k][f]) for f in ("quotes", "trades", "px_sum", "qty_sum")]
        assert got == expected[name], name


@pytest.mark.slow
def test_bench_replay_smoke_times_every_feed_and_loses_nothing():
    import json
    result = CliRunner().invoke(tickpipe, ["bench", "replay", "--smoke", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["results"]}
    assert set(rows) == {"synthetic", "synthetic, depth 10", "csv", "hftbacktest", "dbn",
                         "dbn mbp-10", "dbn mbp-10, depth 10"}
    assert rows["dbn"]["ticks"] == [200_000]
    # with the levels kept, the same quotes and trades reach the strategy, and the depth
    # rows (about two a record, nine when the mid moves) go to the book alone
    deep, top = rows["dbn mbp-10, depth 10"], rows["dbn mbp-10"]
    assert deep["ticks"] == top["ticks"] == [200_000] and top["depth_rows"] == 0
    assert deep["records"] == 200_000 + deep["depth_rows"] and deep["depth_rows"] > 200_000
    assert rows["csv"]["records"] == 200_000 and rows["csv"]["ticks"] == [200_000]
    assert rows["hftbacktest"]["ticks"] == [rows["hftbacktest"]["records"]]
    assert all(row["lost"] == 0 and row["ticks_per_s"] > 0 for row in rows.values())
