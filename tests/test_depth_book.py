"""The L2 book (engine/depth.py, shm_layouts/depth.py): the feed's seqlock writes, the
strategy API's reads by level (tp.bid_px(ctx, level) ...), a dead writer's odd row,
and the config's bounds."""

import numpy as np
import pytest

from tickpipe.engine import strategy_api as tp
from tickpipe.engine.book import BOOK_EMPTY, BOOK_OK, book_write
from tickpipe.engine.config import ConfigError, load_config
from tickpipe.engine.depth import (
    depth_read, depth_read_level, depth_write_level, read_depth_rows, rebuild_depth,
    withdraw_torn_depth,
)
from tickpipe.engine.runner_gen import sample_context
from tickpipe.engine.strategy_context import E_SYMBOL
from tickpipe.shm_layouts.depth import DEPTH_DTYPE

LEVELS = 4


def book(n_symbols=2, levels=LEVELS):
    depth = np.zeros(n_symbols, DEPTH_DTYPE)
    depth["levels"] = levels
    return depth


def write(depth, symbol, level, bid, bid_qty, ask, ask_qty, seq=1):
    depth_write_level(depth, depth.ctypes.data, symbol, level, bid, bid_qty, ask, ask_qty, 7, seq)


def test_each_level_write_moves_the_version_on_by_two_and_reads_back_whole():
    depth = book()
    write(depth, 1, 0, 100, 5, 101, 6)
    write(depth, 1, 2, 98, 7, 103, 8)
    assert int(depth[1]["version"]) == 4 and int(depth[0]["version"]) == 0
    out = np.zeros(4, dtype=np.int64)
    assert depth_read_level(depth, depth.ctypes.data, 1, 2, out) == BOOK_OK
    assert out.tolist() == [98, 103, 7, 8]
    assert depth_read_level(depth, depth.ctypes.data, 0, 2, out) == BOOK_EMPTY
    assert out.tolist() == [0, 0, 0, 0]
    whole = np.zeros((4, LEVELS), dtype=np.int64)
    assert depth_read(depth, depth.ctypes.data, 1, 0, LEVELS, whole) == BOOK_OK
    assert whole.tolist() == [[100, 0, 98, 0], [101, 0, 103, 0], [5, 0, 7, 0], [6, 0, 8, 0]]
    assert read_depth_rows(depth, 2, 3) == [
        None, {"bid_px": [100, 0, 98], "ask_px": [101, 0, 103], "bid_qty": [5, 0, 7],
               "ask_qty": [6, 0, 8]}]


def tape_of(rows) -> np.ndarray:
    """A tape of (symbol, kind, bid_px, bid_qty, ask_px, ask_qty) rows."""
    from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
    tape = np.zeros(len(rows), MARKET_DATA_DTYPE)
    for i, (symbol, kind, bid, bid_qty, ask, ask_qty) in enumerate(rows):
        tape[i]["symbol_id"], tape[i]["kind"] = symbol, kind
        tape[i]["bid_px"], tape[i]["bid_qty"] = bid, bid_qty
        tape[i]["ask_px"], tape[i]["ask_qty"] = ask, ask_qty
    return tape


def test_a_restarted_replay_rebuilds_each_level_from_the_committed_records_only():
    from tickpipe.shm_layouts.market_data import MD_KIND_DEPTH, MD_KIND_QUOTE, MD_KIND_TRADE
    tape = tape_of([
        (0, MD_KIND_DEPTH + 1, 99, 40, 102, 30), (0, MD_KIND_QUOTE, 100, 5, 101, 6),
        (1, MD_KIND_DEPTH + 2, 48, 9, 53, 8), (1, MD_KIND_QUOTE, 50, 1, 51, 2),
        (0, MD_KIND_DEPTH + 1, 98, 41, 102, 31), (0, MD_KIND_TRADE, 100, 5, 101, 6),
        (0, MD_KIND_QUOTE, 100, 7, 101, 8),       # past the commit point: not in the book
    ])
    depth = book()
    write(depth, 0, 3, 1, 1, 1, 1)                # a level written past the commit point
    depth[0]["version"] += 1                      # and a write the kill left half done
    rebuild_depth(depth, tape, 6, LEVELS)
    assert int(depth[0]["version"]) == 4 and int(depth[1]["version"]) == 2  # forward, whole
    assert read_depth_rows(depth, 2, LEVELS) == [
        {"bid_px": [100, 98, 0, 0], "ask_px": [101, 102, 0, 0], "bid_qty": [5, 41, 0, 0],
         "ask_qty": [6, 31, 0, 0]},
        {"bid_px": [50, 0, 48, 0], "ask_px": [51, 0, 53, 0], "bid_qty": [1, 0, 9, 0],
         "ask_qty": [2, 0, 8, 0]}]


