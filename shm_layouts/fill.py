"""Execution report (ack, fill, cancel, reject): written by the gateway, read by risk and strategy.

The gateway writes one copy to each reader's ring (a fan-out is two rings).

offset | size | field       | unit           | written by | read by        | notes
-------+------+-------------+----------------+------------+----------------+--------------------------
     0 |    8 | seq         | count          | gateway    | risk, strategy | 1, 2, 3 ... per ring
     8 |    8 | origin_ns   | ns, monotonic  | gateway    | risk, strategy | copied from the order
    16 |    8 | publish_ns  | ns, monotonic  | gateway    | risk, strategy | just before the publish
    24 |    8 | order_id    | id             | gateway    | risk, strategy |
    32 |    2 | symbol_id   | index          | gateway    | risk, strategy |
    34 |    1 | side        | +1 buy/-1 sell | gateway    | risk, strategy |
    35 |    1 | exec_type   | EXEC_*         | gateway    | risk, strategy |
    36 |    4 | last_qty    | lots           | gateway    | risk, strategy | this fill, 0 if none
    40 |    8 | last_px     | price units    | gateway    | risk, strategy | this fill, 0 if none
    48 |    4 | cum_qty     | lots           | gateway    | risk, strategy | filled so far
    52 |    4 | leaves_qty  | lots           | gateway    | risk, strategy | still open
    56 |    8 | order_seq   | count          | gateway    | risk, strategy | seq of the order it reports
    64 |    8 | avg_px      | price units    | gateway    | risk, strategy | of all fills so far, 0 if none
    72 |    8 | order_px    | price units    | gateway    | strategy       | the order's limit price now
    80 |    4 | order_qty   | lots           | gateway    | strategy       | its total qty now (cum+leaves)
    84 |    4 | released_qty| lots           | gateway    | risk           | taken off risk's open qty
    88 |    1 | ord_status  | STATUS_*       | gateway    | risk, strategy | shm_layouts/open_order.py
    89 |    1 | request     | REQ_*          | gateway    | risk, strategy | what it answers, or a fill
    90 |    1 | reject_reason | REASON_*     | gateway    | risk, strategy | 0 unless rejected
    91 |    1 | closes_order| 0/1            | gateway    | risk           | ends an order risk counts open
    92 |    1 | order_type  | ORDER_TYPE_*   | gateway    | strategy       |
    93 |    1 | time_in_force | TIF_*        | gateway    | strategy       |
    94 |   34 | _reserved   |                |            |                | zero

released_qty: the lots this report takes off the open quantity risk added when it
passed the request (a fill: its lots; a cancel or expiry: the leaves; a replace: the
old leaves plus what had filled, since risk added the new total; a rejected new:
its qty; a rejected cancel: 0). Risk's open quantity is then exact without knowing
the order's history.

Ordering: written in full before the ring's release-publish.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

# Execution types, after FIX 4.4 ExecType (150).
EXEC_NEW = 1
EXEC_PARTIAL_FILL = 2
EXEC_FILL = 3
EXEC_CANCELLED = 4
EXEC_REJECTED = 5
EXEC_REPLACED = 6
EXEC_EXPIRED = 7
EXEC_CANCELED = EXEC_CANCELLED  # FIX spells it so
EXEC_NAMES = {EXEC_NEW: "new", EXEC_PARTIAL_FILL: "partial_fill", EXEC_FILL: "fill",
              EXEC_CANCELLED: "canceled", EXEC_REJECTED: "rejected", EXEC_REPLACED: "replaced",
              EXEC_EXPIRED: "expired"}

# Reject reasons of a report: 0 none; 1 + REJECT_* for a request risk denied
# (control_block.py); VENUE_REASON_BASE + VENUE_* for one the venue refused.
REASON_NONE = 0
RISK_REASON_BASE = 1
VENUE_REASON_BASE = 64
VENUE_UNKNOWN_ORDER = 0     # cancel/replace of an order the venue never had
VENUE_TOO_LATE = 1          # cancel/replace of an order already filled, cancelled or expired
VENUE_BAD_QTY = 2           # replace to qty <= 0, or below what has filled
VENUE_OFF_TICK = 3          # limit price not on the instrument's tick grid
VENUE_SESSION_CLOSED = 4    # a DAY order after the session's end
VENUE_SIMULATED = 5         # [gateway] reject_every: a reject for tests
VENUE_BOOK_FULL = 6         # no free row in the venue's order table
VENUE_BAD_PRICE = 7         # a limit price <= 0
VENUE_HALTED = 8            # the venue's session is down (or reconciling): no new orders
VENUE_REFUSED = 9           # the venue refused it for a reason of its own (its Text)
VENUE_REASON_NAMES = {VENUE_UNKNOWN_ORDER: "unknown_order", VENUE_TOO_LATE: "too_late",
                      VENUE_BAD_QTY: "bad_qty", VENUE_OFF_TICK: "off_tick",
                      VENUE_SESSION_CLOSED: "session_closed", VENUE_SIMULATED: "venue_reject",
                      VENUE_BOOK_FULL: "venue_book_full", VENUE_BAD_PRICE: "bad_price",
                      VENUE_HALTED: "venue_halted", VENUE_REFUSED: "venue_refused"}


def reason_name(code: int) -> str:
    """The name of a report's reject_reason, for tools: 'none', a risk reason, a venue one."""
    from tickpipe.shm_layouts.control_block import REJECT_NAMES
    if code == REASON_NONE:
        return "none"
    if code >= VENUE_REASON_BASE:
        return VENUE_REASON_NAMES.get(code - VENUE_REASON_BASE, f"venue_{code}")
    return "risk_" + REJECT_NAMES.get(code - RISK_REASON_BASE, str(code))

