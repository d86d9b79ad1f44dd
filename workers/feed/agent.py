"""Feed worker: quotes and trades for N symbols, synthetic or replayed from a data file.

Synthetic ([feed] source = "synthetic", the default): each symbol's mid takes a random
walk of one tick up, down or none per quote, at [engine] rate or flat out; the spread
and sizes come from the config. Replayed ([feed] source = "file"): the records of a
tape (workers/feed/sources/: a data file read once, ahead of the feed) in order, each
due at its recorded time's distance from the first one replayed, divided by [feed]
speed (0: flat out); the tape's position is the feed's tick counter, committed with
each batch, so a restarted feed goes on from the record after the last one it sent,
and at the tape's end the feed leaves (the supervisor then drains and stops:
lifecycle `data_ended`). Live ([feed] source = "live"): the records a live source
(workers/live_source/: a separate process, one producer of the `live_in` ring) has
put on the feed's one input ring, each fanned out as a replayed one is; the input's
consumption commits with the fan-out, so a feed killed mid-batch neither loses nor
repeats one. Every record is stamped with its
origin time and its sequence number equals the ring position + 1 (stamped by
the ring's publish), so a restarted feed simply continues at the ring's head.

The origin time is when the tick was *due* at the offered rate, not when the
feed got round to making it: a feed held back by a full ring or a busy core
stamps the schedule, so tick-to-trade includes that queueing instead of hiding
it (no coordinated omission). Flat out (rate 0) nothing is scheduled and a
tick is due when it is made.

The loop is the one runner's (engine/runner.py); the ticks are this role's own
production (its source kernels, engine/kernels.py): one batch a pass, as much as
every live ring has room for.
"""


from collections import namedtuple

import numpy as np
from numba import njit

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.atomics import cpu_pause, load_acquire_u32, monotonic_ns, sched_yield
from tickpipe.engine.clock import clock_now, simulated
from tickpipe.engine.batch import (
    BATCH, RUNNER_FIELDS, count, per_strategy, read_retired, runner_fields,
)
from tickpipe.engine.book import book_write, repair_book
from tickpipe.engine.depth import (
    depth_write_begin, depth_write_end, depth_write_level, rebuild_depth, withdraw_torn_depth,
)
from tickpipe.engine.engine_layout import (
    book_levels, engine_rings, inputs_of, outputs_of, worker_index,
)
from tickpipe.engine.idle import (
    DEFAULT_SLEEP_TIMEOUT_NS, I_STRATEGY, WAIT_SPIN, idle, set_timer_slack, sleep_for,
)
from tickpipe.engine.kernels import (  # noqa: F401  (kernels the feed leaves to the defaults)
    ROLE_DONE, no_mirror as before_commit, nothing_per_batch as begin_batch,
)
from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_has_data
from tickpipe.engine.runner_gen import role_runner
from tickpipe.engine.strategy_config import symbol_ids
from tickpipe.shm_layouts.control_block import FEED_GO_OFFSET, STOP_FEED_OFFSET
from tickpipe.shm_layouts.market_data import (
    MARKET_DATA_DTYPE, MD_KIND_DEPTH, MD_KIND_QUOTE, MD_KIND_TRADE,
)
from tickpipe.shm_layouts.worker_table import (
    FEED_DEPTH_ROWS, FEED_TICKS, FEED_TRADES, STATE_OFFSET, W_COUNTERS, WORKER_DTYPE, WORKER_READY,
    WORKER_RUNNING, WORKER_STARTING,
)
from tickpipe.workers.feed.sources.tape import no_tape, open_tape

FEED_PARAMS_DTYPE = np.dtype([
    ("spread_ticks", np.int64),   # [feed] spread_ticks
    ("max_qty", np.int64),        # [feed] max_qty: sizes and trades are 1..max_qty lots
    ("trade_every", np.int64),    # [feed] trade_every: every Nth tick is a trade (0: none)
    ("rate", np.int64),           # [engine] rate, ticks/s (0: flat out)
    ("replay", np.int64),         # 1: the tape's records, not the walk
    ("speed_milli", np.int64),    # replay: [feed] speed x 1000 (0: flat out)
    ("live", np.int64),           # 1: a live source's records, from the input ring
    ("depth_levels", np.int64),   # [feed] depth: levels of the L2 book written (1: none)
])

