"""The engine's own books, checked at the end of a run: does everything add up?

Each check compares figures kept by *different writers* (risk, the gateway's venue,
each strategy from its own reports), so a bookkeeping fault in one of them shows as
a difference instead of passing as a figure. Every check returns None or one line
naming what differs, with the figures. The supervisor runs them after the drain
(`check_books`); a run that fails one ends `inconsistent` and exits 1. `tickpipe
bench chaos` and the tests run the same functions.

The identities, exact in integers (price units x lots; docs/orders.md):
  every book       realised = cash + cost_basis              (workers/positions.py)
  the engine's     risk's cash = the venue's cash of the fills it sent; positions alike
  each strategy's  risk's book of it: position and cash = the strategy's own, from its
                   reports
  across books     engine net P&L = sum of the strategies' net P&L, per symbol, at the
                   same mid (cross-strategy fills: each strategy books its own fill at
                   its own price; the engine's book nets them, so what one strategy's
                   buy against another's sell realises shows in the engine's realised
                   and in the strategies' unrealised; realised + unrealised adds up)
  after a clean drain  nothing open at risk (lots, orders), nothing in flight at any
                   strategy, nothing working at the venue
  always           no illegal order-state transition (strategies, venue)
A strategy the supervisor retired stops reading its reports: its own figures are
left out of the strategy-against-risk checks (risk's book of it still counts).
"""

import numpy as np

from tickpipe.engine.engine_layout import strategy_worker
from tickpipe.engine.segment_catalog import (
    book_mids, read_instruments, read_strategies, strategy_position_rows,
)
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_ILLEGAL_TRANSITIONS, STRATEGY_ILLEGAL_TRANSITIONS, WORKER_DTYPE,
)


def _net(realised: int, position: int, cost_basis: int, fees: int, mid: int | None) -> int | None:
    if position == 0:
        return realised - fees
    return None if mid is None else realised + position * mid - cost_basis - fees


def book_identity(name: str, realised: int, cash: int, cost_basis: int) -> str | None:
    """realised = cash + cost_basis: what the fills paid and got, less the open lots' cost."""
    if realised != cash + cost_basis:
        return (f"{name}: realised {realised:,} != cash {cash:,} + cost basis {cost_basis:,} "
                f"(off by {realised - cash - cost_basis:,})")
    return None


def equal(name: str, what: str, left_name: str, left: int, right_name: str, right: int) -> str | None:
    if left != right:
        return f"{name}: {what} at {left_name} {left:,} != at {right_name} {right:,}"
    return None


class Books:
    """One copy of everything the checks read, taken after the workers stopped."""

    def __init__(self, segment):
        control = segment.view("control", CONTROL_DTYPE)[0]
        self.stats = np.array(segment.view("symbols", SYMBOL_STATS_DTYPE))
        n_symbols = len(self.stats)
        self.instruments = read_instruments(segment, n_symbols)
        self.mids = book_mids(segment, n_symbols)
        self.strategies = read_strategies(segment)
        self.retired = [bool(control["retired"][k]) if k < len(control["retired"]) else False
                        for k in range(len(self.strategies))]
        rows = strategy_position_rows(segment, len(self.strategies), n_symbols)
        self.own = np.array(rows) if rows is not None else None  # [strategy, symbol]
        workers = segment.view("workers", WORKER_DTYPE)  # every row: a declared role's
        names = [bytes(row["role_name"]).decode() for row in workers]  # is past n_workers
        counters = {name: np.array(row["counters"]) for name, row in zip(names, workers)}
        self.illegal = {table.name: int(counters[strategy_worker(table.index)]
                                        [STRATEGY_ILLEGAL_TRANSITIONS])
                        for table in self.strategies if strategy_worker(table.index) in counters}
        self.illegal["venue"] = int(counters["gateway"][GATEWAY_ILLEGAL_TRANSITIONS]) \
            if "gateway" in counters else 0

    def symbol_name(self, symbol: int) -> str:
        return self.instruments[symbol].name


