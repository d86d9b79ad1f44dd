"""Positions and P&L, the seqlocked book and the strategy's signal: the jitted pieces,
called directly on small numpy arrays. (The order state machine: test_order_states.py;
the simulated venue: test_venue.py.)"""

import time

import numpy as np
import pytest

from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.engine.book import (
    BOOK_EMPTY, BOOK_OK, BOOK_UNREADABLE, book_read, book_write, repair_book,
)
from tickpipe.engine.commit import scratch_txn, txn_commit
from tickpipe.workers.positions import apply_fill
from tickpipe.workers.strategies.mean_reversion import STATE, push, signal as signal_side

BUY, SELL = 1, -1


# ---- positions: average cost, realised P&L ------------------------------------------

def fills(*trades, symbol=1):
    """Stats of 3 symbols after applying (side, qty, price) fills to `symbol`."""
    stats = np.zeros(3, dtype=SYMBOL_STATS_DTYPE)
    txn = scratch_txn()
    for side, qty, price in trades:
        apply_fill(stats, symbol, side, qty, price, txn)
        txn_commit(txn)
    return stats


def book_of(stats, symbol=1):
    row = stats[symbol]
    return int(row["position"]), int(row["cost_basis"]), int(row["realised_pnl"])


def test_apply_fill_when_flat_then_it_opens_at_the_fill_price():
    assert book_of(fills((BUY, 10, 100))) == (10, 1000, 0)
    assert book_of(fills((SELL, 10, 100))) == (-10, -1000, 0)


def test_apply_fill_when_adding_then_the_cost_basis_adds_each_fills_cost():
    assert book_of(fills((BUY, 10, 100), (BUY, 30, 120))) == (40, 4600, 0)
    assert book_of(fills((SELL, 10, 100), (SELL, 10, 90))) == (-20, -1900, 0)


def test_apply_fill_when_partly_closing_then_pnl_is_realised_and_the_rest_keeps_its_cost():
    assert book_of(fills((BUY, 10, 100), (SELL, 4, 110))) == (6, 600, 40)
    assert book_of(fills((SELL, 10, 100), (BUY, 4, 110))) == (-6, -600, -40)


def test_apply_fill_when_fully_closing_then_the_position_is_flat_with_no_cost():
    assert book_of(fills((BUY, 10, 100), (BUY, 10, 110), (SELL, 20, 90))) == (0, 0, -300)
    assert book_of(fills((SELL, 10, 100), (BUY, 10, 80))) == (0, 0, 200)


def test_apply_fill_when_a_fill_flips_the_position_then_the_rest_opens_at_the_fill_price():
    assert book_of(fills((BUY, 10, 100), (SELL, 25, 90))) == (-15, -1350, -100)
    assert book_of(fills((SELL, 10, 100), (BUY, 25, 90))) == (15, 1350, 100)


def test_apply_fill_when_filling_then_filled_qty_counts_every_lot_and_other_symbols_stay():
    stats = fills((BUY, 10, 100), (SELL, 25, 90), (BUY, 5, 95))
    assert int(stats[1]["filled_qty"]) == 40
    assert not stats[[0, 2]].tobytes().strip(b"\0")


# ---- the seqlocked book ------------------------------------------------------------

@pytest.fixture
def book():
    """A 4-symbol book; symbol 2 quoted 99 x 101, 30 bid / 20 offered; the rest never written."""
    rows = np.zeros(4, dtype=BOOK_DTYPE)
    book_write(rows, rows.ctypes.data, 2, 99, 101, 30, 20, 123, 7)
    return rows


def read(book, symbol):
    top = np.zeros(4, dtype=np.int64)
    return book_read(book, book.ctypes.data, symbol, top), list(top)


def test_book_read_when_a_symbol_was_written_then_it_returns_what_was_written(book):
    assert read(book, 2) == (1, [99, 101, 30, 20])
    assert (int(book[2]["update_ns"]), int(book[2]["md_seq"]), int(book[2]["version"])) == (123, 7, 2)


def test_book_read_when_a_symbol_was_never_written_then_zero(book):
    assert read(book, 1) == (0, [0, 0, 0, 0])


def test_book_write_when_rewritten_then_the_reader_sees_the_latest_and_the_version_stays_even(book):
    book_write(book, book.ctypes.data, 2, 100, 102, 5, 6, 124, 8)
    assert read(book, 2) == (1, [100, 102, 5, 6])
    assert int(book[2]["version"]) == 4


def test_book_read_when_a_dead_writer_left_a_row_odd_then_it_gives_up_and_says_so(book):
    book[2]["version"] = 3  # killed between its two version stores
    start = time.monotonic()
    assert read(book, 2)[0] == BOOK_UNREADABLE
    assert time.monotonic() - start < 5  # bounded: never spins for good


def test_repair_book_when_a_row_is_odd_then_it_is_withdrawn_until_written_whole_again(book):
    book[2]["version"] = 3  # half written: its price and size may be from two writes
    assert repair_book(book) == 1
    assert int(book[2]["version"]) == 4 and read(book, 2) == (BOOK_EMPTY, [0, 0, 0, 0])  # no market
    book_write(book, book.ctypes.data, 2, 100, 102, 5, 6, 124, 8)
    assert int(book[2]["version"]) == 6 and read(book, 2) == (BOOK_OK, [100, 102, 5, 6])
    assert repair_book(book) == 0


# ---- the strategy's rolling window and signal -----------------------------------------

def test_push_when_the_window_wraps_then_sums_cover_only_the_last_size_values():
    rows = np.zeros(2, dtype=STATE({"window": 3}))
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    held = [push(rows[1], v) for v in values]
    assert held == [1, 2, 3, 3, 3]
    assert (rows[1]["total"], rows[1]["total_sq"]) == (12.0, 50.0)  # 3 + 4 + 5, 9 + 16 + 25
    assert sorted(rows[1]["mids"]) == [3.0, 4.0, 5.0]
    assert (rows[0]["filled"], rows[0]["total"], rows[0]["total_sq"]) == (0, 0.0, 0.0)


def signal(value, window_values, position=0, max_position=100, entry_z=2.0):
    values = np.asarray(window_values, dtype=np.float64)
    return signal_side(value, values.sum(), (values ** 2).sum(), len(values), entry_z, position,
                       max_position)


WINDOW = [0.0] * 9 + [10.0]  # mean 1, standard deviation 3: z(10) = 3, z(-5) = -2


def test_signal_side_when_the_mid_is_far_above_its_mean_then_sell():
    assert signal(10.0, WINDOW) == -1


def test_signal_side_when_the_mid_is_far_below_its_mean_then_buy():
    assert signal(-5.0, WINDOW) == 1


def test_signal_side_when_the_z_score_is_inside_the_entry_band_then_no_signal():
    assert signal(5.0, WINDOW) == 0
    assert signal(10.0, WINDOW, entry_z=3.5) == 0


def test_signal_side_when_the_window_is_flat_then_no_signal():
    assert signal(1.0, [1.0] * 8) == 0


def test_signal_side_when_the_position_is_at_its_limit_then_it_does_not_add():
    assert signal(10.0, WINDOW, position=-100) == 0
    assert signal(-5.0, WINDOW, position=100) == 0
    assert signal(10.0, WINDOW, position=100) == -1  # selling reduces a long
