"""The kernel contract: what a role gives the one runner (engine/runner.py).

A role (workers/feed/agent.py, risk.py, gateway.py; a strategy through
engine/strategy_kernels.py) is its trading logic only, as ten jitted functions
over its context `ctx` (a namedtuple: its wiring by name, and the fields the
runner drives it by, listed in engine/batch.py):

  begin_pass(ctx)                        once per pass, before the inputs
  begin_batch(ctx, k, now)               a batch of input k starts
  record_need(ctx, k, position, now)     the slots the record at `position` of
                                         input k may write on each live output,
                                         or NOT_DUE: it and the rest wait
  undo_need(ctx, need)                   undo-log words the next record (or
                                         source step) may log, syncs included
  on_record(ctx, k, position, now)       apply the record; write outputs at
                                         ctx.written[m] (+1 each), below ctx.room[m]
  before_commit(ctx)                     store mirrored rows through the open batch
  source_need(ctx, now)                  room for the next step of what the role
                                         makes by itself (ticks, timer events,
                                         sweeps); 0: nothing now; ROLE_DONE: stop
  source_step(ctx, now)                  make it; returns records made (> 0)
  pass_idle(ctx, work)                   wait after a pass (engine/idle.py)
  live_outputs(ctx)                      which outputs are still read (ctx.out_live:
                                         a retired strategy's rings are not): at the
                                         start of each pass and at every wait for
                                         room, so a producer never waits on a ring
                                         its reader was given up on meanwhile

A kernel never waits, never commits, never publishes and never touches a
progress word: the runner does all of that, the same way for every role. Every
change a kernel makes to shared memory goes through the open batch (txn_set,
txn_add, commit.mark_row), so it commits with the batch's progress or not at all.

Every kernel takes the role's wiring as one namedtuple and is compiled without
numba's reference counting (_nrt=False; no kernel allocates): with it, each
`ctx.field` read is an atomic incref/decref pair, and a loop cost ~5x more per
record. The per-record ones (record_need, undo_need, on_record) are declared
inline="always", so numba inlines them into the runner's batch loop: as plain
calls they cost risk 50 ns more per order (docs/runner.md).

The defaults below are for a role that leaves one out.
"""

from numba import njit

from tickpipe.engine.batch import MAX_UNDO_WORDS_PER_RECORD
from tickpipe.engine.idle import idle

NOT_DUE = -1     # record_need: this record (and those behind it) is not due yet
ROLE_DONE = -1   # source_need: the role has finished (the feed told to stop)


@njit(cache=True, _nrt=False)
def nothing_per_pass(ctx):
    pass


@njit(cache=True, _nrt=False)
def nothing_per_batch(ctx, k, now):
    pass


@njit(cache=True, _nrt=False)
def no_records(ctx, k, position, now):
    return 0


@njit(cache=True, _nrt=False)
def skip_record(ctx, k, position, now):
    pass


@njit(cache=True, _nrt=False, inline="always")
def record_undo(ctx, need):
    """A record logs at most MAX_UNDO_WORDS_PER_RECORD words (engine/batch.py)."""
    return MAX_UNDO_WORDS_PER_RECORD


@njit(cache=True, _nrt=False)
def no_mirror(ctx):
    pass


@njit(cache=True, _nrt=False)
def all_outputs_read(ctx):
    pass  # (ctx.out_live starts all 1)


@njit(cache=True, _nrt=False)
def no_source(ctx, now):
    return 0


@njit(cache=True, _nrt=False)
def no_source_step(ctx, now):
    return 0


@njit(cache=True, _nrt=False)
def idle_on_inputs(ctx, work):
    """The wait strategy's idle over the role's input rings."""
    idle(ctx.idle_state, work, ctx.inputs)
