"""The L2 book per symbol: [feed] depth levels of each side, written by the feed, read
by strategies (tp.bid_px(ctx, level) ...), the simulated venue's queue model and
`tickpipe inspect`. One row per symbol, guarded by a seqlock as the top of book's
(shm_layouts/book.py), which stays the one risk and the venue price by.

offset | size | field      | unit          | written by | read by          | ordering
-------+------+------------+---------------+------------+------------------+----------------------
     0 |    8 | version    | count         | feed       | strategy, gateway| seqlock: odd while writing;
       |      |            |               |            | tools            | only ever moves forward
     8 |    8 | update_ns  | ns, monotonic | feed       | tools            |
    16 |    8 | md_seq     | count         | feed       | tools            | tape position that set it
    24 |    4 | levels     | count         | feed       | tools            | [feed] depth
    28 |    4 | _pad       |               |            |                  |
    32 |   80 | bid_px     | price units   | feed       | all              | [level], 0 = no such level
   112 |   80 | ask_px     | price units   | feed       | all              |
   192 |   40 | bid_qty    | lots          | feed       | all              |
   232 |   40 | ask_qty    | lots          | feed       | all              |
   272 |   48 | _reserved  |               |            |                  |

Level 0 is the top (the same values as the book row, written with it); level k is
the k-th best price of each side. Each seqlock write of the feed's is one tape depth
row's level, or all of a walk tick's levels, so a reader of one level gets that level
whole; a reader of several levels reads the row whole (engine/depth.py depth_read)
and gets them as of one write. 320 bytes: five cache lines.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout
from tickpipe.shm_layouts.market_data import MAX_DEPTH_LEVELS

DEPTH_DTYPE = np.dtype(
    [("version", np.uint64), ("update_ns", np.int64), ("md_seq", np.uint64),
     ("levels", np.uint32), ("_pad", np.uint32),
     ("bid_px", np.int64, (MAX_DEPTH_LEVELS,)), ("ask_px", np.int64, (MAX_DEPTH_LEVELS,)),
     ("bid_qty", np.int32, (MAX_DEPTH_LEVELS,)), ("ask_qty", np.int32, (MAX_DEPTH_LEVELS,)),
     ("_reserved", np.uint8, (48,))],
    align=True,
)
DEPTH_OFFSETS = {"version": 0, "update_ns": 8, "md_seq": 16, "levels": 24, "_pad": 28,
                 "bid_px": 32, "ask_px": 112, "bid_qty": 192, "ask_qty": 232, "_reserved": 272}
DEPTH_ROW_SIZE = 320
assert_layout(DEPTH_DTYPE, DEPTH_OFFSETS, DEPTH_ROW_SIZE)