def check_identities(books: Books) -> list[str]:
    """Every book: realised = cash + cost basis; the engine's against the venue's."""
    failures = []
    for s, row in enumerate(books.stats):
        sym = books.symbol_name(s)
        failures += [
            book_identity(f"engine book {sym}", int(row["realised_pnl"]), int(row["cash"]),
                          int(row["cost_basis"])),
            equal(f"engine book {sym}", "position", "risk", int(row["position"]), "venue",
                  int(row["venue_net_qty"])),
            equal(f"engine book {sym}", "cash", "risk", int(row["cash"]), "venue",
                  int(row["venue_cash"]))]
    if books.own is None:
        return [f for f in failures if f]
    for table in books.strategies:
        for s in range(len(books.stats)):
            own = books.own[table.index, s]
            name = f"strategy {table.name} {books.symbol_name(s)}"
            failures.append(book_identity(f"{name} (risk's book)", int(own["realised_pnl"]),
                                          int(own["cash"]), int(own["cost_basis"]))
                            if not books.retired[table.index] else None)
            if not books.retired[table.index]:
                failures.append(equal(name, "position", "strategy", int(own["position"]),
                                      "risk", int(own["risk_position"])))
    return [f for f in failures if f]


def check_sums(books: Books) -> list[str]:
    """Per symbol: the strategies' books add up to the engine's (position, cash, fees,
    net P&L at the same mid)."""
    if books.own is None:
        return []
    failures = []
    for s, row in enumerate(books.stats):
        sym = books.symbol_name(s)
        mine = books.own[:, s]
        failures += [
            equal(f"symbol {sym}", "position", "engine", int(row["position"]),
                  "sum of strategies", int(mine["risk_position"].sum())),
            equal(f"symbol {sym}", "fees", "engine", int(row["fees"]),
                  "sum of strategies", int(mine["fees"].sum()))]
        engine_net = _net(int(row["realised_pnl"]), int(row["position"]), int(row["cost_basis"]),
                          int(row["fees"]), books.mids[s])
        nets = [_net(int(o["realised_pnl"]), int(o["risk_position"]), int(o["cost_basis"]),
                     int(o["fees"]), books.mids[s]) for o in mine]
        if engine_net is not None and None not in nets:
            mark = "" if books.mids[s] is None else f" at mid {books.mids[s]:,}"
            failures.append(equal(f"symbol {sym}", f"net P&L{mark}", "engine",
                                  engine_net, "sum of strategies", sum(nets)))
    return [f for f in failures if f]


def check_nothing_open(books: Books) -> list[str]:
    """After a clean drain: no lots or orders open at risk, nothing in flight at a
    strategy, nothing working at the venue."""
    failures = []
    for s, row in enumerate(books.stats):
        sym = books.symbol_name(s)
        for field in ("open_buy_qty", "open_sell_qty", "open_orders", "venue_resting"):
            if int(row[field]) != 0:
                failures.append(f"engine book {sym}: {field} {int(row[field]):,} after the drain")
    if books.own is not None:
        for table in books.strategies:
            for s in range(len(books.stats)):
                own = books.own[table.index, s]
                fields = ("open_buy_qty", "open_sell_qty") + \
                    (("in_flight",) if not books.retired[table.index] else ())
                for field in fields:
                    if int(own[field]) != 0:
                        failures.append(f"strategy {table.name} {books.symbol_name(s)}: "
                                        f"{field} {int(own[field]):,} after the drain")
    return failures


def check_transitions(books: Books) -> list[str]:
    return [f"{'the venue' if who == 'venue' else 'strategy ' + who}: {n:,} illegal order "
            f"state transitions" for who, n in books.illegal.items() if n != 0]


def check_books(segment, *, drained: bool) -> list[str]:
    """Every check; `drained`: the run ended with a clean drain, so nothing may be open."""
    books = Books(segment)
    failures = check_identities(books) + check_sums(books) + check_transitions(books)
    if drained:
        failures += check_nothing_open(books)
    return failures
