"""Latency histogram, log-linear (HdrHistogram-style): one per hop, one writer each.

Bucketing: values below 64 ns get a bucket each; above, every power of two is
split into 32 linear sub-buckets, so a bucket is at most 1/32 (3.1%) wide
relative to its value. 1184 buckets reach 2^41 - 1 ns (36 minutes); larger values
land in the last bucket and count as overflow.

offset | size | field        | unit   | written by   | read by | ordering
-------+------+--------------+--------+--------------+---------+----------------------------------
     0 |    8 | count        | values | its one hop  | tools   | plain stores (one writer); a reader
     8 |    8 | sum_ns       | ns     | consumer     | tools   | may see a count one behind buckets
    16 |    8 | min_ns       | ns     |              | tools   |
    24 |    8 | max_ns       | ns     |              | tools   |
    32 |    8 | overflow     | values |              | tools   |
    40 |   24 | _reserved    |        |              |         |
    64 | 9472 | buckets[1184]| values |              | tools   |
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

SUB_BUCKET_BITS = 5          # 32 sub-buckets per power of two above 64
LINEAR_LIMIT = 64            # values below get one bucket each
MAX_EXPONENT = 40            # 2^40 ns
N_BUCKETS = (MAX_EXPONENT - SUB_BUCKET_BITS) * 32 + 64  # 1184

# The hops, in pipeline order; each histogram is written only by the named consumer.
HOPS = ("feed_to_strategy", "strategy_to_risk", "risk_to_gateway", "tick_to_trade",
        "gateway_to_risk", "gateway_to_strategy")
HOP_FEED_TO_STRATEGY, HOP_STRATEGY_TO_RISK, HOP_RISK_TO_GATEWAY, HOP_TICK_TO_TRADE, \
    HOP_GATEWAY_TO_RISK, HOP_GATEWAY_TO_STRATEGY = range(len(HOPS))
# After the hops, one tick-to-trade histogram per strategy, by its index in the
# strategy table: row HOP_TICK_TO_TRADE_OF + k. It takes the strategy's new orders
# *and* replaces (a market maker's tick-to-quote-update); the engine's tick_to_trade
# row takes new orders only.
HOP_TICK_TO_TRADE_OF = len(HOPS)
HISTOGRAM_ROWS = len(HOPS) + 4  # MAX_STRATEGIES (shm_layouts/strategy_table.py)

HISTOGRAM_DTYPE = np.dtype(
    [("count", np.uint64), ("sum_ns", np.uint64), ("min_ns", np.uint64), ("max_ns", np.uint64),
     ("overflow", np.uint64), ("_reserved", np.uint8, (24,)), ("buckets", np.uint64, (N_BUCKETS,))],
    align=True,
)
HISTOGRAM_OFFSETS = {"count": 0, "sum_ns": 8, "min_ns": 16, "max_ns": 24, "overflow": 32,
                     "_reserved": 40, "buckets": 64}
HISTOGRAM_SIZE = 64 + N_BUCKETS * 8
assert_layout(HISTOGRAM_DTYPE, HISTOGRAM_OFFSETS, HISTOGRAM_SIZE)

# Word indices of a histogram viewed as uint64 words (for jitted writers).
HW_COUNT, HW_SUM, HW_MIN, HW_MAX, HW_OVERFLOW = 0, 1, 2, 3, 4
HW_BUCKETS = 8


def bucket_low_value(index: int) -> int:
    """Smallest value that lands in bucket `index` (the inverse of engine.histogram)."""
    if index < LINEAR_LIMIT:
        return index
    shift = (index - LINEAR_LIMIT) // 32 + 1
    sub = (index - LINEAR_LIMIT) % 32 + 32
    return sub << shift
