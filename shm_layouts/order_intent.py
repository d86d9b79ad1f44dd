"""Order intent: what the strategy wants to trade; written by the strategy, read by risk.

offset | size | field       | unit           | written by | read by | notes
-------+------+-------------+----------------+------------+---------+-------------------------------
     0 |    8 | seq         | count          | strategy   | risk    | 1, 2, 3 ... per engine run
     8 |    8 | origin_ns   | ns, monotonic  | strategy   | all     | copied from the triggering tick
    16 |    8 | publish_ns  | ns, monotonic  | strategy   | risk    | just before the ring publish
    24 |    8 | md_seq      | count          | strategy   | risk    | seq of the tick that caused it
    32 |    2 | symbol_id   | index          | strategy   | risk    |
    34 |    1 | side        | +1 buy/-1 sell | strategy   | risk    |
    35 |    1 | order_type  | ORDER_TYPE_*   | strategy   | risk    |
    36 |    4 | qty         | lots           | strategy   | risk    | > 0
    40 |    8 | limit_px    | price units    | strategy   | risk    | fixed point, PRICE_SCALE
    48 |    8 | ref_mid_px  | price units    | strategy   | risk    | the mid the strategy acted on
    56 |    8 | _reserved   |                |            |         | zero

Ordering: written in full before the ring's release-publish.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

ORDER_TYPE_LIMIT = 1
ORDER_TYPE_IOC = 2

SIDE_BUY = 1
SIDE_SELL = -1

ORDER_INTENT_DTYPE = np.dtype(
    [
        ("seq", np.uint64),
        ("origin_ns", np.int64),
        ("publish_ns", np.int64),
        ("md_seq", np.uint64),
        ("symbol_id", np.uint16),
        ("side", np.int8),
        ("order_type", np.uint8),
        ("qty", np.int32),
        ("limit_px", np.int64),
        ("ref_mid_px", np.int64),
        ("_reserved", np.uint64),
    ],
    align=True,
)

INTENT_OFFSETS = {
    "seq": 0, "origin_ns": 8, "publish_ns": 16, "md_seq": 24, "symbol_id": 32,
    "side": 34, "order_type": 35, "qty": 36, "limit_px": 40, "ref_mid_px": 48,
    "_reserved": 56,
}
INTENT_SIZE = 64
assert_layout(ORDER_INTENT_DTYPE, INTENT_OFFSETS, INTENT_SIZE)


def check_order_intent(record) -> None:
    """Raise ValueError naming the bad value if an intent is malformed."""
    side = int(record["side"])
    if side not in (SIDE_BUY, SIDE_SELL):
        raise ValueError(f"intent side {side} is neither buy (1) nor sell (-1)")
    if int(record["qty"]) <= 0:
        raise ValueError(f"intent qty {int(record['qty'])} is not positive")
    if int(record["order_type"]) not in (ORDER_TYPE_LIMIT, ORDER_TYPE_IOC):
        raise ValueError(f"intent order_type {int(record['order_type'])} is unknown")
