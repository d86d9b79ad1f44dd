"""Per strategy and symbol: what the strategy and risk know of its trading. One row per
(strategy, symbol), strategy-major, two cache lines, one per writer. Every field
changes only through its writer's commit log (engine/commit.py), with the batch
that caused it. The engine-wide figures per symbol stay in symbol_stats.

offset | size | field            | unit               | written by | read by       | notes
-------+------+------------------+--------------------+------------+---------------+----------------------
     0 |    8 | position         | lots, signed       | strategy   | strategy, tools| from its own reports
     8 |    8 | in_flight        | orders             | strategy   | strategy, tools| sent, final report not yet read
    16 |    8 | intents_sent     | count              | strategy   | tools         |
    24 |    8 | cash             | price units x lots | strategy   | tools         | -sum(side x qty x px), its reports
    32 |   32 | _reserved0       |                    |            |               |
    64 |    8 | risk_position    | lots, signed       | risk       | risk, tools   | from the fills
    72 |    8 | open_buy_qty     | lots               | risk       | risk          | sent, not yet done
    80 |    8 | open_sell_qty    | lots               | risk       | risk          |
    88 |    8 | orders_sent      | count              | risk       | tools         |
    96 |    8 | realised_pnl     | price units x lots | risk       | tools         | cash + cost_basis (exact)
   104 |    8 | cost_basis       | price units x lots | risk       | tools         | signed cost of the open position
   112 |    8 | filled_qty       | lots               | risk       | tools         | unsigned, all fills
   120 |    8 | fees             | price units x lots | risk       | tools         | [risk] fee_bps of fills
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

STRATEGY_POSITION_DTYPE = np.dtype(
    [("position", np.int64), ("in_flight", np.int64), ("intents_sent", np.int64),
     ("cash", np.int64), ("_reserved0", np.uint8, (32,)),
     ("risk_position", np.int64), ("open_buy_qty", np.int64), ("open_sell_qty", np.int64),
     ("orders_sent", np.int64), ("realised_pnl", np.int64), ("cost_basis", np.int64),
     ("filled_qty", np.int64), ("fees", np.int64)],
    align=True,
)
STRATEGY_POSITION_OFFSETS = {
    "position": 0, "in_flight": 8, "intents_sent": 16, "cash": 24, "_reserved0": 32,
    "risk_position": 64, "open_buy_qty": 72, "open_sell_qty": 80, "orders_sent": 88,
    "realised_pnl": 96, "cost_basis": 104, "filled_qty": 112, "fees": 120}
STRATEGY_POSITION_SIZE = 128
assert_layout(STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS, STRATEGY_POSITION_SIZE)

# Order ids carry their strategy: bits 48 and up are its index in the strategy table,
# the 48 below the request's position in its intents ring + 1 (unique in the engine's
# run: 2.8e14 requests). Every id stays below 2**53, so it is exact as a float64 too:
# numba compares an int64 (the id `tp.place` returned, kept in a strategy's state) with
# a uint64 (report.order_id) through float64, and ids above 2**53 that differ only in
# their low bits would compare equal in a user's `report.order_id == state.bid_id`.
ORDER_ID_STRATEGY_SHIFT = 48
assert (4 << ORDER_ID_STRATEGY_SHIFT) <= 2 ** 53  # up to 4 strategies


def check_strategy_position(row) -> None:
    """Raise ValueError naming the bad value if a row is malformed."""
    for field in ("open_buy_qty", "open_sell_qty", "orders_sent", "filled_qty", "intents_sent",
                  "in_flight"):
        if int(row[field]) < 0:
            raise ValueError(f"strategy position {field} {int(row[field])} is negative")
