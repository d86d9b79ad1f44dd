"""Worker table: one row per worker process, MAX_WORKERS rows.

Each row is eight cache lines, split by writer so that the supervisor's writes
never share a line with the worker's hot counters.

offset | size | field           | unit / value   | written by | read by          | ordering
-------+------+-----------------+----------------+------------+------------------+---------------------
     0 |    4 | role_id         | ROLE_*         | supervisor | worker, tools    | before ready
     4 |    4 | core            | cpu number     | supervisor | worker, tools    |
     8 |    8 | pid             | pid            | supervisor | tools            | after each spawn
    16 |    8 | start_ticks     | clock ticks    | supervisor | tools            | pid identity
    24 |    4 | wait            | WAIT_* code    | supervisor | worker, tools    |
    28 |    4 | restarts        | count          | supervisor | tools            |
    32 |    4 | sched_fifo      | 0/1            | supervisor | tools            |
    36 |    4 | state           | WORKER_*       | worker     | supervisor       | release
    40 |    8 | started_unix_ns | ns, realtime   | supervisor | tools            |
    48 |    4 | mem_locked      | 0/1            | worker     | tools            | after mlockall
    52 |   12 | _reserved0      |                |            |                  |
    64 |    8 | heartbeat_ns    | ns, monotonic  | worker     | supervisor       | relaxed, per batch
    72 |    8 | processed       | records        | worker     | tools            | relaxed
    80 |    8 | published       | records        | worker     | tools            | relaxed
    88 |    8 | errors          | count          | worker     | tools            | relaxed
    96 |    8 | busy_passes     | count          | worker     | tools            | passes with work
   104 |    8 | idle_passes     | count          | worker     | tools            | passes without
   112 |    8 | sleeps          | count          | worker     | tools            | futex sleeps
   120 |    8 | _reserved1      |                |            |                  |
   128 |  256 | counters[32]    | its role's     | worker     | tools            | relaxed
   384 |    4 | doorbell_armed  | 0/1            | worker     | its producers    | seq_cst (engine/idle.py)
   388 |    4 | doorbell_wake_seq | count        | producers  | worker           | the futex word
   392 |   56 | _pad_doorbell   |                |            |                  |
   448 |   16 | role_name       | ASCII          | supervisor | tools            |
   464 |   48 | _reserved2      |                |            |                  | (restarts read the commit log:
       |      |                 |                |            |                  | shm_layouts/commit_log.py)
   512 |      | (row end)       |                |            |                  |
"""

import numpy as np

from tickpipe.shm_layouts.control_block import REJECT_NAMES
from tickpipe.shm_layouts.fill import VENUE_REASON_NAMES
from tickpipe.shm_layouts.layout_rules import assert_layout

MAX_WORKERS = 14  # the pipeline's 4 + strategies 2..4 (rows 0-6), then declared roles
MAX_INPUTS = 6
N_COUNTERS = 32  # risk counts each reject reason in its own slot

# A row's role_id and its counters' names are its role's (workers/<role>/role.py,
# engine/role.py); the slots below are the pipeline roles', here because the kernels
# and the strategy runtime write them.

# Worker states (written by the worker; the supervisor's start barrier waits for READY).
WORKER_EMPTY = 0
WORKER_STARTING = 1
WORKER_READY = 2      # compiled, warmed up, waiting for the go
WORKER_RUNNING = 3
WORKER_STOPPED = 4    # left its loop cleanly
WORKER_FAILED = 5
WORKER_STATE_NAMES = {WORKER_EMPTY: "empty", WORKER_STARTING: "starting", WORKER_READY: "ready",
                      WORKER_RUNNING: "running", WORKER_STOPPED: "stopped", WORKER_FAILED: "failed"}

