"""Order: a request that went through pre-trade risk; written by risk, read by the gateway.
A request risk denied comes too, with its reason (reject_reason != 0), so that the
gateway answers every request with exactly one report and no ring has two producers.

offset | size | field       | unit           | written by | read by | notes
-------+------+-------------+----------------+------------+---------+-------------------------------
     0 |    8 | seq         | count          | risk       | gateway | 1, 2, 3 ... per engine run
     8 |    8 | origin_ns   | ns, monotonic  | risk       | gateway | copied from the intent
    16 |    8 | publish_ns  | ns, monotonic  | risk       | gateway | just before the ring publish
    24 |    8 | intent_seq  | count          | risk       | gateway | seq of the intent it came from
    32 |    2 | symbol_id   | index          | risk       | gateway |
    34 |    1 | side        | +1 buy/-1 sell | risk       | gateway |
    35 |    1 | order_type  | ORDER_TYPE_*   | risk       | gateway | see order_intent.py
    36 |    4 | qty         | lots           | risk       | gateway | > 0
    40 |    8 | limit_px    | price units    | risk       | gateway | fixed point, PRICE_SCALE
    48 |    8 | order_id    | id             | risk       | gateway | the request's (order_intent.py)
    56 |    1 | request     | REQ_*          | risk       | gateway | order_intent.py
    57 |    1 | time_in_force | TIF_*        | risk       | gateway |
    58 |    1 | reject_reason | 0; REJECT_* + 1 | risk     | gateway | denied by risk: report it rejected
    59 |    5 | _reserved   |                |            |         | zero

Ordering: written in full before the ring's release-publish.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

ORDER_DTYPE = np.dtype(
    [
        ("seq", np.uint64),
        ("origin_ns", np.int64),
        ("publish_ns", np.int64),
        ("intent_seq", np.uint64),
        ("symbol_id", np.uint16),
        ("side", np.int8),
        ("order_type", np.uint8),
        ("qty", np.int32),
        ("limit_px", np.int64),
        ("order_id", np.uint64),
        ("request", np.uint8),
        ("time_in_force", np.uint8),
        ("reject_reason", np.uint8),
        ("_reserved", np.uint8, (5,)),
    ],
    align=True,
)

ORDER_OFFSETS = {
    "seq": 0, "origin_ns": 8, "publish_ns": 16, "intent_seq": 24, "symbol_id": 32,
    "side": 34, "order_type": 35, "qty": 36, "limit_px": 40, "order_id": 48,
    "request": 56, "time_in_force": 57, "reject_reason": 58, "_reserved": 59,
}
ORDER_SIZE = 64
assert_layout(ORDER_DTYPE, ORDER_OFFSETS, ORDER_SIZE)


def check_order(record) -> None:
    """Raise ValueError naming the bad value if an order is malformed."""
    if int(record["side"]) not in (1, -1):
        raise ValueError(f"order side {int(record['side'])} is neither buy (1) nor sell (-1)")
    if int(record["qty"]) <= 0 and int(record["request"]) != 1:  # a cancel has no qty
        raise ValueError(f"order qty {int(record['qty'])} is not positive")
    if int(record["order_id"]) == 0:
        raise ValueError("order_id 0 is reserved for 'no order'")