def test_the_walks_restart_writes_a_half_written_row_empty_never_torn():
    depth = book()
    write(depth, 0, 1, 99, 3, 102, 4)
    write(depth, 1, 1, 99, 3, 102, 4)
    depth[0]["version"] += 1                      # a feed killed between its two stores
    out = np.zeros(4, dtype=np.int64)
    assert depth_read_level(depth, depth.ctypes.data, 0, 1, out) != BOOK_OK
    assert withdraw_torn_depth(depth) == 1
    assert int(depth[0]["version"]) == 4
    assert depth_read_level(depth, depth.ctypes.data, 0, 1, out) == BOOK_OK
    assert out.tolist() == [0, 0, 0, 0]           # no level until the symbol's next tick
    assert depth_read_level(depth, depth.ctypes.data, 1, 1, out) == BOOK_OK
    assert out.tolist() == [99, 102, 3, 4]        # a whole row is left as it is


@pytest.mark.parametrize("feed, levels", [
    ({"depth": 5}, 5),                            # the walk quotes its levels
    ({"depth": 5, "source": "live"}, 1),          # a live stream has the top only
    ({"depth": 1}, 1),
])
def test_the_engine_keeps_levels_only_where_its_source_gives_them(feed, levels):
    from tickpipe.engine.engine_layout import book_levels
    assert book_levels(load_config(overrides={"feed": feed})) == levels


@pytest.fixture
def ctx():
    ctx, _, _, _ = sample_context(2)
    return ctx._replace(depth=book())


def test_the_api_reads_each_level_of_the_events_symbol_and_zero_past_the_book(ctx):
    book_write(ctx.book, ctx.book.ctypes.data, 1, 100, 101, 5, 6, 1, 1)
    write(ctx.depth, 1, 0, 100, 5, 101, 6)
    write(ctx.depth, 1, 1, 99, 40, 102, 30)
    write(ctx.depth, 1, 3, 97, 7, 104, 9)
    ctx.event[E_SYMBOL] = 1
    assert tp.depth_levels(ctx) == LEVELS
    assert [tp.bid_px(ctx, k) for k in range(LEVELS)] == [100, 99, 0, 97]
    assert [tp.bid_qty(ctx, k) for k in range(LEVELS)] == [5, 40, 0, 7]
    assert [tp.ask_px(ctx, k) for k in range(LEVELS)] == [101, 102, 0, 104]
    assert [tp.ask_qty(ctx, k) for k in range(LEVELS)] == [6, 30, 0, 9]
    # level 0 is the top of book, as best_bid; past the levels kept, and below 0: nothing
    assert tp.bid_px(ctx, 0) == tp.best_bid(ctx) and tp.ask_qty(ctx, 0) == tp.ask_size(ctx)
    assert tp.bid_px(ctx, LEVELS) == 0 and tp.ask_px(ctx, 9) == 0 and tp.bid_px(ctx, -1) == 0
    ctx.event[E_SYMBOL] = 0  # a symbol the feed never wrote: no market at any level
    assert [tp.bid_px(ctx, k) for k in range(LEVELS)] == [0] * LEVELS


def test_an_engine_of_the_top_only_has_one_level(ctx):
    ctx, _, _, _ = sample_context(2)
    book_write(ctx.book, ctx.book.ctypes.data, 0, 100, 101, 5, 6, 1, 1)
    assert tp.depth_levels(ctx) == 1
    assert tp.bid_px(ctx, 0) == 100 and tp.bid_px(ctx, 1) == 0


@pytest.mark.parametrize("levels, error", [(0, "must be >= 1"), (11, "must be <= 10")])
def test_depth_outside_1_to_10_is_one_line_naming_the_key(levels, error):
    with pytest.raises(ConfigError) as caught:
        load_config(overrides={"feed": {"depth": levels}})
    assert "depth" in str(caught.value) and error in str(caught.value)
    assert "\n" not in str(caught.value)