FeedContext = namedtuple("FeedContext", [
    "quotes",       # tuple: the records of each output (RUNNER_FIELDS' outs)
    "subscribed",   # uint8[n_outputs, n_symbols]: output k gets the symbol's ticks
    "retired",      # int64[n_outputs]: a strategy the supervisor gave up (skipped)
    "book",         # top-of-book seqlock rows (written here)
    "depth",        # the L2 book's seqlock rows (written here when [feed] depth > 1)
    "mids",         # int64[n_symbols]: each symbol's walk
    "tick_sizes",   # int64[n_symbols]
    "rng",          # uint64[1]: the walk's xorshift state
    "params",       # FEED_PARAMS_DTYPE[1]
    "pace",         # int64[5]: P_* below: the clock's start, ticks made, made this pass,
                    # and for a replay the tape's time and position at the clock's start
    "tape",         # TAPE_DTYPE[n]: the records replayed (empty for the walk)
    "live",         # MARKET_DATA_DTYPE records of the live source's ring (live only)
    "source_state",  # address of the live source's worker state word (live only; else 0)
    "txn", "row_words", "idle_state", "control", "inputs",
] + RUNNER_FIELDS)  # outputs: each strategy's quotes ring, then md_venue; inputs: the
                    # live source's ring (live only; else none)

NS_PER_S = 1_000_000_000
# The longest pacing sleep in one go: the heartbeat is stamped after each, so a slow
# rate (1 tick/s) still beats 5x inside the shortest heartbeat timeout the config
# allows (0.1 s), as the wait strategies' own sleeps do (engine/idle.py).
MAX_PACING_SLEEP_NS = DEFAULT_SLEEP_TIMEOUT_NS


@njit(cache=True)
def next_random(rng):
    """xorshift64*: fast, allocation-free, good enough for a synthetic walk."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return (x * np.uint64(2685821657736338717)) >> np.uint64(11)


@njit(cache=True)
def ticks_due(elapsed_ns, rate):
    """Ticks owed `elapsed_ns` after the start at `rate` per second, without the
    int64 overflow of elapsed_ns * rate (past ~92 s at 100 M/s)."""
    seconds, rest_ns = elapsed_ns // NS_PER_S, elapsed_ns % NS_PER_S
    return seconds * rate + rest_ns * rate // NS_PER_S


@njit(cache=True)
def tick_time_ns(count, rate):
    """ns after the start at which tick number `count` is due (count * 1e9 // rate, split
    so that it cannot overflow)."""
    whole, rest = count // rate, count % rate
    return whole * NS_PER_S + rest * NS_PER_S // rate


# A futex sleep wakes this late or later (the kernel's timer slack, a VM's timer exit):
# sleep until this long before the tick is due, and hand the core round until then.
PACING_WAKE_EARLY_NS = 60_000
TIMER_SLACK_NS = 1  # prctl(PR_SET_TIMERSLACK): the default 50 us is added to every sleep


@njit(cache=True)
def wait_for_next_tick(idle_state, wait_ns):
    """Rate pacing: spinners pause; others sleep on their doorbell until shortly before
    the tick is due (the supervisor rings it to stop them early), at most
    MAX_PACING_SLEEP_NS at a time, and yield for the rest: each tick is stamped with
    the time it was due, so a late wake-up shows as latency. Each sleep counts as one,
    so account_pass stamps the heartbeat after it: a feed at 1 tick/s sleeps most of
    the time and is alive all the same."""
    if idle_state[I_STRATEGY] == WAIT_SPIN or wait_ns < 2_000:
        cpu_pause()
    elif wait_ns <= PACING_WAKE_EARLY_NS:
        sched_yield()
    else:
        sleep_for(idle_state, min(wait_ns - PACING_WAKE_EARLY_NS, MAX_PACING_SLEEP_NS))


# ---- the kernels the runner (engine/runner.py) calls: no inputs; the ticks are the
# role's own production (source_need, source_step), one batch a pass

P_START_NS, P_SENT, P_MADE, P_TAPE_T0, P_TAPE_FROM = range(5)  # pace slots
PACE_SLOTS = 5


@njit(cache=True, _nrt=False)
def live_outputs(ctx):
    """A strategy the supervisor gave up gets no more ticks (its ring is no longer
    read); the venue's ring (the last) always."""
    read_retired(ctx.control, ctx.retired, ctx.outs.shape[0] - 1)
    for k in range(ctx.outs.shape[0]):
        ctx.out_live[k] = 1 - ctx.retired[k]


