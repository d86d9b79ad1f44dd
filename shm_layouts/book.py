"""Top of book per symbol: written by the feed, read by risk (price band) and the
simulated exchange in the gateway (fills). One row per symbol, guarded by a seqlock.

offset | size | field      | unit          | written by | read by       | ordering
-------+------+------------+---------------+------------+---------------+---------------------------
     0 |    8 | version    | count         | feed       | risk, gateway | seqlock: odd while writing;
       |      |            |               |            |               | release-stores around the fields;
       |      |            |               |            |               | only ever moves forward
     8 |    8 | bid_px     | price units   | feed       | risk, gateway |
    16 |    8 | ask_px     | price units   | feed       | risk, gateway |
    24 |    4 | bid_qty    | lots          | feed       | risk, gateway |
    28 |    4 | ask_qty    | lots          | feed       | risk, gateway |
    32 |    8 | update_ns  | ns, monotonic | feed       | tools         |
    40 |    8 | md_seq     | count         | feed       | tools         | seq of the tick that set it
    48 |    8 | no_market  | flag, 0 or 1  | feed       | risk, gateway | inside the seqlock, like a price
    56 |    8 | _reserved  |               |            |               |

A reader copies the fields between two reads of an even, equal version, and
retries otherwise. No market: a row of version 0 (never written), or one whose
no_market is 1 (withdrawn: a restarted feed found it half written, odd). The
version never goes backwards, a withdraw included (it is a write: odd, no_market
= 1, even), so a reader that read version v before a withdraw and a rewrite never
finds v again and accepts no mix of their fields (no ABA).
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

BOOK_DTYPE = np.dtype(
    [("version", np.uint64), ("bid_px", np.int64), ("ask_px", np.int64), ("bid_qty", np.int32),
     ("ask_qty", np.int32), ("update_ns", np.int64), ("md_seq", np.uint64),
     ("no_market", np.uint64), ("_reserved", np.uint8, (8,))],
    align=True,
)
BOOK_OFFSETS = {"version": 0, "bid_px": 8, "ask_px": 16, "bid_qty": 24, "ask_qty": 28,
                "update_ns": 32, "md_seq": 40, "no_market": 48, "_reserved": 56}
BOOK_ROW_SIZE = 64
BOOK_VERSION_OFFSET = 0     # the seqlock word: 0 never written, odd being written, even whole
BOOK_NO_MARKET_OFFSET = 48  # 1: withdrawn (a dead feed's half-written row), no market until rewritten
assert_layout(BOOK_DTYPE, BOOK_OFFSETS, BOOK_ROW_SIZE)
