"""Order request: what the strategy wants done (a new order, a cancel, a replace);
written by the strategy, read by risk.

offset | size | field       | unit           | written by | read by | notes
-------+------+-------------+----------------+------------+---------+-------------------------------
     0 |    8 | seq         | count          | strategy   | risk    | 1, 2, 3 ... per engine run
     8 |    8 | origin_ns   | ns, monotonic  | strategy   | all     | copied from the triggering tick
    16 |    8 | publish_ns  | ns, monotonic  | strategy   | risk    | just before the ring publish
    24 |    8 | md_seq      | count          | strategy   | risk    | seq of the tick that caused it;
       |      |             |                |            |         | 0: from on_fill or on_timer
    32 |    2 | symbol_id   | index          | strategy   | risk    |
    34 |    1 | side        | +1 buy/-1 sell | strategy   | risk    |
    35 |    1 | order_type  | ORDER_TYPE_*   | strategy   | risk    |
    36 |    4 | qty         | lots           | strategy   | risk    | > 0
    40 |    8 | limit_px    | price units    | strategy   | risk    | fixed point, PRICE_SCALE
    48 |    8 | order_id    | id             | strategy   | risk    | new: its id; cancel/replace: the target's
    56 |    1 | request     | REQ_*          | strategy   | risk    | new, cancel or replace
    57 |    1 | time_in_force | TIF_*        | strategy   | risk    | GTC, DAY or IOC
    58 |    6 | _reserved   |                |            |         | zero

A new order's id is its strategy from bit 48 up (ORDER_ID_STRATEGY_SHIFT) and its
seq (ring position + 1) below: unique in the run, and the same when a restarted
strategy replays the event. A replace carries the order's new total qty and price
(FIX 4.4 OrderCancelReplaceRequest); a cancel only the id (side and symbol echo the
order's).

Ordering: written in full before the ring's release-publish.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

ORDER_TYPE_LIMIT = 1   # rests until filled, cancelled or expired (time_in_force)
ORDER_TYPE_IOC = 2     # fills what it can at once; the rest is cancelled
REQ_NEW = 0
REQ_CANCEL = 1
REQ_REPLACE = 2
REQUEST_NAMES = {REQ_NEW: "new", REQ_CANCEL: "cancel", REQ_REPLACE: "replace"}
TIF_GTC = 0            # good till cancelled
TIF_DAY = 1            # expires at the end of the session ([venue] session_s)
TIF_IOC = 3            # FIX 4.4 TimeInForce values
TIF_NAMES = {TIF_GTC: "GTC", TIF_DAY: "DAY", TIF_IOC: "IOC"}

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
        ("order_id", np.uint64),
        ("request", np.uint8),
        ("time_in_force", np.uint8),
        ("_reserved", np.uint8, (6,)),
    ],
    align=True,
)

INTENT_OFFSETS = {
    "seq": 0, "origin_ns": 8, "publish_ns": 16, "md_seq": 24, "symbol_id": 32,
    "side": 34, "order_type": 35, "qty": 36, "limit_px": 40, "order_id": 48,
    "request": 56, "time_in_force": 57, "_reserved": 58,
}
INTENT_SIZE = 64
assert_layout(ORDER_INTENT_DTYPE, INTENT_OFFSETS, INTENT_SIZE)


def check_order_intent(record) -> None:
    """Raise ValueError naming the bad value if an intent is malformed."""
    side = int(record["side"])
    if side not in (SIDE_BUY, SIDE_SELL):
        raise ValueError(f"intent side {side} is neither buy (1) nor sell (-1)")
    if int(record["request"]) not in REQUEST_NAMES:
        raise ValueError(f"intent request {int(record['request'])} is unknown")
    if int(record["qty"]) <= 0 and int(record["request"]) != REQ_CANCEL:
        raise ValueError(f"intent qty {int(record['qty'])} is not positive")
    if int(record["order_type"]) not in (ORDER_TYPE_LIMIT, ORDER_TYPE_IOC):
        raise ValueError(f"intent order_type {int(record['order_type'])} is unknown")
