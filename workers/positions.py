"""Position and realised P&L from fills, average-cost method (jitted, in the risk worker).

Every change goes through the worker's open batch (engine/commit.py), so a fill is
applied exactly once however the worker dies.
"""

from numba import njit

from tickpipe.engine.commit import txn_set
from tickpipe.shm_layouts.strategy_position import (
    STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE, SYMBOL_STATS_OFFSETS

ROW_SIZE = SYMBOL_STATS_DTYPE.itemsize
POSITION = SYMBOL_STATS_OFFSETS["position"]
AVG_COST_PX = SYMBOL_STATS_OFFSETS["avg_cost_px"]
REALISED_PNL = SYMBOL_STATS_OFFSETS["realised_pnl"]
FILLED_QTY = SYMBOL_STATS_OFFSETS["filled_qty"]

STRATEGY_ROW_SIZE = STRATEGY_POSITION_DTYPE.itemsize
S_POSITION = STRATEGY_POSITION_OFFSETS["risk_position"]
S_OPEN_BUY_QTY = STRATEGY_POSITION_OFFSETS["open_buy_qty"]
S_OPEN_SELL_QTY = STRATEGY_POSITION_OFFSETS["open_sell_qty"]
S_ORDERS_SENT = STRATEGY_POSITION_OFFSETS["orders_sent"]
S_REALISED_PNL = STRATEGY_POSITION_OFFSETS["realised_pnl"]
S_AVG_COST_PX = STRATEGY_POSITION_OFFSETS["avg_cost_px"]
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


@njit(cache=True)
def after_fill(position, avg_cost, realised, side, qty, price):
    """(position, average cost, realised P&L) after a fill of `qty` lots at `price`."""
    signed = side * qty
    new_position = position + signed
    if position == 0 or (position > 0) == (side > 0):
        # Opening or adding: new average cost.
        total = abs(position) + qty
        avg_cost = (avg_cost * abs(position) + price * qty) // total
    else:
        closing = min(qty, abs(position))
        direction = 1 if position > 0 else -1
        realised += closing * (price - avg_cost) * direction
        if new_position == 0:
            avg_cost = 0
        elif (new_position > 0) != (position > 0):
            avg_cost = price  # flipped: the rest opened at this price
    return new_position, avg_cost, realised


@njit(cache=True)
def apply_fill(stats, symbol, side, qty, price, txn):
    """Apply a fill of `qty` lots at `price` on `side` (+1/-1) to stats[symbol]."""
    row = stats[symbol]
    new_position, avg_cost, realised = after_fill(row.position, row.avg_cost_px, row.realised_pnl,
                                                  side, qty, price)
    txn_set(txn, stats_field(stats, symbol, POSITION), new_position)
    txn_set(txn, stats_field(stats, symbol, AVG_COST_PX), avg_cost)
    txn_set(txn, stats_field(stats, symbol, REALISED_PNL), realised)
    txn_set(txn, stats_field(stats, symbol, FILLED_QTY), row.filled_qty + qty)


@njit(cache=True)
def apply_strategy_fill(rows, row, side, qty, price, txn):
    """The same for the order's strategy: its row of strat_pos (risk's cache line)."""
    own = rows[row]
    new_position, avg_cost, realised = after_fill(own.risk_position, own.avg_cost_px,
                                                  own.realised_pnl, side, qty, price)
    txn_set(txn, strategy_field(rows, row, S_POSITION), new_position)
    txn_set(txn, strategy_field(rows, row, S_AVG_COST_PX), avg_cost)
    txn_set(txn, strategy_field(rows, row, S_REALISED_PNL), realised)
    txn_set(txn, strategy_field(rows, row, S_FILLED_QTY), own.filled_qty + qty)
