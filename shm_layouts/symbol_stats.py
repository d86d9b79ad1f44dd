"""Per-symbol positions and P&L of the whole engine: one row per symbol, three cache
lines: risk's, the gateway's venue's, and risk's second (open orders, fees; each
strategy's own figures are in strat_pos, shm_layouts/strategy_position.py). Every field changes
only through its writer's commit log (engine/commit.py), with the batch that caused it.

offset | size | field            | unit               | written by | read by | notes
-------+------+------------------+--------------------+------------+---------+--------------------------
     0 |    8 | position         | lots, signed       | risk       | tools   | from fills
     8 |    8 | realised_pnl     | price units x lots | risk       | tools   | cash + cost_basis (exact)
    16 |    8 | cost_basis       | price units x lots | risk       | tools   | signed cost of the open position
    24 |    8 | open_buy_qty     | lots               | risk       | risk    | sent, not yet done
    32 |    8 | open_sell_qty    | lots               | risk       | risk    |
    40 |    8 | orders_sent      | count              | risk       | tools   |
    48 |    8 | filled_qty       | lots               | risk       | tools   | unsigned, all fills
    56 |    8 | cash             | price units x lots | risk       | tools   | -sum(side x qty x px) of fills
    64 |    8 | venue_net_qty    | lots, signed       | gateway    | tests   | signed sum of fills sent
    72 |    8 | venue_orders     | count              | gateway    | tools   |
    80 |    8 | venue_resting    | count              | gateway    | tools   | orders working at the venue
    88 |    8 | venue_cash       | price units x lots | gateway    | tools   | the same, of fills sent
    96 |   32 | _reserved1       |                    |            |         |
   128 |    8 | open_orders      | count              | risk       | risk    | passed, not yet final
   136 |    8 | fees             | price units x lots | risk       | tools   | [risk] fee_bps of each fill
   144 |   48 | _reserved2       |                    |            |         |
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

SYMBOL_STATS_DTYPE = np.dtype(
    [("position", np.int64), ("realised_pnl", np.int64), ("cost_basis", np.int64),
     ("open_buy_qty", np.int64), ("open_sell_qty", np.int64), ("orders_sent", np.int64),
     ("filled_qty", np.int64), ("cash", np.int64),
     ("venue_net_qty", np.int64), ("venue_orders", np.int64), ("venue_resting", np.int64),
     ("venue_cash", np.int64), ("_reserved1", np.uint8, (32,)),
     ("open_orders", np.int64), ("fees", np.int64), ("_reserved2", np.uint8, (48,))],
    align=True,
)
SYMBOL_STATS_OFFSETS = {"position": 0, "realised_pnl": 8, "cost_basis": 16, "open_buy_qty": 24,
                        "open_sell_qty": 32, "orders_sent": 40, "filled_qty": 48, "cash": 56,
                        "venue_net_qty": 64, "venue_orders": 72, "venue_resting": 80, "venue_cash": 88, "_reserved1": 96,
                        "open_orders": 128, "fees": 136, "_reserved2": 144}
SYMBOL_STATS_SIZE = 192
assert_layout(SYMBOL_STATS_DTYPE, SYMBOL_STATS_OFFSETS, SYMBOL_STATS_SIZE)