FILL_DTYPE = np.dtype(
    [
        ("seq", np.uint64),
        ("origin_ns", np.int64),
        ("publish_ns", np.int64),
        ("order_id", np.uint64),
        ("symbol_id", np.uint16),
        ("side", np.int8),
        ("exec_type", np.uint8),
        ("last_qty", np.int32),
        ("last_px", np.int64),
        ("cum_qty", np.int32),
        ("leaves_qty", np.int32),
        ("order_seq", np.uint64),
        ("avg_px", np.int64),
        ("order_px", np.int64),
        ("order_qty", np.int32),
        ("released_qty", np.int32),
        ("ord_status", np.uint8),
        ("request", np.uint8),
        ("reject_reason", np.uint8),
        ("closes_order", np.uint8),
        ("order_type", np.uint8),
        ("time_in_force", np.uint8),
        ("_reserved", np.uint8, (34,)),
    ],
    align=True,
)

FILL_OFFSETS = {
    "seq": 0, "origin_ns": 8, "publish_ns": 16, "order_id": 24, "symbol_id": 32,
    "side": 34, "exec_type": 35, "last_qty": 36, "last_px": 40, "cum_qty": 48,
    "leaves_qty": 52, "order_seq": 56, "avg_px": 64, "order_px": 72, "order_qty": 80,
    "released_qty": 84, "ord_status": 88, "request": 89, "reject_reason": 90,
    "closes_order": 91, "order_type": 92, "time_in_force": 93, "_reserved": 94,
}
FILL_SIZE = 128
assert_layout(FILL_DTYPE, FILL_OFFSETS, FILL_SIZE)


def check_fill(record) -> None:
    """Raise ValueError naming the bad value if an execution report is malformed."""
    exec_type = int(record["exec_type"])
    if exec_type not in EXEC_NAMES:
        raise ValueError(f"exec_type {exec_type} is unknown")
    if exec_type in (EXEC_PARTIAL_FILL, EXEC_FILL) and int(record["last_qty"]) <= 0:
        raise ValueError(f"fill last_qty {int(record['last_qty'])} is not positive")
    if int(record["leaves_qty"]) < 0:
        raise ValueError(f"leaves_qty {int(record['leaves_qty'])} is negative")
