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

Ordering: written in full before the ring's release-publish.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

# Execution types, after FIX 4.4 ExecType (150): new, partial, fill, cancelled, rejected.
EXEC_NEW = 1
EXEC_PARTIAL_FILL = 2
EXEC_FILL = 3
EXEC_CANCELLED = 4
EXEC_REJECTED = 5

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
    ],
    align=True,
)

FILL_OFFSETS = {
    "seq": 0, "origin_ns": 8, "publish_ns": 16, "order_id": 24, "symbol_id": 32,
    "side": 34, "exec_type": 35, "last_qty": 36, "last_px": 40, "cum_qty": 48,
    "leaves_qty": 52, "order_seq": 56,
}
FILL_SIZE = 64
assert_layout(FILL_DTYPE, FILL_OFFSETS, FILL_SIZE)


def check_fill(record) -> None:
    """Raise ValueError naming the bad value if an execution report is malformed."""
    exec_type = int(record["exec_type"])
    if not EXEC_NEW <= exec_type <= EXEC_REJECTED:
        raise ValueError(f"exec_type {exec_type} is unknown")
    if exec_type in (EXEC_PARTIAL_FILL, EXEC_FILL) and int(record["last_qty"]) <= 0:
        raise ValueError(f"fill last_qty {int(record['last_qty'])} is not positive")
    if int(record["leaves_qty"]) < 0:
        raise ValueError(f"leaves_qty {int(record['leaves_qty'])} is negative")
