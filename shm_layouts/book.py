"""Top of book per symbol: written by the feed, read by risk (price band) and the
simulated exchange in the gateway (fills). One row per symbol, guarded by a seqlock.

offset | size | field      | unit          | written by | read by       | ordering
-------+------+------------+---------------+------------+---------------+---------------------------
     0 |    8 | version    | count         | feed       | risk, gateway | seqlock: odd while writing;
       |      |            |               |            |               | release-stores around the fields
     8 |    8 | bid_px     | price units   | feed       | risk, gateway |
    16 |    8 | ask_px     | price units   | feed       | risk, gateway |
    24 |    4 | bid_qty    | lots          | feed       | risk, gateway |
    28 |    4 | ask_qty    | lots          | feed       | risk, gateway |
    32 |    8 | update_ns  | ns, monotonic | feed       | tools         |
    40 |    8 | md_seq     | count         | feed       | tools         | seq of the tick that set it
    48 |   16 | _reserved  |               |            |               |

A reader copies the fields between two reads of an even, equal version, and
retries otherwise; a row of version 0 has never been written (no market yet).
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

BOOK_DTYPE = np.dtype(
    [("version", np.uint64), ("bid_px", np.int64), ("ask_px", np.int64), ("bid_qty", np.int32),
     ("ask_qty", np.int32), ("update_ns", np.int64), ("md_seq", np.uint64),
     ("_reserved", np.uint8, (16,))],
    align=True,
)
BOOK_OFFSETS = {"version": 0, "bid_px": 8, "ask_px": 16, "bid_qty": 24, "ask_qty": 28,
                "update_ns": 32, "md_seq": 40, "_reserved": 48}
BOOK_ROW_SIZE = 64
assert_layout(BOOK_DTYPE, BOOK_OFFSETS, BOOK_ROW_SIZE)