@njit(cache=True, _nrt=False)
def begin_pass(ctx):
    """The clock starts at the first pass (a replay's at the tape record it resumes at)."""
    if ctx.pace[P_START_NS] == 0:
        ctx.pace[P_START_NS] = clock_now(ctx.control)
        position = tape_position(ctx)
        if ctx.params[0].replay and position < ctx.tape.shape[0]:
            ctx.pace[P_TAPE_FROM] = position
            ctx.pace[P_TAPE_T0] = ctx.tape[position].origin_ns
    ctx.pace[P_MADE] = 0


@njit(cache=True, _nrt=False, inline="always")
def tape_position(ctx):
    """The next tape record to send: every tick and depth row made so far, committed
    (restarts included)."""
    return np.int64(ctx.row_words[W_COUNTERS + FEED_TICKS]) + \
        np.int64(ctx.row_words[W_COUNTERS + FEED_DEPTH_ROWS])


@njit(cache=True, _nrt=False, inline="always")
def tape_due_ns(ctx, position):
    """When tape record `position` is due: its recorded distance from the first record of
    this run of the feed, divided by the speed."""
    recorded = ctx.tape[position].origin_ns - ctx.pace[P_TAPE_T0]
    return ctx.pace[P_START_NS] + recorded * 1000 // ctx.params[0].speed_milli


@njit(cache=True, _nrt=False)
def ticks_owed(ctx, now):
    """Ticks due now and not yet made, at most a batch (flat out: a batch, or what is left
    of the tape)."""
    p = ctx.params[0]
    if p.replay:
        position = tape_position(ctx)
        left = min(ctx.tape.shape[0] - position, BATCH)
        if p.speed_milli == 0:
            return left
        owed = 0
        while owed < left and tape_due_ns(ctx, position + owed) <= now:
            owed += 1
        return owed
    if p.rate == 0:
        return BATCH
    return min(ticks_due(now - ctx.pace[P_START_NS], p.rate) - ctx.pace[P_SENT], BATCH)


@njit(cache=True, _nrt=False)
def source_need(ctx, now):
    """One slot on every live ring when ticks are owed (a batch takes what room there
    is); ROLE_DONE once told to stop, or when the tape is all sent. Live, the ticks
    come in on the input (on_record): nothing to make, and done once told to stop
    and the live source has left with nothing of its left unread."""
    if ctx.params[0].live:
        if load_acquire_u32(ctx.control + STOP_FEED_OFFSET) and live_source_left(ctx) \
                and not consumer_has_data(ctx.inputs[0]):
            return ROLE_DONE
        return 0
    if load_acquire_u32(ctx.control + STOP_FEED_OFFSET):
        return ROLE_DONE
    if ctx.params[0].replay and tape_position(ctx) >= ctx.tape.shape[0]:
        return ROLE_DONE
    if ctx.pace[P_MADE] or ticks_owed(ctx, now) <= 0:
        return 0
    return 1


