"""The book's seqlock stays monotonic (engine/book.py): a withdraw moves the version forward
like a write, so a reader preempted across a feed's restart never takes a torn row.

The reader is run in its two halves (book_read_begin + book_read_copy, then
book_read_end) with writes, a killed write and the restarted feed's withdraw put in
between, deterministically. Were the withdraw to reset the version to 0 (as it once
did), the rewrite after it would bring back the very version the reader saw first,
and the reader would accept a copy made of two writes (ABA).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpipe.engine.book import (
    BOOK_EMPTY, BOOK_OK, BOOK_UNREADABLE, book_read, book_read_begin, book_read_copy,
    book_read_end, book_withdraw, book_write, repair_book,
)
from tickpipe.engine.segment_catalog import book_mids
from tickpipe.shm_layouts.book import BOOK_DTYPE

N_SYMBOLS = 2
# book_write's field stores, in its order: a feed killed mid-write did a prefix of them
WRITE_FIELDS = ("bid_px", "ask_px", "bid_qty", "ask_qty", "update_ns", "md_seq", "no_market")


def new_book():
    return np.zeros(N_SYMBOLS, dtype=BOOK_DTYPE)


def write(book, symbol, bid, ask, bid_qty=10, ask_qty=20):
    book_write(book, book.ctypes.data, symbol, bid, ask, bid_qty, ask_qty, 1, 1)


def killed_write(book, symbol, bid, ask, stores):
    """What a feed killed inside book_write leaves: the odd version, then the first
    `stores` field stores of a quote bid x ask (10 x 20 lots)."""
    values = {"bid_px": bid, "ask_px": ask, "bid_qty": 10, "ask_qty": 20, "update_ns": 1,
              "md_seq": 1, "no_market": 0}
    book[symbol]["version"] = int(book[symbol]["version"]) | 1
    for field in WRITE_FIELDS[:stores]:
        book[symbol][field] = values[field]


def read(book, symbol):
    top = np.full(4, -7, dtype=np.int64)  # junk: a status other than OK must clear it
    return book_read(book, book.ctypes.data, symbol, top), list(top)


class Reader:
    """book_read cut in two: begin() takes the version and copies the row; end() says
    whether that copy is one write's."""

    def __init__(self, book, symbol):
        self.book, self.symbol = book, symbol
        self.top = np.zeros(4, dtype=np.int64)

    def begin(self):
        self.before = book_read_begin(self.book.ctypes.data, self.symbol)
        self.no_market = book_read_copy(self.book, self.symbol, self.top)
        return self.before

    def end(self):
        return book_read_end(self.book.ctypes.data, self.symbol, self.before)


def test_reader_preempted_across_a_withdraw_and_a_rewrite_should_not_accept_its_copy():
    book = new_book()
    write(book, 1, 99, 101)
    reader = Reader(book, 1)
    assert reader.begin() == 2  # even: it copies the row, then is preempted
    killed_write(book, 1, 200, 202, stores=1)  # the feed dies after the new bid
    assert repair_book(book) == 1  # restarted, it withdraws the half-written row
    write(book, 1, 300, 302)  # and writes it whole again
    assert int(book[1]["version"]) not in (0, 2)
    assert not reader.end()  # the version it read is gone for good: copy again
    assert read(book, 1) == (BOOK_OK, [300, 302, 10, 20])


def test_reader_whose_copy_is_torn_by_a_killed_write_should_not_accept_it_after_the_rewrite():
    book = new_book()
    write(book, 1, 99, 101)
    killed_write(book, 1, 200, 202, stores=1)  # bid 200 beside the old ask 101
    repair_book(book)
    reader = Reader(book, 1)
    # a reader that took the version before the kill and copied after it
    reader.before = 2
    book_read_copy(book, 1, reader.top)
    assert list(reader.top) == [200, 101, 10, 20]  # a mix of two writes
    write(book, 1, 300, 302)
    assert not reader.end()


def test_reader_that_began_before_a_withdraw_should_find_no_market_when_it_reads_again():
    book = new_book()
    write(book, 0, 99, 101)
    reader = Reader(book, 0)
    reader.begin()
    killed_write(book, 0, 200, 202, stores=2)
    repair_book(book)
    assert not reader.end()
    assert read(book, 0) == (BOOK_EMPTY, [0, 0, 0, 0])