# Named counter slots of the pipeline's roles (counters[32]); each role's declaration
# names them.
FEED_TICKS, FEED_TRADES = 0, 1
FEED_DEPTH_ROWS = 2  # a tape's depth rows written into the L2 book (sent on no ring)
STRATEGY_MD_READ, STRATEGY_INTENTS, STRATEGY_FILLS_READ, STRATEGY_SIGNALS_SKIPPED = 0, 1, 2, 3
STRATEGY_ILLEGAL_TRANSITIONS = 4  # reports its order table could not apply (counted, not applied)
STRATEGY_RECORDS_SKIPPED = 5  # records passed without their callback (on_error = "skip"/"retire")
STRATEGY_REFUSED_BASE = 8  # counters[8 + code - 1]: sends the API refused, REFUSED_<code> (1..4)
STRATEGY_REFUSED_NAMES = {1: "no_room", 2: "bad_order", 3: "table_full", 4: "pending"}
RISK_INTENTS_READ, RISK_ORDERS_SENT, RISK_FILLS_READ, RISK_BOOK_UNREADABLE = 0, 1, 2, 3
RISK_REJECT_BASE = 4  # counters[4 + reason] for each REJECT_* reason in control_block.py
RISK_ORDERS_OUT = 28  # records on the orders ring: orders sent and the denials forwarded
RISK_PNL_PEAK = 31   # not a count: the running P&L's high-water mark, float64 bits, committed
GATEWAY_ORDERS_READ, GATEWAY_REPORTS_SENT, GATEWAY_FILLS, GATEWAY_PARTIALS, GATEWAY_CANCELS, \
    GATEWAY_REJECTS, GATEWAY_BOOK_UNREADABLE, GATEWAY_ILLEGAL_TRANSITIONS = 0, 1, 2, 3, 4, 5, 6, 7
GATEWAY_MD_READ, GATEWAY_NEW_ACKS, GATEWAY_REPLACES, GATEWAY_EXPIRED, GATEWAY_KILL_CANCELS, \
    GATEWAY_RISK_REJECTS, GATEWAY_VENUE_DROPPED, GATEWAY_VENUE_READ = 8, 9, 10, 11, 12, 13, 14, 15
# a venue process's reports (workers/gateway/external.py): read, and dropped (a duplicate,
# or for no order of ours)
GATEWAY_VENUE_REJECT_BASE = 16  # counters[16 + VENUE_*]: the venue's rejects by reason (fill.py)
# *_BOOK_UNREADABLE: book reads that gave up on a row left odd by a dead feed (seqlock health)

# every reason its own slot, clear of the named counters around them
assert RISK_REJECT_BASE + len(REJECT_NAMES) <= RISK_ORDERS_OUT < RISK_PNL_PEAK < N_COUNTERS
assert GATEWAY_VENUE_REJECT_BASE + len(VENUE_REASON_NAMES) <= N_COUNTERS

WORKER_DTYPE = np.dtype(
    [
        ("role_id", np.uint32), ("core", np.int32), ("pid", np.uint64), ("start_ticks", np.uint64),
        ("wait", np.uint32), ("restarts", np.uint32), ("sched_fifo", np.uint32),
        ("state", np.uint32), ("started_unix_ns", np.int64), ("mem_locked", np.uint32),
        ("_reserved0", np.uint8, (12,)),
        ("heartbeat_ns", np.int64), ("processed", np.uint64), ("published", np.uint64),
        ("errors", np.uint64), ("busy_passes", np.uint64), ("idle_passes", np.uint64),
        ("sleeps", np.uint64), ("_reserved1", np.uint64),
        ("counters", np.uint64, (N_COUNTERS,)),
        ("doorbell_armed", np.uint32), ("doorbell_wake_seq", np.uint32),
        ("_pad_doorbell", np.uint8, (56,)),
        ("role_name", "S16"),
        ("_reserved2", np.uint64, (MAX_INPUTS,)),
    ],
    align=True,
)
WORKER_OFFSETS = {
    "role_id": 0, "core": 4, "pid": 8, "start_ticks": 16, "wait": 24, "restarts": 28,
    "sched_fifo": 32, "state": 36, "started_unix_ns": 40, "mem_locked": 48, "_reserved0": 52,
    "heartbeat_ns": 64, "processed": 72, "published": 80, "errors": 88, "busy_passes": 96,
    "idle_passes": 104, "sleeps": 112, "_reserved1": 120, "counters": 128,
    "doorbell_armed": 384, "doorbell_wake_seq": 388, "_pad_doorbell": 392, "role_name": 448,
    "_reserved2": 464,
}
WORKER_ROW_SIZE = 512
assert_layout(WORKER_DTYPE, WORKER_OFFSETS, WORKER_ROW_SIZE)

# Word indices into a row viewed as int64/uint64 words (for jitted loops).
W_HEARTBEAT_NS = 64 // 8
W_PROCESSED = 72 // 8
W_PUBLISHED = 80 // 8
W_ERRORS = 88 // 8
W_BUSY_PASSES = 96 // 8
W_IDLE_PASSES = 104 // 8
W_SLEEPS = 112 // 8
W_COUNTERS = 128 // 8
STATE_OFFSET = 36
DOORBELL_OFFSET = 384

