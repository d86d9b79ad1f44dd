"""Position and realised P&L from fills, average-cost method (jitted, in the risk worker)."""

from numba import njit


@njit(cache=True)
def apply_fill(stats, symbol, side, qty, price):
    """Apply a fill of `qty` lots at `price` on `side` (+1/-1) to stats[symbol]."""
    row = stats[symbol]
    position = row.position
    signed = side * qty
    if position == 0 or (position > 0) == (side > 0):
        # Opening or adding: new average cost.
        total = abs(position) + qty
        row.avg_cost_px = (row.avg_cost_px * abs(position) + price * qty) // total
        row.position = position + signed
    else:
        closing = min(qty, abs(position))
        direction = 1 if position > 0 else -1
        row.realised_pnl += closing * (price - row.avg_cost_px) * direction
        row.position = position + signed
        if row.position == 0:
            row.avg_cost_px = 0
        elif (row.position > 0) != (position > 0):
            row.avg_cost_px = price  # flipped: the rest opened at this price
    row.filled_qty += qty
