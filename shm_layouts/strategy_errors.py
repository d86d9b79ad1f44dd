"""Strategy errors: per strategy, what its callbacks failed on and what `[[strategy]]
on_error` made of it. One row per strategy ("strat_errors" section), three parts, one
writer each (the supervisor's line never shares a line with the worker's).

offset | size | field           | unit / value      | written by  | read by            | ordering
-------+------+-----------------+-------------------+-------------+--------------------+--------------------------
     0 |    8 | mode            | ERR_MODE_*        | supervisor  | strategy, tools    | before the spawn
     8 |    8 | skip_kind       | REC_*             | supervisor  | strategy, tools    | before the spawn
    16 |    8 | skip_position   | ring position     | supervisor  | strategy, tools    | (a timer: its symbol)
    24 |    8 | watch_kind      | REC_*             | supervisor  | strategy, tools    | before the spawn
    32 |    8 | watch_position  | ring position     | supervisor  | strategy, tools    | (a timer: its symbol)
    40 |   24 | _reserved0      |                   |             |                    |
    64 |    8 | failed_kind     | REC_*             | strategy    | supervisor, tools  | as the process dies
    72 |    8 | failed_position | ring position     | strategy    | supervisor, tools  | (a timer: its symbol)
    80 |    8 | failed_pid      | pid               | strategy    | supervisor         | last: which process
    88 |   40 | _reserved1      |                   |             |                    |
   128 |    8 | last_kind       | REC_*             | strategy    | tools              | its commit log, with the
   136 |    8 | last_position   | ring position     | strategy    | tools              | batch that skipped it
   144 |    8 | last_symbol     | symbol id         | strategy    | tools              |
   152 |    8 | last_time_ns    | ns, monotonic     | strategy    | tools              | the record's origin_ns
   160 |   32 | _reserved2      |                   |             |                    |
   192 |  128 | last_record     | the record's bytes| strategy    | tools              | a quote 64, a report 128
   320 |      | (row end)       |                   |             |                    |

What the supervisor tells the next process of the strategy (engine/on_error.py):
watch_*, the record the last process raised on: the runner gives it a batch of its
own, so that a second failure there leaves exactly the state before it committed;
skip_*, the record on_error ("skip", "retire") said to skip: the runner gives it a
batch of its own too and passes it without its callback, counted (worker counter
records_skipped) and noted in last_*, committed with the input's progress: once
however the process dies (docs/commit_protocol.md). A record is named by its ring
and position: REC_QUOTE on the strategy's quotes ring (a quote or a trade),
REC_REPORT on its reports ring; REC_TIMER is an on_timer call, its "position" the
symbol.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

REC_NONE = 0
REC_QUOTE = 1     # a record of the strategy's quotes ring: on_quote or on_trade
REC_REPORT = 2    # a record of its reports ring: on_fill
REC_TIMER = 3     # an on_timer call: "position" is the symbol
REC_NAMES = {REC_QUOTE: "quote", REC_REPORT: "report", REC_TIMER: "timer"}

ERR_MODE_TRADING = 0
ERR_MODE_RETIRED = 1  # on_error = "retire": no callback is called; its bookkeeping goes on
ERR_MODE_NAMES = {ERR_MODE_TRADING: "trading", ERR_MODE_RETIRED: "retired"}

LAST_RECORD_BYTES = 128  # the largest ring record (a report)

STRATEGY_ERRORS_DTYPE = np.dtype(
    [("mode", np.int64), ("skip_kind", np.int64), ("skip_position", np.int64),
     ("watch_kind", np.int64), ("watch_position", np.int64), ("_reserved0", np.uint8, (24,)),
     ("failed_kind", np.int64), ("failed_position", np.int64), ("failed_pid", np.int64),
     ("_reserved1", np.uint8, (40,)),
     ("last_kind", np.int64), ("last_position", np.int64), ("last_symbol", np.int64),
     ("last_time_ns", np.int64), ("_reserved2", np.uint8, (32,)),
     ("last_record", np.uint8, (LAST_RECORD_BYTES,))],
    align=True,
)
STRATEGY_ERRORS_OFFSETS = {
    "mode": 0, "skip_kind": 8, "skip_position": 16, "watch_kind": 24, "watch_position": 32,
    "_reserved0": 40,
    "failed_kind": 64, "failed_position": 72, "failed_pid": 80, "_reserved1": 88,
    "last_kind": 128, "last_position": 136, "last_symbol": 144, "last_time_ns": 152,
    "_reserved2": 160, "last_record": 192,
}
STRATEGY_ERRORS_SIZE = 320
assert_layout(STRATEGY_ERRORS_DTYPE, STRATEGY_ERRORS_OFFSETS, STRATEGY_ERRORS_SIZE)

LAST_KIND_OFFSET = 128
LAST_POSITION_OFFSET = 136
LAST_SYMBOL_OFFSET = 144
LAST_TIME_NS_OFFSET = 152
LAST_RECORD_OFFSET = 192


def check_strategy_errors(row) -> None:
    """Raise ValueError naming the bad value if a row is malformed."""
    if int(row["mode"]) not in ERR_MODE_NAMES:
        raise ValueError(f"strategy errors mode {int(row['mode'])} is not one of "
                         f"{sorted(ERR_MODE_NAMES)}")
    for field in ("skip_kind", "watch_kind", "failed_kind", "last_kind"):
        if int(row[field]) != REC_NONE and int(row[field]) not in REC_NAMES:
            raise ValueError(f"strategy errors {field} {int(row[field])} is not a record kind "
                             f"(0..{max(REC_NAMES)})")
