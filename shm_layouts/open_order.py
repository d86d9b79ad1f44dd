"""Open-order row: one order's state, in two tables of the same layout.

  strat_orders  each strategy's own orders as it knows them (written by its runner,
                from its requests and their reports): ORDER_SLOTS rows per strategy,
                the row of an order is its seq % ORDER_SLOTS.
  venue_orders  the simulated venue's book of our resting orders (written by the
                gateway): VENUE_SLOTS rows, a new order takes the lowest free row.

Both change only through their writer's commit log (engine/commit.py), with the
batch that caused the change. A row whose status is STATUS_NONE or final is free.

offset | size | field         | unit           | written by | read by          | notes
-------+------+---------------+----------------+------------+------------------+----------------------
     0 |    8 | order_id      | id             | owner      | owner, tools     | order_intent.py
     8 |    2 | symbol_id     | index          | owner      | owner, tools     |
    10 |    1 | side          | +1 buy/-1 sell | owner      | owner, tools     |
    11 |    1 | status        | STATUS_*       | owner      | owner, tools     | engine/order_states.py
    12 |    1 | order_type    | ORDER_TYPE_*   | owner      | owner, tools     |
    13 |    1 | time_in_force | TIF_*          | owner      | owner, tools     |
    14 |    1 | reject_reason | REASON_*       | owner      | owner, tools     | of the last reject
    15 |    1 | requests_out  | count          | gateway    | gateway, tools   | sent to a venue process, unanswered
    16 |    4 | qty           | lots           | owner      | owner, tools     | total: cum + leaves
    20 |    4 | cum_qty       | lots           | owner      | owner, tools     | filled so far
    24 |    4 | leaves_qty    | lots           | owner      | owner, tools     | still working
    28 |    4 | queue_ahead   | lots           | venue      | venue, tools     | queue model (workers/gateway/venue.py);
       |      |               |                |            |                  | a venue process's: a pending replace's qty
    32 |    8 | limit_px      | price units    | owner      | owner, tools     |
    40 |    8 | avg_px        | price units    | owner      | owner, tools     | of the fills
    48 |    8 | cum_notional  | price x lots   | owner      | owner            | for avg_px
    56 |    8 | updated_ns    | ns, monotonic  | owner      | tools            | last change
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

# Order status, after FIX 4.4 OrdStatus (39); the state machine is engine/order_states.py.
STATUS_NONE = 0            # a free row
STATUS_PENDING_NEW = 1
STATUS_NEW = 2
STATUS_PARTIALLY_FILLED = 3
STATUS_FILLED = 4
STATUS_PENDING_CANCEL = 5
STATUS_CANCELED = 6
STATUS_PENDING_REPLACE = 7
STATUS_REPLACED = 8        # working, at its replaced price/qty (the same order id)
STATUS_REJECTED = 9
STATUS_EXPIRED = 10
STATUS_NAMES = {STATUS_NONE: "none", STATUS_PENDING_NEW: "PENDING_NEW", STATUS_NEW: "NEW",
                STATUS_PARTIALLY_FILLED: "PARTIALLY_FILLED", STATUS_FILLED: "FILLED",
                STATUS_PENDING_CANCEL: "PENDING_CANCEL", STATUS_CANCELED: "CANCELED",
                STATUS_PENDING_REPLACE: "PENDING_REPLACE", STATUS_REPLACED: "REPLACED",
                STATUS_REJECTED: "REJECTED", STATUS_EXPIRED: "EXPIRED"}
N_STATUSES = len(STATUS_NAMES)

ORDER_SLOTS = 256   # per strategy: orders it may have in flight or working at once
VENUE_SLOTS = 1024  # resting orders at the simulated venue, all strategies together

OPEN_ORDER_DTYPE = np.dtype(
    [("order_id", np.uint64), ("symbol_id", np.uint16), ("side", np.int8), ("status", np.uint8),
     ("order_type", np.uint8), ("time_in_force", np.uint8), ("reject_reason", np.uint8),
     ("requests_out", np.uint8), ("qty", np.int32), ("cum_qty", np.int32),
     ("leaves_qty", np.int32), ("queue_ahead", np.int32), ("limit_px", np.int64),
     ("avg_px", np.int64), ("cum_notional", np.int64), ("updated_ns", np.int64)],
    align=True,
)
OPEN_ORDER_OFFSETS = {
    "order_id": 0, "symbol_id": 8, "side": 10, "status": 11, "order_type": 12,
    "time_in_force": 13, "reject_reason": 14, "requests_out": 15, "qty": 16, "cum_qty": 20,
    "leaves_qty": 24, "queue_ahead": 28, "limit_px": 32, "avg_px": 40, "cum_notional": 48,
    "updated_ns": 56,
}
OPEN_ORDER_SIZE = 64
assert_layout(OPEN_ORDER_DTYPE, OPEN_ORDER_OFFSETS, OPEN_ORDER_SIZE)

# The words of a row as uint64 (for jitted code storing a row through the commit log):
# word 1 packs symbol_id...requests_out, word 2 qty/cum_qty, word 3 leaves_qty/queue_ahead.
OPEN_ORDER_WORDS = OPEN_ORDER_SIZE // 8


def check_open_order(row) -> None:
    """Raise ValueError naming the bad value if a row is malformed."""
    status = int(row["status"])
    if status not in STATUS_NAMES:
        raise ValueError(f"open order status {status} is unknown")
    if status == STATUS_NONE:
        return
    qty, cum, leaves = int(row["qty"]), int(row["cum_qty"]), int(row["leaves_qty"])
    if cum < 0 or leaves < 0:
        raise ValueError(f"open order {int(row['order_id'])}: cum {cum} or leaves {leaves} < 0")
    if status in (STATUS_FILLED, STATUS_CANCELED, STATUS_REJECTED, STATUS_EXPIRED):
        if leaves != 0:
            raise ValueError(f"open order {int(row['order_id'])} is final with leaves {leaves}")
    elif cum + leaves != qty:
        raise ValueError(f"open order {int(row['order_id'])}: cum {cum} + leaves {leaves} "
                         f"!= qty {qty}")
