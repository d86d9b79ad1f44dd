"""The L2 book through a real engine: a Databento MBP-10 file (written by databento-dbn's
own encoder) replayed with `--depth 5`, the feed killed with SIGKILL mid-replay: at the
end the segment's book and what a user's strategy read through tp.bid_px(ctx, level)
... are the file's last levels of each symbol, every quote reached the strategy once,
and inspect shows the levels."""

import os
import random
import textwrap

import numpy as np
import pytest

from engine_runs import EngineProcess, kill_feed_after, unique_name
from test_feed_sources import dbn_file
from tickpipe.engine.depth import read_depth_rows
from tickpipe.engine.engine_layout import strategy_state
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.segment import attach_segment, unlink_segment
from tickpipe.shm_layouts.depth import DEPTH_DTYPE
from tickpipe.shm_layouts.market_data import PRICE_SCALE

LEVELS = 5        # [feed] depth: the file has 10
SYMBOLS = {101: "AAPL", 102: "MSFT"}
DBN_PRICE = 10**9 // PRICE_SCALE  # DBN prices are 1e-9 units

READER = '''
import numpy as np
from numba import njit

import tickpipe as tp

LEVELS = 5
STATE = np.dtype([("quotes", np.int64), ("levels", np.int64),
                  ("bid_px", np.int64, (LEVELS,)), ("bid_qty", np.int64, (LEVELS,)),
                  ("ask_px", np.int64, (LEVELS,)), ("ask_qty", np.int64, (LEVELS,))])


@njit
def on_quote(ctx, state, params, quote):
    # the book as it stands now: at a symbol's last quote, the file's last levels
    state.quotes += 1
    state.levels = tp.depth_levels(ctx)
    for k in range(LEVELS):
        state.bid_px[k] = tp.bid_px(ctx, k)
        state.bid_qty[k] = tp.bid_qty(ctx, k)
        state.ask_px[k] = tp.ask_px(ctx, k)
        state.ask_qty[k] = tp.ask_qty(ctx, k)
'''


def mbp10_messages(n: int, seed: int = 11):
    """MBP-10 book updates of two instruments, 0.5 ms apart: each moves its mid now and
    then and resizes a few levels; every level of each side always present."""
    import databento_dbn as dbn
    rng = random.Random(seed)
    mids = {iid: 1000 for iid in SYMBOLS}  # cents
    sizes = {iid: [[rng.randint(1, 90) for _ in range(10)] for _ in range(2)] for iid in SYMBOLS}
    messages, books = [], {}
    for i in range(n):
        iid = rng.choice(list(SYMBOLS))
        mids[iid] += rng.choice((-1, 0, 0, 1))
        for _ in range(3):
            sizes[iid][rng.randint(0, 1)][rng.randint(0, 9)] = rng.randint(1, 90)
        bids = [(mids[iid] - 1 - k, sizes[iid][0][k]) for k in range(10)]
        asks = [(mids[iid] + 1 + k, sizes[iid][1][k]) for k in range(10)]
        levels = [dbn.BidAskPair(bid_px=b[0] * 10**7, ask_px=a[0] * 10**7, bid_sz=b[1],
                                 ask_sz=a[1], bid_ct=1, ask_ct=1) for b, a in zip(bids, asks)]
        messages.append(dbn.MBP10Msg(publisher_id=2, instrument_id=iid, ts_event=i,
                                     price=bids[0][0] * 10**7, size=1, action=dbn.Action.ADD,
                                     side=dbn.Side.BID, depth=0,
                                     ts_recv=1_000_000_000 + i * 500_000, levels=levels))
        books[SYMBOLS[iid]] = (bids[:LEVELS], asks[:LEVELS])
    return messages, books


def price_units(cents: int) -> int:
    return cents * 10**7 // DBN_PRICE  # a cent is 10**7 of DBN's 1e-9 units


@pytest.mark.slow
def test_a_replay_with_depth_keeps_the_files_levels_across_a_feed_kill(tmp_path):
    messages, books = mbp10_messages(4000)
    data = dbn_file(tmp_path / "day.mbp10.dbn", "mbp-10", messages, SYMBOLS)
    (tmp_path / "reader.py").write_text(READER)
    (tmp_path / "depth.toml").write_text(textwrap.dedent("""
        [engine]
        ready_timeout_s = 600
        [[strategy]]
        name = "reader"
        path = "reader.py"
        """))
    name = unique_name("depth")
    # 4,000 records 0.5 ms apart at speed 2: a 1 s replay, the feed killed a quarter in
    engine = EngineProcess(name, "--keep", "--data", data, "--speed", "2", "--depth", str(LEVELS),
                           config_file=os.fspath(tmp_path / "depth.toml"))
    try:
        segment = engine.wait_running()
        kill_feed_after(engine, segment, 1000)
        segment.close()
        report = engine.result()
        assert engine.proc.returncode == 0, engine.proc.stderr.read()
        assert report["ticks"] == len(messages) and report["lost"] == 0
        assert any(w["restarts"] >= 1 for w in report["workers"] if w["role"] == "feed")

        segment = attach_segment(name, readonly=True)
        rows = read_depth_rows(segment.view("depth", DEPTH_DTYPE), len(SYMBOLS), LEVELS)
        state = np.array(strategy_state(segment, 0, load_plugin(
            {"name": "reader", "path": os.fspath(tmp_path / "reader.py"),
             "params": {}}).state_dtype))
        segment.close()
        # the instruments are numbered as the data first shows them
        order = list(dict.fromkeys(SYMBOLS[m.instrument_id] for m in messages))
        for k, symbol in enumerate(order):
            bids, asks = books[symbol]
            expected = {"bid_px": [price_units(px) for px, _ in bids],
                        "bid_qty": [qty for _, qty in bids],
                        "ask_px": [price_units(px) for px, _ in asks],
                        "ask_qty": [qty for _, qty in asks]}
            assert rows[k] == expected, symbol
            assert int(state[k]["levels"]) == LEVELS
            assert {field: state[k][field].tolist() for field in expected} == expected, symbol
        assert int(state["quotes"].sum()) == len(messages)
    finally:
        engine.kill()
        unlink_segment(name)