@njit(cache=True, _nrt=False)
def next_event_ns(ctx):
    """When the feed next has a tick to make, on the engine's clock (a backtest's driver,
    engine/backtest_driver.py, moves simulated time to it): a replay's next tape record's due
    time, the walk's next tick at [engine] rate; -1 when it has none coming (the tape is
    all sent; flat out, where no time is due)."""
    p = ctx.params[0]
    if ctx.pace[P_START_NS] == 0 or p.live or load_acquire_u32(ctx.control + STOP_FEED_OFFSET):
        return -1
    if p.replay:
        position = tape_position(ctx)
        if position >= ctx.tape.shape[0] or p.speed_milli == 0:
            return -1
        return tape_due_ns(ctx, position)
    if p.rate == 0:
        return -1
    return ctx.pace[P_START_NS] + tick_time_ns(ctx.pace[P_SENT] + 1, p.rate)


@njit(cache=True, _nrt=False, inline="always")
def fans_out_to(ctx, k, symbol):
    """Whether output k gets the symbol's ticks: its strategy trades it and is live."""
    return ctx.subscribed[k, symbol] != 0 and ctx.out_live[k] != 0


@njit(cache=True, _nrt=False, inline="always")
def next_slot(ctx, k, origin, now, symbol):
    """The next record of output k in the open batch, claimed (its `written` counted) and
    stamped: due at `origin`, published `now`, of `symbol`."""
    record = ctx.quotes[k][(ctx.outs[k, H_POSITION] + ctx.written[k]) & ctx.outs[k, H_MASK]]
    ctx.written[k] += 1
    record.origin_ns = origin
    record.publish_ns = now
    record.symbol_id = symbol
    return record


@njit(cache=True, _nrt=False)
def source_step(ctx, now):
    if ctx.params[0].replay:
        return replay_step(ctx, now)
    return walk_step(ctx, now)


@njit(cache=True, _nrt=False, inline="always")
def live_source_left(ctx):
    """The live source stops at the same flag as the feed; once its worker has left
    (stopped, failed, or not running at all), nothing more comes in on its ring."""
    state = load_acquire_u32(ctx.source_state)
    return state != WORKER_STARTING and state != WORKER_READY and state != WORKER_RUNNING


@njit(cache=True, _nrt=False, inline="always")
def copy_tick(record, tick):
    """A tick's market fields (its times and symbol are the slot's: next_slot)."""
    record.kind = tick.kind
    record.aggressor_side = tick.aggressor_side
    record.trade_qty = tick.trade_qty
    record.bid_px = tick.bid_px
    record.ask_px = tick.ask_px
    record.trade_px = tick.trade_px
    record.bid_qty = tick.bid_qty
    record.ask_qty = tick.ask_qty


# ---- live: the input's records (the live source's ring), one at a time, through the
# runner's batch: consumed and fanned out in one commit

@njit(cache=True, _nrt=False, inline="always")
def record_need(ctx, k, position, now):
    """One slot on every live output."""
    return 1


@njit(cache=True, _nrt=False, inline="always")
def on_record(ctx, k, position, now):
    """The live source's record to every ring whose strategy trades its symbol (the
    venue's gets them all), a quote's book row written. origin_ns stays the source's
    (when it had the record), so tick-to-trade includes the hop from it."""
    tick = ctx.live[position & ctx.inputs[k, H_MASK]]
    symbol = tick.symbol_id
    for m in range(ctx.outs.shape[0]):
        if fans_out_to(ctx, m, symbol):
            copy_tick(next_slot(ctx, m, tick.origin_ns, now, symbol), tick)
    if tick.kind == MD_KIND_QUOTE:
        book_write(ctx.book, ctx.book.ctypes.data, symbol, tick.bid_px, tick.ask_px,
                   tick.bid_qty, tick.ask_qty, now, position + 1)  # (live: the top only)
    else:
        count(ctx.txn, ctx.row_words, W_COUNTERS + FEED_TRADES, 1)


