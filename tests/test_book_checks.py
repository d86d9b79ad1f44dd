"""engine/book_checks.py: each end-of-run check passes on books that add up and names
the figures of books that do not (so a wrong book can never end a run `stopped`)."""

from types import SimpleNamespace

import numpy as np

from tickpipe.engine.book_checks import (
    check_identities, check_nothing_open, check_sums, check_transitions,
)
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.workers.positions import after_fill

MID = 1_005


def _books(fills):
    """Books as the engine would leave them after `fills` [(strategy, side, qty, px)]."""
    stats = np.zeros(1, dtype=SYMBOL_STATS_DTYPE)
    own = np.zeros((2, 1), dtype=STRATEGY_POSITION_DTYPE)
    for k, side, qty, px in fills:
        row = stats[0]
        p, b, r = after_fill(int(row["position"]), int(row["cost_basis"]), int(row["realised_pnl"]),
                             side, qty, px)
        row["position"], row["cost_basis"], row["realised_pnl"] = p, b, r
        row["cash"] -= side * qty * px
        row["venue_net_qty"] += side * qty
        row["venue_cash"] -= side * qty * px
        mine = own[k, 0]
        p, b, r = after_fill(int(mine["risk_position"]), int(mine["cost_basis"]),
                             int(mine["realised_pnl"]), side, qty, px)
        mine["risk_position"], mine["cost_basis"], mine["realised_pnl"] = p, b, r
        mine["position"] += side * qty
        mine["cash"] -= side * qty * px
    return SimpleNamespace(
        stats=stats, own=own, mids=[MID], retired=[False, False],
        instruments=[SimpleNamespace(name="SYM0")],
        strategies=[SimpleNamespace(name="a", index=0), SimpleNamespace(name="b", index=1)],
        illegal={"a": 0, "b": 0, "venue": 0}, symbol_name=lambda s: "SYM0")


FILLS = [(0, 1, 3, 1_000), (1, -1, 2, 1_010), (0, -1, 1, 1_003), (1, 1, 5, 999), (0, 1, 2, 1_001)]


def test_check_when_the_books_add_up_then_every_check_passes():
    books = _books(FILLS)
    assert check_identities(books) == [] and check_sums(books) == []
    assert check_transitions(books) == [] and check_nothing_open(books) == []


def test_check_when_a_realised_figure_is_off_by_one_unit_then_the_identity_names_it():
    books = _books(FILLS)
    books.own[1, 0]["realised_pnl"] += 1
    failures = check_identities(books) + check_sums(books)
    assert any("strategy b SYM0 (risk's book): realised" in f and "off by 1" in f for f in failures)
    assert any("net P&L" in f for f in failures)


def test_check_when_risk_and_the_venue_disagree_on_cash_then_it_names_both_figures():
    books = _books(FILLS)
    books.stats[0]["venue_cash"] += 7
    assert any("cash at risk" in f and "at venue" in f for f in check_identities(books))


def test_check_when_a_strategy_position_differs_from_risks_then_it_fails_unless_retired():
    books = _books(FILLS)
    books.own[0, 0]["position"] += 1
    assert any("strategy a SYM0: position" in f for f in check_identities(books))
    books.retired[0] = True
    assert not any("strategy a SYM0: position" in f for f in check_identities(books))


def test_check_when_lots_or_orders_are_left_open_after_the_drain_then_each_is_named():
    books = _books(FILLS)
    books.stats[0]["open_sell_qty"] = -3
    books.own[1, 0]["in_flight"] = 1
    failures = check_nothing_open(books)
    assert "engine book SYM0: open_sell_qty -3 after the drain" in failures
    assert "strategy b SYM0: in_flight 1 after the drain" in failures


def test_check_when_an_order_table_refused_a_transition_then_it_is_named():
    books = _books(FILLS)
    books.illegal["b"] = 47
    assert check_transitions(books) == ["strategy b: 47 illegal order state transitions"]
