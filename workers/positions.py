"""Position, exact cost basis and realised P&L from fills (jitted, in the risk worker).

Every book (the engine's per symbol, each strategy's per symbol) keeps four int64
words, all in price units x lots except the position:

    position    signed lots
    cost_basis  the signed cost of the open position: sum of side x qty x price of the
                lots still open (long 3 bought at 100, 101, 101: +302; short: < 0)
    realised    P&L of the lots closed
    cash        -sum(side x qty x price) over every fill: what the fills paid and got

A fill that opens or adds puts side x qty x price on the basis. A fill that reduces
takes the closed lots' share of the basis off it, pro rata (basis x closed / |position|,
truncated towards zero), and realises what they fetched minus that share. No average
price is ever kept, so nothing rounded is carried from fill to fill: the truncation
of one reduce only decides which of realised and the remaining basis holds a unit,
never whether it exists. Hence, exactly, after every fill:

    realised = cash + cost_basis                      (check_book below)
    realised + unrealised = cash + position x mid     where unrealised = position x mid - cost_basis

and a flat book's realised P&L is its cash, -sum(side x qty x price). Fees are kept
apart (the same integer fee on the engine's and the strategy's book).

Every change goes through the worker's open batch (engine/commit.py), so a fill is
applied exactly once however the worker dies. Bounds: |cost_basis| <= max_position x
max price, which engine/config.py checks fits int64 (check_money_bounds); the pro-rata
share is computed without forming basis x closed (which could overflow).
"""

from numba import njit

from tickpipe.engine.commit import txn_set
from tickpipe.shm_layouts.strategy_position import (
    STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE, SYMBOL_STATS_OFFSETS

ROW_SIZE = SYMBOL_STATS_DTYPE.itemsize
POSITION = SYMBOL_STATS_OFFSETS["position"]
COST_BASIS = SYMBOL_STATS_OFFSETS["cost_basis"]
REALISED_PNL = SYMBOL_STATS_OFFSETS["realised_pnl"]
CASH = SYMBOL_STATS_OFFSETS["cash"]
FILLED_QTY = SYMBOL_STATS_OFFSETS["filled_qty"]

STRATEGY_ROW_SIZE = STRATEGY_POSITION_DTYPE.itemsize
S_POSITION = STRATEGY_POSITION_OFFSETS["risk_position"]
S_OPEN_BUY_QTY = STRATEGY_POSITION_OFFSETS["open_buy_qty"]
S_OPEN_SELL_QTY = STRATEGY_POSITION_OFFSETS["open_sell_qty"]
S_ORDERS_SENT = STRATEGY_POSITION_OFFSETS["orders_sent"]
S_REALISED_PNL = STRATEGY_POSITION_OFFSETS["realised_pnl"]
S_COST_BASIS = STRATEGY_POSITION_OFFSETS["cost_basis"]
S_FILLED_QTY = STRATEGY_POSITION_OFFSETS["filled_qty"]
S_FEES = STRATEGY_POSITION_OFFSETS["fees"]


@njit(cache=True)
def stats_field(stats, symbol, offset):
    """Address of one int64 field of stats[symbol]."""
    return stats.ctypes.data + symbol * ROW_SIZE + offset


@njit(cache=True)
def strategy_field(rows, row, offset):
    """Address of one int64 field of strategy-position row `row` (strategy-major)."""
    return rows.ctypes.data + row * STRATEGY_ROW_SIZE + offset


@njit(cache=True, inline="always")
def pro_rata(basis, part, whole):
    """basis x part / whole truncated towards zero, for 0 < part <= whole, without
    forming basis x part: (q x whole + r) x part / whole = q x part + r x part / whole,
    and |r x part| < whole x part stays small (whole <= max_position)."""
    magnitude = abs(basis)
    share = (magnitude // whole) * part + ((magnitude % whole) * part) // whole
    return share if basis >= 0 else -share


@njit(cache=True)
def after_fill(position, basis, realised, side, qty, price):
    """(position, cost basis, realised P&L) after a fill of `qty` lots at `price`."""
    signed = side * qty
    if position == 0 or (position > 0) == (side > 0):
        return position + signed, basis + signed * price, realised   # opening or adding
    closing = min(qty, abs(position))
    share = pro_rata(basis, closing, abs(position))
    direction = 1 if position > 0 else -1
    realised += direction * closing * price - share   # what the closed lots fetched, less their cost
    basis -= share
    opened = qty - closing                               # a flip opens the rest at this price
    if opened > 0:
        basis = side * opened * price
    return position + signed, basis, realised


@njit(cache=True)
def apply_fill(stats, symbol, side, qty, price, txn):
    """Apply a fill of `qty` lots at `price` on `side` (+1/-1) to the engine's book
    of stats[symbol]. Its own book, not the sum of the strategies': a buy of one
    strategy against a sell of another nets here (see docs/orders.md)."""
    row = stats[symbol]
    new_position, basis, realised = after_fill(row.position, row.cost_basis, row.realised_pnl,
                                               side, qty, price)
    txn_set(txn, stats_field(stats, symbol, POSITION), new_position)
    txn_set(txn, stats_field(stats, symbol, COST_BASIS), basis)
    txn_set(txn, stats_field(stats, symbol, REALISED_PNL), realised)
    txn_set(txn, stats_field(stats, symbol, CASH), row.cash - side * qty * price)
    txn_set(txn, stats_field(stats, symbol, FILLED_QTY), row.filled_qty + qty)


@njit(cache=True)
def apply_strategy_fill(rows, row, side, qty, price, txn):
    """The same for the order's strategy: its row of strat_pos (risk's cache line).
    Its cash is the strategy's own word, kept from its reports by the strategy
    (engine/strategy_events.py): the check compares two writers."""
    own = rows[row]
    new_position, basis, realised = after_fill(own.risk_position, own.cost_basis,
                                               own.realised_pnl, side, qty, price)
    txn_set(txn, strategy_field(rows, row, S_POSITION), new_position)
    txn_set(txn, strategy_field(rows, row, S_COST_BASIS), basis)
    txn_set(txn, strategy_field(rows, row, S_REALISED_PNL), realised)
    txn_set(txn, strategy_field(rows, row, S_FILLED_QTY), own.filled_qty + qty)


def unrealised(position: int, cost_basis: int, mid: int) -> int:
    """Unrealised P&L at `mid`, price units x lots (exact: Python ints)."""
    return position * mid - cost_basis