@njit(cache=True, _nrt=False)
def replay_step(ctx, now):
    """A batch of tape records, each to every ring whose strategy trades its symbol (the
    venue's gets them all), each quote's book row written; a depth row goes to its level
    of the L2 book and to no ring. origin_ns is when the record was due (flat out: now),
    so a replay held back by a full ring shows its queueing."""
    outs = ctx.outs
    written = ctx.written
    got = ticks_owed(ctx, now)
    for k in range(outs.shape[0]):
        if ctx.out_live[k]:
            got = min(got, ctx.room[k] - written[k])
    paced = ctx.params[0].speed_milli > 0
    position = tape_position(ctx)
    book_address = ctx.book.ctypes.data
    depth_address = ctx.depth.ctypes.data
    with_depth = ctx.params[0].depth_levels > 1
    trades = 0
    depth_rows = 0
    for i in range(got):
        tick = ctx.tape[position + i]
        symbol = tick.symbol_id
        if tick.kind >= MD_KIND_DEPTH:  # a level below the top: the book, no ring
            if with_depth:  # (a tape has depth rows only when the engine keeps levels)
                depth_write_level(ctx.depth, depth_address, symbol, tick.kind - MD_KIND_DEPTH,
                                  tick.bid_px, tick.bid_qty, tick.ask_px, tick.ask_qty, now,
                                  position + i + 1)
            depth_rows += 1
            continue
        origin = tape_due_ns(ctx, position + i) if paced else now
        trades += tick.kind == MD_KIND_TRADE
        for k in range(outs.shape[0]):
            if not fans_out_to(ctx, k, symbol):
                continue
            copy_tick(next_slot(ctx, k, origin, now, symbol), tick)
        if tick.kind == MD_KIND_QUOTE:
            book_write(ctx.book, book_address, symbol, tick.bid_px, tick.ask_px, tick.bid_qty,
                       tick.ask_qty, now, position + i + 1)
            if with_depth:
                depth_write_level(ctx.depth, depth_address, symbol, 0, tick.bid_px,
                                  tick.bid_qty, tick.ask_px, tick.ask_qty, now,
                                  position + i + 1)
    count(ctx.txn, ctx.row_words, W_COUNTERS + FEED_TICKS, got - depth_rows)
    count(ctx.txn, ctx.row_words, W_COUNTERS + FEED_DEPTH_ROWS, depth_rows)
    count(ctx.txn, ctx.row_words, W_COUNTERS + FEED_TRADES, trades)
    ctx.pace[P_SENT] += got
    ctx.pace[P_MADE] = 1
    return got