def test_the_walk_quotes_its_levels_a_tick_apart_with_its_top_as_level_0():
    from tickpipe.engine.segment_catalog import book_mids
    from tickpipe.shm_layouts.book import BOOK_DTYPE
    name = unique_name("walkdepth")
    engine = EngineProcess(name, "--keep", "--seconds", "0.3", "--depth", "3")
    try:
        report = engine.result()
        assert engine.proc.returncode == 0, engine.proc.stderr.read()
        segment = attach_segment(name, readonly=True)
        n_symbols = 8
        rows = read_depth_rows(segment.view("depth", DEPTH_DTYPE), n_symbols, 3)
        tops = np.array(segment.view("book", BOOK_DTYPE, n_symbols))
        assert all(mid is not None for mid in book_mids(segment, n_symbols))
        segment.close()
        tick = PRICE_SCALE // 100  # the default [feed] tick_size
        for symbol, row in enumerate(rows):
            bid, ask = int(tops[symbol]["bid_px"]), int(tops[symbol]["ask_px"])
            assert row["bid_px"] == [bid, bid - tick, bid - 2 * tick], symbol
            assert row["ask_px"] == [ask, ask + tick, ask + 2 * tick], symbol
            assert row["bid_qty"][0] == int(tops[symbol]["bid_qty"])
            assert row["ask_qty"][0] == int(tops[symbol]["ask_qty"])
            assert all(q > 0 for q in row["bid_qty"] + row["ask_qty"])
        assert report["ticks"] > 0 and report["lost"] == 0
    finally:
        engine.kill()
        unlink_segment(name)


QUEUER = '''
import numpy as np
from numba import njit

import tickpipe as tp

STATE = np.dtype([("order_id", np.int64)])


@njit
def on_quote(ctx, state, params, quote):
    # once: a buy resting two levels below the best, behind what the book shows there
    if state.order_id == 0 and tp.bid_px(ctx, 2) > 0:
        state.order_id = tp.place(ctx, tp.BUY, 1, tp.bid_px(ctx, 2), tp.GTC)
'''


def static_book_messages(n: int, shrink_at: int):
    """MBP-10 of one instrument, 0.5 ms apart, its prices still: level 2's bid holds 77
    lots until record `shrink_at`, then 50; the top's sizes move (so each is a quote)."""
    import databento_dbn as dbn
    messages = []
    for i in range(n):
        levels = [dbn.BidAskPair(bid_px=(999 - k) * 10**7, ask_px=(1001 + k) * 10**7,
                                 bid_sz=(77 if i < shrink_at else 50) if k == 2 else
                                 10 + (i + k) % 20, ask_sz=10 + (i * 3 + k) % 20,
                                 bid_ct=1, ask_ct=1) for k in range(10)]
        messages.append(dbn.MBP10Msg(publisher_id=2, instrument_id=101, ts_event=i,
                                     price=999 * 10**7, size=1, action=dbn.Action.ADD,
                                     side=dbn.Side.BID, depth=0,
                                     ts_recv=1_000_000_000 + i * 500_000, levels=levels))
    return messages


@pytest.mark.slow
def test_the_venue_queues_an_order_behind_the_best_behind_the_level_the_book_shows():
    """An order two levels below the bid joins behind that level's 77 lots (not behind
    the top's size, as without depth), and moves up when the level shrinks to 50."""
    import tempfile

    from tickpipe.engine.engine_layout import venue_orders
    from tickpipe.shm_layouts.open_order import STATUS_NEW
    with tempfile.TemporaryDirectory() as directory:
        # 2 s of the level at 77 (the order needs a few ms to rest), then 0.5 s at 50
        data = dbn_file(os.path.join(directory, "still.mbp10.dbn"), "mbp-10",
                        static_book_messages(5000, shrink_at=4000), {101: "AAPL"})
        with open(os.path.join(directory, "queuer.py"), "w") as f:
            f.write(QUEUER)
        with open(os.path.join(directory, "queue.toml"), "w") as f:
            f.write('[engine]\nready_timeout_s = 600\n[[strategy]]\nname = "queuer"\n'
                    'path = "queuer.py"\n')
        name = unique_name("queue")
        engine = EngineProcess(name, "--data", data, "--depth", "3",
                               config_file=os.path.join(directory, "queue.toml"))
        try:
            segment = engine.wait_running()
            rows = venue_orders(segment)
            level_2 = price_units(997)

            def resting_queue():
                working = rows[(rows["status"] == STATUS_NEW) & (rows["limit_px"] == level_2)]
                return int(working["queue_ahead"][0]) if len(working) else None

            engine.wait_until(lambda: resting_queue() is not None, "the order resting")
            assert resting_queue() == 77       # the level's lots, not the top's (10-29)
            engine.wait_until(lambda: resting_queue() == 50, "its level shrinking to 50")
            segment.close()
            report = engine.result()
            assert engine.proc.returncode == 0, engine.proc.stderr.read()
            assert report["ticks"] == 5000 and report["lost"] == 0
        finally:
            engine.kill()
            unlink_segment(name)
