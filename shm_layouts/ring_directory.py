"""Ring directory: which section holds which ring, who writes it, who reads it.

offset | size | field          | unit / value  | written by | read by | notes
-------+------+----------------+---------------+------------+---------+-----------------------------
     0 |   16 | section        | ASCII         | supervisor | tools   | the ring's section name
    16 |    4 | producer_role  | ROLE_*        | supervisor | tools   | see worker_table.py
    20 |    4 | consumer_role  | ROLE_*        | supervisor | tools   |
    24 |    4 | record_kind    | RECORD_*      | supervisor | tools   | which dtype its records are
    28 |    4 | input_index    | index         | supervisor | tools   | slot in the consumer's inputs
    32 |   32 | _reserved      |               |            |         |
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

MAX_RINGS = 16  # 2 + 3 per strategy (4 at most), and one a declared role adds (live_in)

RECORD_MARKET_DATA = 1
RECORD_ORDER_INTENT = 2
RECORD_ORDER = 3
RECORD_FILL = 4
RECORD_NAMES = {RECORD_MARKET_DATA: "market_data", RECORD_ORDER_INTENT: "order_intent",
                RECORD_ORDER: "order", RECORD_FILL: "fill"}

RING_DIRECTORY_DTYPE = np.dtype(
    [("section", "S16"), ("producer_role", np.uint32), ("consumer_role", np.uint32),
     ("record_kind", np.uint32), ("input_index", np.uint32), ("_reserved", np.uint8, (32,))],
    align=True,
)
RING_DIRECTORY_OFFSETS = {"section": 0, "producer_role": 16, "consumer_role": 20,
                          "record_kind": 24, "input_index": 28, "_reserved": 32}
RING_DIRECTORY_ROW_SIZE = 64
assert_layout(RING_DIRECTORY_DTYPE, RING_DIRECTORY_OFFSETS, RING_DIRECTORY_ROW_SIZE)
