"""Exact books (workers/positions.py): the identities of docs/orders.md hold to the unit
over any sequence of fills, for every strategy's book and the engine's."""

from fractions import Fraction

from hypothesis import given, settings, strategies as st

from tickpipe.workers.positions import after_fill, pro_rata, unrealised

BUY, SELL = 1, -1


class Book:
    """One book as risk keeps it, plus the fills' cash kept apart (the check's reference)."""

    def __init__(self):
        self.position = self.basis = self.realised = self.cash = 0

    def fill(self, side, qty, price):
        self.position, self.basis, self.realised = (
            int(v) for v in after_fill(self.position, self.basis, self.realised, side, qty, price))
        self.cash -= side * qty * price

    def net(self, mid):
        return self.realised + unrealised(self.position, self.basis, mid)


def test_fill_when_adding_at_two_prices_then_closing_then_realises_the_exact_difference():
    book = Book()
    book.fill(BUY, 1, 100)
    book.fill(BUY, 2, 101)
    book.fill(SELL, 3, 101)
    assert (book.position, book.basis, book.realised) == (0, 0, 1)  # an average cost said 3


def test_fill_when_it_flips_a_long_then_the_rest_opens_at_the_fill_price():
    book = Book()
    book.fill(BUY, 2, 100)
    book.fill(SELL, 5, 110)
    assert (book.position, book.basis, book.realised) == (-3, -330, 20)


def test_fill_when_covering_part_of_a_short_then_realises_its_share_of_the_basis():
    book = Book()
    book.fill(SELL, 2, 100)
    book.fill(BUY, 1, 99)
    assert (book.position, book.basis, book.realised) == (-1, -100, 1)


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6), st.integers(1, 10**6))
def test_pro_rata_when_any_basis_then_equals_the_exact_share_truncated(basis, part, whole):
    part = min(part, whole)
    exact = Fraction(abs(basis) * part, whole)
    share = int(pro_rata(basis, part, whole))
    assert share == (int(exact) if basis >= 0 else -int(exact))


fills = st.lists(st.tuples(st.integers(0, 2), st.sampled_from([BUY, SELL]),
                           st.integers(1, 50), st.integers(9_000, 11_000)),
                 min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(fills, st.integers(9_000, 11_000))
def test_fills_when_several_strategies_trade_both_sides_then_every_identity_holds_exactly(
        sequence, mid):
    engine, books = Book(), [Book(), Book(), Book()]
    for strategy, side, qty, price in sequence:
        engine.fill(side, qty, price)
        books[strategy].fill(side, qty, price)
        for book in [engine] + books:
            assert book.realised == book.cash + book.basis
            if book.position == 0:
                assert book.basis == 0 and book.realised == book.cash
            assert abs(book.basis) <= abs(book.position) * 11_000
    assert engine.position == sum(b.position for b in books)
    assert engine.cash == sum(b.cash for b in books)
    # realised + unrealised = the fills' cash marked at the mid, in every book; so the
    # engine's net P&L is the strategies' summed, to the unit
    for book in [engine] + books:
        assert book.net(mid) == book.cash + book.position * mid
    assert engine.net(mid) == sum(b.net(mid) for b in books)