@njit(cache=True, _nrt=False)
def walk_step(ctx, now):
    """A batch of ticks, each to every ring whose strategy trades its symbol (the venue's
    gets them all), each symbol's book row written. A tick's number (the book's
    md_seq; every trade_every-th is a trade) counts every tick made, committed with
    the batch, so a restarted feed continues the count."""
    outs = ctx.outs
    written = ctx.written
    p = ctx.params[0]
    rate = p.rate
    got = ticks_owed(ctx, now)
    for k in range(outs.shape[0]):
        if ctx.out_live[k]:
            got = min(got, ctx.room[k] - written[k])
    n_symbols = ctx.mids.shape[0]
    book_address = ctx.book.ctypes.data
    depth_address = ctx.depth.ctypes.data
    sent = ctx.pace[P_SENT]
    ticks_before = np.int64(ctx.row_words[W_COUNTERS + FEED_TICKS])
    trades = 0
    for i in range(got):
        number = ticks_before + i + 1
        symbol = next_random(ctx.rng) % n_symbols
        tick = ctx.tick_sizes[symbol]
        half_spread = p.spread_ticks * tick
        step = np.int64(next_random(ctx.rng) % 3) - 1
        mid = ctx.mids[symbol] + step * tick
        if mid <= half_spread + tick:
            mid = half_spread + tick  # keep the bid above zero
        ctx.mids[symbol] = mid
        origin = ctx.pace[P_START_NS] + tick_time_ns(sent + i + 1, rate) if rate > 0 else now
        bid_qty = 1 + np.int32(next_random(ctx.rng) % p.max_qty)
        ask_qty = 1 + np.int32(next_random(ctx.rng) % p.max_qty)
        is_trade = p.trade_every > 0 and number % p.trade_every == 0
        trade_qty = 1 + np.int32(next_random(ctx.rng) % p.max_qty) if is_trade else 0
        trades += is_trade
        for k in range(outs.shape[0]):
            if not fans_out_to(ctx, k, symbol):
                continue
            record = next_slot(ctx, k, origin, now, symbol)
            record.bid_px = mid - half_spread
            record.ask_px = mid + half_spread
            record.bid_qty = bid_qty
            record.ask_qty = ask_qty
            if is_trade:
                record.kind = MD_KIND_TRADE
                record.aggressor_side = 1 if step >= 0 else -1
                record.trade_px = record.ask_px if step >= 0 else record.bid_px
                record.trade_qty = trade_qty
            else:
                record.kind = MD_KIND_QUOTE
                record.aggressor_side = 0
                record.trade_px = 0
                record.trade_qty = 0
        book_write(ctx.book, book_address, symbol, mid - half_spread, mid + half_spread,
                   bid_qty, ask_qty, now, number)
        if p.depth_levels > 1:
            # the walk's levels, one write: a tick apart, sizes from the top's (no draws
            # of their own, so the walk is the same sequence whatever the depth)
            writing = depth_write_begin(ctx.depth, depth_address, symbol)
            row = ctx.depth[symbol]
            for level in range(p.depth_levels):
                below = mid - half_spread - level * tick
                if below <= 0:  # the walk's floor: the bid side has no such level
                    row.bid_px[level] = 0
                    row.bid_qty[level] = 0
                    row.ask_px[level] = mid + half_spread + level * tick
                    row.ask_qty[level] = 1 + (ask_qty + level * 7927) % p.max_qty
                    continue
                row.bid_px[level] = below
                row.bid_qty[level] = bid_qty if level == 0 else \
                    1 + (bid_qty + level * 7919) % p.max_qty
                row.ask_px[level] = mid + half_spread + level * tick
                row.ask_qty[level] = ask_qty if level == 0 else \
                    1 + (ask_qty + level * 7927) % p.max_qty
            depth_write_end(ctx.depth, depth_address, symbol, writing, now, number)
    count(ctx.txn, ctx.row_words, W_COUNTERS + FEED_TICKS, got)
    count(ctx.txn, ctx.row_words, W_COUNTERS + FEED_TRADES, trades)
    ctx.pace[P_SENT] = sent + got
    ctx.pace[P_MADE] = 1
    return got


@njit(cache=True, _nrt=False)
def undo_need(ctx, need):
    return 10  # the three tick counters and the runner's counts


@njit(cache=True, _nrt=False)
def pass_idle(ctx, work):
    """Rate pacing: nothing owed, so wait for the next tick's due time; live, the wait
    strategy's idle on the input ring."""
    p = ctx.params[0]
    if p.live:
        idle(ctx.idle_state, work, ctx.inputs)
        return
    if p.replay:
        position = tape_position(ctx)
        if work == 0 and p.speed_milli > 0 and position < ctx.tape.shape[0] \
                and not simulated(ctx.control):  # a backtest's driver moves the clock
            wait_for_next_tick(ctx.idle_state, tape_due_ns(ctx, position) - monotonic_ns())
        return
    rate = p.rate
    if work == 0 and rate > 0 and not simulated(ctx.control):
        due = ctx.pace[P_START_NS] + tick_time_ns(ctx.pace[P_SENT] + 1, rate)
        wait_for_next_tick(ctx.idle_state, due - monotonic_ns())




