"""The one worker runner: the mechanics every role shares, around the role's kernels.

Per pass:   begin_pass; a batch of each input in ctx.read_order; the role's own
            production (run_source); idle by the wait strategy; account the pass
            (heartbeat included).
Per batch:  begin_batch; per record: record_need, room for it (or commit what is
            done and wait for room), on_record; at the end one commit: the
            kernels' mirrored rows stored (before_commit), the counts, the
            progress on the input and every output as one step
            (engine/batch.py commit_outputs, engine/commit.py), then the outputs
            published and the input released.
Every wait (a full output ring, an empty input ring) stamps the heartbeat and
checks the stop flag. While it waits for room, the runner reads the inputs
marked ctx.drain with no room on any output (their kernels can still apply what
needs no output: risk's reports, a strategy's fills whose sends are then refused),
and a record of such an input never waits for room in its own batch either (it
runs with the room there is), so two workers that feed each other can never
wait on each other for good (docs/runner.md).

The kernel contract is engine/kernels.py. This file is a template: for each role
engine/runner_gen.py writes a copy in which the block between the KERNELS marks
imports (or, for a strategy, defines) that role's kernels, so they are module
globals of the copy and numba compiles them into `run` and caches the result on
disk for every later process of the role.
"""

from numba import njit

from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.clock import clock_now, simulated
from tickpipe.engine.batch import (
    BATCH, account_pass, commit_outputs, has_room, stop_requested, undo_left, wait_while_full,
)
from tickpipe.engine.kernels import ROLE_DONE
from tickpipe.engine.ring import H_POSITION, consumer_available
from tickpipe.shm_layouts.worker_table import W_HEARTBEAT_NS

# ---- KERNELS: engine/runner_gen.py puts the role's here ----
from tickpipe.engine.kernels import (  # the template's own: a role that does nothing
    idle_on_inputs as pass_idle, no_mirror as before_commit, no_records as record_need,
    no_source as source_need, no_source_step as source_step, nothing_per_batch as begin_batch,
    nothing_per_pass as begin_pass, record_undo as undo_need, skip_record as on_record,
    all_outputs_read as live_outputs,
)
# ---- end of KERNELS ----

from tickpipe.engine import kernels as _template  # noqa: E402

# Whether a pass of the role can do anything with no record to read: make records of its
# own, or act on every pass. A backtest's driver (engine/backtest_driver.py) gives a role that
# cannot (risk) a pass only when a record has come for it, its consumers made room, or
# the engine's state changed; each idle pass is a call it saves per event.
ACTS_UNPROMPTED = not (source_need is _template.no_source
                       and begin_pass is _template.nothing_per_pass
                       and live_outputs is _template.all_outputs_read)


@njit(cache=True, _nrt=False, inline="always")
def commit(ctx, k, consumed):
    """The batch's end: `consumed` records of input k (k < 0: none)."""
    before_commit(ctx)
    commit_outputs(ctx, k, consumed)


@njit(cache=True, _nrt=False)
def drain_batch(ctx, k):
    """A batch of input k read while waiting for room: no room on any output, so a
    record that would send is refused (a kernel writes only below ctx.room)."""
    handle = ctx.inputs[k]
    n = consumer_available(handle, BATCH)
    if n == 0:
        return 0
    for m in range(ctx.room.shape[0]):
        ctx.room[m] = ctx.written[m]
    now = clock_now(ctx.control)
    begin_batch(ctx, k, now)
    start = handle[H_POSITION]
    done = 0
    end = n
    for i in range(n):
        if record_need(ctx, k, start + i, now) < 0:
            end = i
            break
        if undo_left(ctx.txn) < undo_need(ctx, 0):
            commit(ctx, k, i - done)
            done = i
        on_record(ctx, k, start + i, now)
    commit(ctx, k, end - done)
    return end