def test_withdrawn_row_should_read_as_no_market_never_as_a_price():
    book = new_book()
    write(book, 0, 99, 101)
    killed_write(book, 0, 200, 202, stores=4)  # every price and size stored: looks whole
    assert read(book, 0) == (BOOK_UNREADABLE, [0, 0, 0, 0])
    repair_book(book)
    assert int(book[0]["no_market"]) == 1 and int(book[0]["version"]) % 2 == 0
    assert read(book, 0) == (BOOK_EMPTY, [0, 0, 0, 0])
    reader = Reader(book, 0)
    reader.begin()
    assert reader.end() and reader.no_market == 1  # consistent, and says no market


class OneSection:
    """As much of a Segment as book_mids uses."""

    def __init__(self, book):
        self.book = book

    def view(self, name, dtype):
        assert name == "book" and dtype == BOOK_DTYPE
        return self.book


def test_book_mids_when_a_row_is_withdrawn_then_it_has_no_mid():
    book = new_book()
    write(book, 0, 98, 102)
    write(book, 1, 99, 101)
    killed_write(book, 1, 200, 202, stores=4)
    repair_book(book)
    assert book_mids(OneSection(book), N_SYMBOLS) == [100, None]
    write(book, 1, 300, 302)
    assert book_mids(OneSection(book), N_SYMBOLS) == [100, 301]


def test_withdraw_of_a_whole_row_should_move_its_version_forward_by_two():
    book = new_book()
    write(book, 0, 99, 101)
    book_withdraw(book, book.ctypes.data, 0)
    assert int(book[0]["version"]) == 4 and read(book, 0)[0] == BOOK_EMPTY
    write(book, 0, 99, 101)
    assert int(book[0]["version"]) == 6 and read(book, 0)[0] == BOOK_OK


# ---- against a model ------------------------------------------------------------------

symbols = st.integers(min_value=0, max_value=N_SYMBOLS - 1)
prices = st.integers(min_value=1, max_value=1_000)
operations = st.lists(st.one_of(
    st.tuples(st.just("write"), symbols, prices, prices),
    st.tuples(st.just("kill"), symbols, prices, st.integers(min_value=0, max_value=len(WRITE_FIELDS))),
    st.tuples(st.just("repair")),
    st.tuples(st.just("begin"), symbols),
    st.tuples(st.just("end"), st.integers(min_value=0, max_value=20)),
), max_size=40)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_version_should_never_go_back_and_no_reader_should_accept_a_row_that_changed(ops):
    book = new_book()
    # model per symbol: None (no market), ("quote", bid, ask) or "odd" (a write died in it)
    model = [None] * N_SYMBOLS
    changes = [0] * N_SYMBOLS  # writes, killed writes and withdraws so far, per symbol
    seen = {}  # (symbol, even version) -> what the row held then: each names one write for good
    readers = []
    for op in ops:
        before = [int(v) for v in book["version"]]
        if op[0] == "write":
            _, symbol, bid, ask = op
            write(book, symbol, bid, bid + ask)
            model[symbol] = ("quote", bid, bid + ask)
            changes[symbol] += 1
        elif op[0] == "kill":
            _, symbol, bid, stores = op
            killed_write(book, symbol, bid, bid + 1, stores)
            model[symbol] = "odd"
            changes[symbol] += 1
        elif op[0] == "repair":
            for symbol in range(N_SYMBOLS):
                if model[symbol] == "odd":
                    model[symbol] = None
                    changes[symbol] += 1
            repair_book(book)
        elif op[0] == "begin":
            reader = Reader(book, op[1])
            version = reader.begin()
            if version and version % 2 == 0:  # else book_read would not copy: retry or no market
                readers.append((reader, changes[op[1]], model[op[1]]))
        elif readers:
            reader, changes_then, model_then = readers.pop(op[1] % len(readers))
            accepted = reader.end()
            assert accepted == (changes[reader.symbol] == changes_then)
            if accepted and reader.no_market == 0:
                assert model_then == ("quote", *[int(x) for x in reader.top[:2]])
            if accepted and reader.no_market:
                assert model_then is None
        for symbol in range(N_SYMBOLS):
            version = int(book[symbol]["version"])
            assert version >= before[symbol]
            if model[symbol] == "odd":  # book_read would spin BOOK_READ_TRIES times: UNREADABLE
                assert version % 2 == 1
                continue
            status, top = read(book, symbol)
            if model[symbol] is None:
                assert (status, top) == (BOOK_EMPTY, [0, 0, 0, 0])
            else:
                assert (status, top[:2]) == (BOOK_OK, list(model[symbol][1:]))
            if version % 2 == 0:
                assert seen.setdefault((symbol, version), model[symbol]) == model[symbol]
