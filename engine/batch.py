"""The mechanics every worker loop shares: stop flags, heartbeat, backpressure, and the
end of a batch (commit, publish, release: engine/commit.py).

All return codes or values; none raises.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import load_acquire_u32, monotonic_ns
from tickpipe.engine.commit import X_BATCH, X_UNDO, txn_add, txn_commit, txn_consumed, txn_produced
from tickpipe.engine.idle import I_SLEEPS, I_STRATEGY, WAIT_NONE, WAIT_SPIN, pause_while_full
from tickpipe.engine.ring import H_POSITION, consumer_release, producer_claim, producer_publish
from tickpipe.shm_layouts.commit_log import UNDO_CAPACITY
from tickpipe.shm_layouts.control_block import RETIRED_OFFSET, STOP_ALL_OFFSET
from tickpipe.shm_layouts.strategy_table import MAX_STRATEGIES
from tickpipe.shm_layouts.worker_table import (
    W_BUSY_PASSES, W_COUNTERS, W_HEARTBEAT_NS, W_IDLE_PASSES, W_PROCESSED, W_PUBLISHED, W_SLEEPS,
)

BATCH = 256  # records per read/claim: bounds the latency one batch adds


@njit(cache=True)
def stop_requested(control_address):
    return load_acquire_u32(control_address + STOP_ALL_OFFSET) != 0


@njit(cache=True)
def read_retired(control_address, retired, n_strategies):
    """retired[k] = 1 for a strategy k the supervisor gave up (its rings are no longer
    fed); read once per batch. Entries past n_strategies (the feed's venue ring) stay 0."""
    for k in range(n_strategies):
        retired[k] = load_acquire_u32(control_address + RETIRED_OFFSET + 4 * k)


@njit(cache=True)
def account_pass(row_words, idle_state, work, passes):
    """Pass counters on every pass; the heartbeat on every 64th pass, after every futex
    sleep, and after every idle pass of a worker that does not spin. A spinning worker
    does not read the clock on each spin, and a sleeping one (at most one sleep timeout
    per pass) still looks alive. An idle pass of a yielding worker handed the core round:
    on a loaded core that costs a scheduler slice, and 64 of them outlasted a 1 s
    heartbeat timeout beside a second test suite (idle consumers were killed in bench
    chaos's SIGSTOP phase), so it stamps each (a clock read beside a syscall)."""
    if work > 0:
        row_words[W_BUSY_PASSES] += 1
    else:
        row_words[W_IDLE_PASSES] += 1
    slept = np.uint64(idle_state[I_SLEEPS]) != row_words[W_SLEEPS]
    strategy = idle_state[I_STRATEGY]
    # WAIT_NONE: one thread runs every role (a backtest), and an idle pass hands nothing round
    handed_round = work == 0 and strategy != WAIT_SPIN and strategy != WAIT_NONE
    if slept or handed_round or (passes & 63) == 0:
        row_words[W_HEARTBEAT_NS] = monotonic_ns()
        row_words[W_SLEEPS] = idle_state[I_SLEEPS]


@njit(cache=True)
def wait_while_full(row_words, idle_state, streak):
    """One wait of a producer whose output ring is full. It stamps its heartbeat
    after each wait that handed the core round, and every 64th pause of a spinner: a
    producer held up by a stalled consumer is alive, and the supervisor must kill the
    stalled one, not the producer behind it. Not every 256th wait, as it was: on a
    loaded core a sched_yield can cost a scheduler slice (4 ms and more), so 256 of them
    outlasted a 1 s heartbeat timeout and a healthy feed was killed (bench chaos's
    SIGSTOP phase, under a busy test suite). The clock read is ~20 ns beside a yield's
    syscall."""
    if pause_while_full(idle_state, streak) or (streak & 63) == 0:
        row_words[W_HEARTBEAT_NS] = monotonic_ns()


# ---- the batch's end: commit, then publish, then release (engine/commit.py) ----------

# Undo entries a record may need at most (risk's fill: the engine's book, five words:
# position, cost basis, realised, cash, filled; the strategy's, four; the fee on both;
# the released lots on both; the symbol's open orders: 14; the gateway's order: venue
# fields and three counters).
MAX_UNDO_WORDS_PER_RECORD = 15
assert BATCH * MAX_UNDO_WORDS_PER_RECORD + 64 <= UNDO_CAPACITY  # a whole batch fits the log


@njit(cache=True)
def count(txn, row_words, word, delta):
    """Add `delta` to word `word` of this worker's row, with the open batch: a counter
    is committed with the effects it counts, or not at all."""
    txn_add(txn, row_words.ctypes.data + word * 8, delta)  # a 0 changes and logs nothing


# ---- the runner's side of a batch (engine/runner.py): room, and the commit ------------
# A role's context carries, besides its own wiring (inputs: consumer handles in
# commit-log slot order; txn, row_words, idle_state, control), what the runner drives
# it by, RUNNER_FIELDS, made by runner_fields:
#   outs          int64[n_out, HANDLE_SLOTS]: producer handles, in slot order
#   written       int64[n_out]: records written in the open batch, past the ring's head
#   room          int64[n_out]: slots claimed past the head (a kernel writes below it)
#   out_live      int64[n_out]: 0 for an output nobody reads any more (a retired strategy's)
#   out_counters  int64[n_out]: the role counter its records count in (-1: none)
#   in_counters   int64[n_in, 2]: the role counter each input's records count in, and 1
#                 when they also count as `processed`
#   read_order    int64[]: the inputs read each pass, in turn
#   drain         int64[n_in]: 1 for an input read while the runner waits for room
RUNNER_FIELDS = ["outs", "written", "room", "out_live", "out_counters", "in_counters",
                 "read_order", "drain"]


# Per strategy a role may have a ring (the feed's quotes, risk's intents, the gateway's
# reports): as many as the strategies, plus the feed's and the gateway's one more.
PER_STRATEGY_SLOTS = MAX_STRATEGIES + 1


def per_strategy(arrays) -> tuple:
    """A tuple of a role's per-strategy ring arrays, padded to PER_STRATEGY_SLOTS with its
    first (never read there: the kernels index only the rings that exist). A tuple's
    length is part of its numba type: unpadded, an engine of 2, 3 or 4 strategies compiled
    the feed, risk and the gateway anew (30 s here, each time the count changed)."""
    arrays = tuple(arrays)
    return arrays + (arrays[0],) * (PER_STRATEGY_SLOTS - len(arrays))


def runner_fields(outs, out_counters, in_counters, read_order, drain) -> dict:
    """RUNNER_FIELDS for a role's context: nothing written or claimed yet, every output
    live."""
    n = len(outs)
    return dict(outs=outs, written=np.zeros(n, dtype=np.int64), room=np.zeros(n, dtype=np.int64),
                out_live=np.ones(n, dtype=np.int64),
                out_counters=np.array(out_counters, dtype=np.int64).reshape(n),
                in_counters=np.array(in_counters, dtype=np.int64).reshape(-1, 2),
                read_order=np.array(read_order, dtype=np.int64).reshape(-1),
                drain=np.array(drain, dtype=np.int64).reshape(-1))


@njit(cache=True, _nrt=False, inline="always")
def undo_left(txn):
    """Words the open batch's undo log can still take."""
    used = txn[X_UNDO] if txn[X_BATCH] != 0 else 0
    return UNDO_CAPACITY - used


@njit(cache=True, _nrt=False, inline="always")
def has_room(ctx, need, undo):
    """`need` more records fit on every live output past what the batch wrote, and `undo`
    more words in the log. Claims more room when what was claimed is used up; never
    waits. Only outputs that are full (or nearly) cost a look at their consumer."""
    if undo_left(ctx.txn) < undo:
        return False
    if need == 0:
        return True
    for m in range(ctx.outs.shape[0]):
        wanted = ctx.written[m] + need
        if wanted > ctx.room[m] and ctx.out_live[m]:
            ctx.room[m] = producer_claim(ctx.outs[m], max(wanted, BATCH))
            if wanted > ctx.room[m]:
                return False
    return True


@njit(cache=True, _nrt=False, inline="always")
def commit_outputs(ctx, k, consumed):
    """End a batch: `consumed` records of input k (k < 0 or 0 records: none) and what
    was written on each output, counted and committed as one step; then the outputs
    published and the input released. A batch that read, wrote and logged nothing
    commits nothing."""
    txn = ctx.txn
    total = 0
    for m in range(ctx.outs.shape[0]):
        total += ctx.written[m]
    if consumed == 0 and total == 0 and txn[X_BATCH] == 0:
        return
    if consumed > 0:
        if ctx.in_counters[k, 1]:
            count(txn, ctx.row_words, W_PROCESSED, consumed)
        count(txn, ctx.row_words, W_COUNTERS + ctx.in_counters[k, 0], consumed)
        txn_consumed(txn, k, ctx.inputs[k, H_POSITION] + consumed)
    for m in range(ctx.outs.shape[0]):
        written = ctx.written[m]
        if written > 0:
            txn_produced(txn, m, ctx.outs[m, H_POSITION] + written)
            if ctx.out_counters[m] >= 0:
                count(txn, ctx.row_words, W_COUNTERS + ctx.out_counters[m], written)
    if total > 0:
        count(txn, ctx.row_words, W_PUBLISHED, total)
    txn_commit(txn)
    for m in range(ctx.outs.shape[0]):
        written = ctx.written[m]
        if written > 0:
            producer_publish(ctx.outs[m], written)
            ctx.room[m] -= written  # the claim counts from the head, which moved
            ctx.written[m] = 0
    if consumed > 0:
        consumer_release(ctx.inputs[k], consumed)