@njit(cache=True, _nrt=False)
def wait_for_room(ctx, k, need):
    """Wait (the batch so far committed) until `need` records fit on every live output;
    False when the engine is stopping. Meanwhile the drained inputs other than k are
    read (the heartbeat stamped after each look that read some: a batch costs more than
    the clock read); when none has anything, one wait (wait_while_full stamps the heartbeat)."""
    streak = 0
    while True:
        live_outputs(ctx)  # a ring whose reader was given up meanwhile is waited on no more
        if has_room(ctx, need, undo_need(ctx, need)):
            return True
        if stop_requested(ctx.control) or simulated(ctx.control):
            return False  # stopping; or one thread runs every role (a backtest): return,
            # and the consumer's turn makes the room
        drained = 0
        for j in range(ctx.drain.shape[0]):
            if j != k and ctx.drain[j]:
                drained += drain_batch(ctx, j)
        if drained == 0:
            wait_while_full(ctx.row_words, ctx.idle_state, streak)
            streak += 1
        else:
            ctx.row_words[W_HEARTBEAT_NS] = monotonic_ns()  # still waiting, and alive


@njit(cache=True, _nrt=False, inline="always")
def read_batch(ctx, k):
    """A batch of input k through the role's kernels; the records read."""
    handle = ctx.inputs[k]
    n = consumer_available(handle, BATCH)
    if n == 0:
        return 0
    now = clock_now(ctx.control)
    begin_batch(ctx, k, now)
    start = handle[H_POSITION]
    done = 0   # records of this batch committed part-way
    end = n
    for i in range(n):
        need = record_need(ctx, k, start + i, now)
        if need < 0:
            end = i  # not due: it and those behind it wait for a later pass
            break
        if not has_room(ctx, need, undo_need(ctx, need)):
            commit(ctx, k, i - done)
            done = i
            if ctx.drain[k]:
                # An input the runner drains never waits for room, here either: its
                # record runs with the room there is (has_room claims it; the log is
                # empty after the commit) and what does not fit is refused. Waiting
                # here would not drain it, and its producer may be waiting for room
                # in it: a strategy on a report waiting for risk, risk for the
                # gateway, the gateway for the strategy's reports ring (docs/runner.md).
                has_room(ctx, need, undo_need(ctx, need))
            elif not wait_for_room(ctx, k, need):
                end = i  # stopping: this record and the rest stay unread
                break
        on_record(ctx, k, start + i, now)
    commit(ctx, k, end - done)
    return end


@njit(cache=True, _nrt=False, inline="always")
def run_source(ctx):
    """What the role makes by itself, step by step while it has something to make;
    the records made, or ROLE_DONE."""
    made = 0
    while not stop_requested(ctx.control):
        now = clock_now(ctx.control)
        need = source_need(ctx, now)
        if need == ROLE_DONE:
            commit(ctx, -1, 0)
            return ROLE_DONE
        if need <= 0:
            break
        if not has_room(ctx, need, undo_need(ctx, need)):
            commit(ctx, -1, 0)
            if not wait_for_room(ctx, -1, need):
                break
        step = source_step(ctx, now)
        if step <= 0:
            break  # a step that makes nothing would be asked again and again
        made += step
    commit(ctx, -1, 0)
    return made


@njit(cache=True, _nrt=False)
def run(ctx, max_passes):
    """Until stop_all (max_passes < 0), or for max_passes passes (0: return at once,
    which is how warm-up compiles it). Returns 0."""
    passes = 0
    while max_passes < 0 or passes < max_passes:
        if stop_requested(ctx.control):
            break
        passes += 1
        live_outputs(ctx)
        begin_pass(ctx)
        work = 0
        for j in range(ctx.read_order.shape[0]):
            work += read_batch(ctx, ctx.read_order[j])
        made = run_source(ctx)
        if made == ROLE_DONE:
            break
        work += made
        pass_idle(ctx, work)
        account_pass(ctx.row_words, ctx.idle_state, work, passes)
    return 0
