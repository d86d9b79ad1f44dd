"""A strategy's P&L recomputed fill by fill from a run's journal (docs/journal.md).

    tickpipe run --journal journal/ --seconds 5
    python examples/journal_pnl.py journal/            # strategy 1; --strategy 2 for the next

Prints, per symbol, the position, the realised P&L and the P&L marked to the last
mid, all in price units x lots, as the final report's `strategies.<name>.positions`
holds them (tests/test_journal.py checks they are equal). Nothing but the journal
is read: the strategy's reports ring for its fills, the ticks ring for the mids.

The method is the engine's (workers/positions.py), written out: a fill that opens or
adds puts side x qty x price on the cost basis; one that reduces takes the closed
lots' share of the basis off, pro rata, truncated towards zero, and realises what
they fetched less that share. Independently of that method, realised + unrealised
must equal cash + position x mid, where cash is -sum(side x qty x price) over the
fills: the recipe checks that too.
"""

import sys

import tickpipe


def pro_rata(basis: int, part: int, whole: int) -> int:
    share = abs(basis) * part // whole
    return share if basis >= 0 else -share


def strategy_pnl(journal_dir: str, strategy: int = 1) -> dict:
    """{symbol: {position, cost_basis, realised_pnl, cash, mid_px, unrealised_pnl}}."""
    journal = tickpipe.journal.open(journal_dir)
    names = [instrument["name"] for instrument in journal.instruments]
    reports = journal.ring("fills_strategy" if strategy == 1 else f"fills_strategy{strategy}")
    fills = reports[reports["last_qty"] > 0]
    books = {}
    for fill in fills:
        book = books.setdefault(int(fill["symbol_id"]),
                                {"position": 0, "cost_basis": 0, "realised_pnl": 0, "cash": 0})
        side, qty, price = int(fill["side"]), int(fill["last_qty"]), int(fill["last_px"])
        position = book["position"]
        book["cash"] -= side * qty * price
        if position == 0 or (position > 0) == (side > 0):       # opens or adds
            book["cost_basis"] += side * qty * price
        else:                                                   # reduces, maybe flips
            closing = min(qty, abs(position))
            share = pro_rata(book["cost_basis"], closing, abs(position))
            book["realised_pnl"] += (1 if position > 0 else -1) * closing * price - share
            book["cost_basis"] -= share
            if qty > closing:
                book["cost_basis"] = side * (qty - closing) * price
        book["position"] = position + side * qty
    ticks = journal.ring("md_venue")
    quoted = ticks[(ticks["bid_px"] > 0) & (ticks["ask_px"] > 0)]
    result = {}
    for symbol, book in books.items():
        last = quoted[quoted["symbol_id"] == symbol]
        mid = (int(last["bid_px"][-1]) + int(last["ask_px"][-1])) // 2 if len(last) else None
        book["mid_px"] = mid
        book["unrealised_pnl"] = 0 if book["position"] == 0 else (
            None if mid is None else book["position"] * mid - book["cost_basis"])
        if book["unrealised_pnl"] is not None:  # the check that needs no method
            assert book["realised_pnl"] + book["unrealised_pnl"] == \
                book["cash"] + book["position"] * (mid or 0)
        result[names[symbol]] = book
    return result


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 1
    strategy = int(argv[argv.index("--strategy") + 1]) if "--strategy" in argv else 1
    books = strategy_pnl(argv[0], strategy)
    print(f"{'symbol':<12}{'position':>10}{'realised':>16}{'unrealised':>16}{'mid':>12}")
    def cell(value, width):
        return f"{'-' if value is None else f'{value:,}':>{width}}"
    for symbol, book in sorted(books.items()):
        print(f"{symbol:<12}{book['position']:>10,}{book['realised_pnl']:>16,}"
              f"{cell(book['unrealised_pnl'], 16)}{cell(book['mid_px'], 12)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