class Agent(LoopAgent):
    """The feed process: owns the quotes ring's producer side and the book."""

    def __init__(self, context):
        super().__init__(context)
        feed = context.config["feed"]
        engine = context.config["engine"]
        n = feed["symbols"]
        params = np.zeros(1, dtype=FEED_PARAMS_DTYPE)
        params[0]["spread_ticks"] = feed["spread_ticks"]
        params[0]["max_qty"] = feed["max_qty"]
        params[0]["trade_every"] = feed["trade_every"]
        params[0]["rate"] = engine["rate"]
        params[0]["depth_levels"] = book_levels(context.config)
        if feed["source"] == "file":  # the tape the launcher made (workers/feed/sources)
            self.tape = open_tape(context.config["tape"]["path"])
            params[0]["replay"] = 1
            params[0]["speed_milli"] = int(round(feed["speed"] * 1000))
        else:
            self.tape = no_tape()
        # A stream: the one input ring, a declared role's (workers/live_source/, bridge_in/).
        inputs = inputs_of("feed", engine_rings(context.config))
        params[0]["live"] = bool(inputs)
        self.live = context.records[inputs[0].section] if inputs else \
            np.zeros(1, dtype=MARKET_DATA_DTYPE)
        source_state = 0
        if inputs:
            workers_offset, _ = context.segment.section("workers")
            source_state = context.segment.base_address + workers_offset + STATE_OFFSET \
                + worker_index(inputs[0].producer) * WORKER_DTYPE.itemsize
        self.tick_sizes = np.array([i["tick_size"] for i in context.config["instruments"]],
                                   dtype=np.int64)
        self.rng = np.array([feed["seed"] * 2654435761 + 1 + int(context.row["restarts"])],
                            dtype=np.uint64)
        set_timer_slack(TIMER_SLACK_NS)
        # Resume each walk where the book stands (after a restart), else at start_px;
        # a half-written or withdrawn row still gives a mid within a tick of the truth,
        # once both its prices were ever written.
        book = context.book
        start = feed["start_px"] // self.tick_sizes * self.tick_sizes
        quoted = (book["version"] > 0) & (book["bid_px"] > 0) & (book["ask_px"] > 0)
        self.mids = np.where(quoted, (book["bid_px"] + book["ask_px"]) // 2,
                             start).astype(np.int64)
        # A feed killed between its two version stores left a row odd: withdraw it
        # until its next quote, or every later write would leave it odd (parity inverted).
        repair_book(book)
        if params[0]["depth_levels"] > 1:  # the L2 book: never a half-written level
            if params[0]["replay"]:
                committed = int(context.row_words[W_COUNTERS + FEED_TICKS]) + \
                    int(context.row_words[W_COUNTERS + FEED_DEPTH_ROWS])  # tape_position
                rebuild_depth(context.depth, self.tape, committed, int(params[0]["depth_levels"]))
            else:
                withdraw_torn_depth(context.depth)
        # One quotes ring per strategy, each with the symbols that strategy trades, then
        # the venue's with all of them.
        sections = [spec.section for spec in outputs_of("feed", engine_rings(context.config))]
        assert sections[-1] == "md_venue"
        self.quotes = per_strategy(context.records[section] for section in sections)
        self.subscribed = np.zeros((len(sections), n), dtype=np.uint8)
        for k, entry in enumerate(context.config["strategies"]):
            self.subscribed[k, symbol_ids(entry, context.config["instruments"])] = 1
        self.subscribed[-1, :] = 1
        self.retired = np.zeros(len(sections), dtype=np.int64)
        self.ctx = FeedContext(
            quotes=self.quotes, subscribed=self.subscribed, retired=self.retired, book=book,
            depth=context.depth,
            mids=self.mids, tick_sizes=self.tick_sizes,
            rng=self.rng, params=params, pace=np.zeros(PACE_SLOTS, dtype=np.int64),
            tape=self.tape, live=self.live, source_state=source_state, txn=context.txn,
            row_words=context.row_words, idle_state=context.idle_state,
            control=context.control_address, inputs=context.inputs[:len(inputs)],
            # ticks count in FEED_TICKS (made by the kernels; live: each record read)
            **runner_fields(np.array([context.outputs[section] for section in sections]),
                            [-1] * len(sections), [(FEED_TICKS, 0)] * len(inputs),
                            list(range(len(inputs))), [0] * len(inputs)))
        self.runner = role_runner(__name__)

    def loop(self, max_passes):
        return self.runner.run(self.ctx, max_passes)

    def wait_for_start(self) -> bool:
        # The start barrier: the feed waits for the supervisor's go; everyone else
        # is already idling on empty rings.
        return self.wait_for_flag(FEED_GO_OFFSET)
