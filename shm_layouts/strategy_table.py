"""Strategy table: one row per strategy, written once by the supervisor before the
workers start. It says where each strategy's per-symbol state rows are in the
"strat_state" section and what their fields are, so `tickpipe inspect` can show
a user's state by field name without importing the user's code.

offset | size | field         | unit            | written by | read by        | notes
-------+------+---------------+-----------------+------------+----------------+----------------------
     0 |   32 | name          | ASCII, 0-padded | supervisor | tools          | [[strategy]] name
    32 |    8 | state_offset  | bytes           | supervisor | strategy, tools| from the segment start
    40 |    8 | row_size      | bytes           | supervisor | strategy, tools| a multiple of 64
    48 |    8 | n_symbols     | count           | supervisor | tools          | rows of state
    56 |    8 | meta_len      | bytes           | supervisor | tools          | of meta
    64 | 4032 | meta          | UTF-8 JSON      | supervisor | tools          | source, params, symbols,
       |      |               |                 |            |                | state fields (numpy descr)

Each state row is one symbol's record of the strategy's STATE dtype (its fields
at the offsets meta names, zero-padded to row_size). The strategy changes it
only through its commit log (engine/commit.py), with the batch that caused it.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

MAX_STRATEGIES = 4
META_BYTES = 4032

STRATEGY_ROW_DTYPE = np.dtype(
    [("name", "S32"), ("state_offset", np.uint64), ("row_size", np.uint64),
     ("n_symbols", np.uint64), ("meta_len", np.uint64), ("meta", f"S{META_BYTES}")],
    align=True,
)
STRATEGY_ROW_OFFSETS = {"name": 0, "state_offset": 32, "row_size": 40, "n_symbols": 48,
                        "meta_len": 56, "meta": 64}
STRATEGY_ROW_SIZE = 4096
assert_layout(STRATEGY_ROW_DTYPE, STRATEGY_ROW_OFFSETS, STRATEGY_ROW_SIZE)


def check_strategy_row(row) -> None:
    """Raise ValueError naming the bad value if a row is malformed."""
    if int(row["row_size"]) % 64:
        raise ValueError(f"strategy {row['name']!r}: row_size {int(row['row_size'])} is not a "
                         f"multiple of 64")
    if int(row["meta_len"]) > META_BYTES:
        raise ValueError(f"strategy {row['name']!r}: meta_len {int(row['meta_len'])} > "
                         f"{META_BYTES}")
