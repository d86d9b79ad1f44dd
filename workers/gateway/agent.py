"""Gateway worker: the order router and, built in, the simulated venue.

Requests in (risk's orders ring: new, cancel, replace, or one risk denied); every
tick of the market in (the feed's md_venue ring: resting orders fill as the market
reaches them); execution reports out, each to risk's ring and to the ring of the
order's strategy (its index, in the order id from bit 48 up). The venue's book of our resting
orders is workers/gateway/venue.py over a process-local mirror of the segment's
venue_orders table, whose changed rows are synced into the segment with each batch
(before_commit; engine/commit.py txn_store_rows), so the book, the reports and the
progress on both input rings commit together: a kill anywhere leaves the venue as of the last
commit and the restarted gateway replays what came after it, once.

The kill switch: while the trading state is HALTED, or the engine is stopping (the
control block's `closing`), the venue cancels every working order (risk refuses new
ones), so a run ends with every order final. A DAY order expires at the session's end ([venue]
session_s after the feed's start). [venue] latency_us holds each request back that
long after risk published it (order-entry latency).

The tick-to-trade histogram is recorded here: from the feed's origin stamp to the
moment a request is handed to the venue.

The loop is the one runner's (engine/runner.py): this module is the role's kernels,
which read, decide and write, and never wait, commit or publish (the contract, and
why they are compiled as they are: engine/kernels.py).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.atomics import load_acquire_u32, load_relaxed_u64
from tickpipe.engine.clock import clock_now, latency_sample
from tickpipe.engine.batch import (
    BATCH, RUNNER_FIELDS, count, per_strategy, read_retired, runner_fields,
)
from tickpipe.engine.book import BOOK_OK, BOOK_UNREADABLE, book_read
from tickpipe.engine.depth import depth_read
from tickpipe.engine.commit import txn_add, txn_set, txn_store_rows, undo_words
from tickpipe.engine.engine_layout import book_levels, engine_rings, outputs_of, venue_orders
from tickpipe.engine.histogram import record_value
from tickpipe.engine.kernels import (  # noqa: F401  (kernels the gateway leaves to the defaults)
    NOT_DUE, idle_on_inputs as pass_idle, nothing_per_batch as begin_batch,
)
from tickpipe.engine.order_states import TRANSITIONS, is_final, is_working
from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_has_data
from tickpipe.engine.runner_gen import role_runner
from tickpipe.shm_layouts.commit_log import UNDO_CAPACITY
from tickpipe.shm_layouts.control_block import (
    CLOSING_OFFSET, CONTROL_OFFSETS, TRADING_HALTED, TRADING_STATE_OFFSET,
)
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_NAMES, EXEC_REPLACED, FILL_DTYPE, VENUE_BOOK_FULL, VENUE_REASON_BASE, VENUE_SIMULATED,
    VENUE_TOO_LATE, VENUE_UNKNOWN_ORDER,
)
from tickpipe.shm_layouts.histogram import (
    HOP_RISK_TO_GATEWAY, HOP_TICK_TO_TRADE, HOP_TICK_TO_TRADE_OF,
)
from tickpipe.shm_layouts.market_data import MAX_DEPTH_LEVELS, MD_KIND_TRADE
from tickpipe.shm_layouts.open_order import OPEN_ORDER_DTYPE, STATUS_REJECTED, VENUE_SLOTS
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import (
    ORDER_TYPE_IOC, REQ_CANCEL, REQ_NEW, REQ_REPLACE, TIF_IOC,
)
from tickpipe.shm_layouts.strategy_position import ORDER_ID_STRATEGY_SHIFT
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_OFFSETS
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_BOOK_UNREADABLE, GATEWAY_CANCELS, GATEWAY_EXPIRED, GATEWAY_FILLS,
    GATEWAY_ILLEGAL_TRANSITIONS, GATEWAY_KILL_CANCELS, GATEWAY_MD_READ, GATEWAY_NEW_ACKS,
    GATEWAY_ORDERS_READ, GATEWAY_PARTIALS, GATEWAY_REJECTS, GATEWAY_REPLACES,
    GATEWAY_REPORTS_SENT, GATEWAY_RISK_REJECTS, GATEWAY_VENUE_DROPPED, GATEWAY_VENUE_READ,
    GATEWAY_VENUE_REJECT_BASE, W_COUNTERS,
)
from tickpipe.workers.positions import stats_field
from tickpipe.workers.gateway.external import (
    apply_report, cancel_targets, note_request, take_new, unsent_cancels,
)
from tickpipe.workers.gateway.venue import (
    VenueBook, find_row, venue_cancel, venue_cancel_all, venue_expire_day, venue_new,
    venue_on_tick, venue_replace, working_count,
)

# the gateway's counter of each exec type (index: EXEC_*)
COUNTER_OF_EXEC = np.zeros(max(EXEC_NAMES) + 1, dtype=np.int64)
COUNTER_OF_EXEC[[EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_FILL, EXEC_CANCELLED, EXEC_REPLACED,
                 EXEC_EXPIRED]] = [
    GATEWAY_NEW_ACKS, GATEWAY_PARTIALS, GATEWAY_FILLS, GATEWAY_CANCELS, GATEWAY_REPLACES,
    GATEWAY_EXPIRED]
REPORTS_PER_REQUEST = 2  # at most: an ack (or a partial fill) and a fill (or the IOC's cancel)
VENUE_NET_QTY = SYMBOL_STATS_OFFSETS["venue_net_qty"]
VENUE_CASH = SYMBOL_STATS_OFFSETS["venue_cash"]
VENUE_ORDERS = SYMBOL_STATS_OFFSETS["venue_orders"]
VENUE_RESTING = SYMBOL_STATS_OFFSETS["venue_resting"]
FEED_STARTED_NS_OFFSET = CONTROL_OFFSETS["feed_started_ns"]
ROW_WORDS = OPEN_ORDER_DTYPE.itemsize // 8
REPORT_WORDS = FILL_DTYPE.itemsize // 8
# The commit point's output slots: this role's outputs in its declaration's order
# (workers/gateway/role.py): fills_risk, then fills_strategy, fills_strategy2, ...:
# strategy k's is strategy_slot(k).
OUT_FILLS_RISK = 0
VENUE_REQUESTS, VENUE_REPORTS = "venue_requests", "venue_reports"  # a venue process's rings
IN_ORDERS, IN_TICKS, IN_VENUE = 0, 1, 2  # IN_VENUE: venue_reports, a venue of its own process
VENUE_SIM, VENUE_EXTERNAL = 0, 1     # [venue] kind: "sim" built in; else a venue process

GATEWAY_PARAMS_DTYPE = np.dtype([
    ("reject_every", np.int64),     # [gateway] reject_every: the venue rejects every Nth new order
    ("latency_ns", np.int64),       # [venue] latency_us: a request waits this long after risk
    ("session_ns", np.int64),       # [venue] session_s: DAY orders expire this long after the start
    ("max_working", np.int64),      # working orders a symbol may have (max_working_per_symbol)
    ("sweep_chunk", np.int64),      # reports one sweep step makes at most
    ("depth_levels", np.int64),     # [feed] depth: levels of the L2 book (1: the top only)
    ("venue_kind", np.int64),       # VENUE_SIM, or VENUE_EXTERNAL (workers/gateway/external.py)
    ("out_venue", np.int64),        # the venue_requests output's index (VENUE_EXTERNAL)
])


def max_working_per_symbol(ring_capacity: int) -> int:
    """Working orders one symbol may have at the venue: a tick may fill them all, and
    its reports must fit the report rings and the batch's undo log at once, or the
    gateway would wait for room that never comes. More are rejected book_full."""
    return min(VENUE_SLOTS, ring_capacity, (UNDO_CAPACITY - 32) // (ROW_WORDS + 4) - 2)

GatewayContext = namedtuple("GatewayContext", [
    "inputs",         # int64[2 or 3, HANDLE_SLOTS]: consumer handles: orders, md_venue,
                      # and venue_reports where the venue runs in a process of its own
    "orders",         # order records (risk's requests)
    "venue_reports",  # the venue process's reports (FILL records; a dummy row for "sim")
    "venue_requests", # order records to the venue process (a dummy row for "sim")
    "cancel_sent",    # uint8[VENUE_SLOTS]: the kill switch's cancel is out (external venue)
    "targets",        # int64[BATCH]: scratch for the kill switch's rows
    "ticks",          # market-data records of md_venue
    "out_words",      # tuple: each output's records as uint64[capacity, REPORT_WORDS]
    "retired",        # int64[n_strategies]: given up by the supervisor (reports to risk alone)
    "stats",          # symbol_stats rows (the venue's line)
    "book",           # top-of-book seqlock rows
    "top",            # int64[4]: scratch for one book read
    "depth",          # the L2 book's seqlock rows ([feed] depth > 1)
    "levels",         # int64[4, MAX_DEPTH_LEVELS]: scratch for one read of a symbol's L2 book
    "tick_sizes",     # int64[n_symbols]
    "venue",          # VenueBook (workers/gateway/venue.py): rows, the mirror of
                      # OPEN_ORDER_DTYPE[VENUE_SLOTS] the venue kernels edit; used, the rows
                      # [0, used) that may be working; dirty/dirty_mark, the rows changed in
                      # the open batch; transitions, the order state machine
                      # (engine/order_states.py); illegal, transitions the kernels refused
    "venue_mirror",   # venue.rows as uint64 words
    "venue_words",    # the segment's venue_orders rows as uint64 words
    "resting",        # int64[n_symbols]: working rows per symbol (mirror of venue_resting)
    "scratch",        # FILL_DTYPE[VENUE_SLOTS]: the reports one kernel call makes
    "scratch_words",  # the same as uint64 words
    "params",         # GATEWAY_PARAMS_DTYPE[1]
    "entry_latency",  # int64[K]: order entry latency samples, ns (engine/clock.py
                      # latency_sample): [venue] latency_us, or a backtest's distribution
    "session",        # int64[2]: [0] the session's end (monotonic ns, 0 = not known yet), [1] expired
    "sweep",          # int64[1]: what the sweep in progress does (SWEEP_*)
    "txn", "undo", "row_words", "idle_state", "histograms", "control",
] + RUNNER_FIELDS)  # outputs: fills_risk, fills_strategy, fills_strategy2, ...


@njit(cache=True, _nrt=False)
def strategy_slot(k):
    return 1 + k


@njit(cache=True, _nrt=False)
def put_report(ctx, m, j, origin_ns, order_seq, now):
    """Copy scratch report j into output m's next slot (every word but seq, which the
    publish stamps)."""
    handle = ctx.outs[m]
    slot = (handle[H_POSITION] + ctx.written[m]) & handle[H_MASK]
    words = ctx.out_words[m]
    for w in range(1, REPORT_WORDS):
        words[slot, w] = ctx.scratch_words[j, w]
    ctx.written[m] += 1
    return slot


@njit(cache=True, _nrt=False)
def emit(ctx, n, origin_ns, order_seq):
    """Send the n reports the venue made: each to risk and to the order's strategy;
    count them; keep the venue's figures per symbol (fills, working orders)."""
    now = clock_now(ctx.control)
    for j in range(n):
        report = ctx.scratch[j]
        report.origin_ns = origin_ns
        report.publish_ns = now
        report.order_seq = order_seq
        kind = report.exec_type
        symbol = report.symbol_id
        if kind != EXEC_REJECTED:
            count(ctx.txn, ctx.row_words, W_COUNTERS + COUNTER_OF_EXEC[kind], 1)
        elif report.reject_reason >= VENUE_REASON_BASE:  # the venue's own (risk's: counted apart)
            count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_REJECTS, 1)
            count(ctx.txn, ctx.row_words,
                  W_COUNTERS + GATEWAY_VENUE_REJECT_BASE + report.reject_reason - VENUE_REASON_BASE,
                  1)
        if (kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL) and report.last_qty != 0:
            txn_add(ctx.txn, stats_field(ctx.stats, symbol, VENUE_NET_QTY),
                    report.side * report.last_qty)
            # the venue's own cash of the fills it sent: what risk's engine book must equal
            txn_add(ctx.txn, stats_field(ctx.stats, symbol, VENUE_CASH),
                    -report.side * report.last_qty * report.last_px)
        put_report(ctx, OUT_FILLS_RISK, j, origin_ns, order_seq, now)
        strategy = report.order_id >> ORDER_ID_STRATEGY_SHIFT
        if strategy < ctx.retired.shape[0] and not ctx.retired[strategy]:
            put_report(ctx, strategy_slot(strategy), j, origin_ns, order_seq, now)
    if ctx.venue.illegal[0] != 0:  # counted, never applied
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_ILLEGAL_TRANSITIONS,
              ctx.venue.illegal[0])
        ctx.venue.illegal[0] = 0


@njit(cache=True, _nrt=False)
def recount(ctx, symbol):
    """The venue's working orders of `symbol`, after a kernel changed them."""
    n = working_count(ctx.venue.rows, ctx.venue.used, symbol)
    if n != ctx.resting[symbol]:
        ctx.resting[symbol] = n
        txn_set(ctx.txn, stats_field(ctx.stats, symbol, VENUE_RESTING), n)


@njit(cache=True, _nrt=False)
def reject_report(ctx, order, reason):
    """One REJECTED report for a request the venue does not carry out (risk's denial,
    the simulated reject): nothing else changes. Returns 1 (reports made)."""
    r = ctx.scratch[0]
    r.order_id = order.order_id
    r.symbol_id = order.symbol_id
    r.side = order.side
    r.exec_type = EXEC_REJECTED
    r.last_qty = 0
    r.last_px = 0
    r.cum_qty = 0
    r.leaves_qty = 0
    r.avg_px = 0
    r.order_px = order.limit_px
    r.order_qty = order.qty
    r.ord_status = STATUS_REJECTED
    r.request = order.request
    r.reject_reason = reason
    r.order_type = order.order_type
    r.time_in_force = order.time_in_force
    r.closes_order = 0
    r.released_qty = 0
    row = -1 if order.request == REQ_NEW else \
        find_row(ctx.venue.rows, ctx.venue.used, order.order_id)
    if row >= 0:  # a denied cancel/replace of a known order: say where the order stands
        r.ord_status = ctx.venue.rows[row].status
        r.cum_qty = ctx.venue.rows[row].cum_qty
        r.leaves_qty = ctx.venue.rows[row].leaves_qty
        r.avg_px = ctx.venue.rows[row].avg_px
    return 1


@njit(cache=True, _nrt=False)
def as_requested(ctx, order, n):
    """A cancel or replace of an order the venue never had is answered for the symbol
    and side the request named: risk accounted the request there, and takes back what
    the answer releases from there."""
    for j in range(n):
        r = ctx.scratch[j]
        if r.side == 0:
            r.symbol_id = order.symbol_id
            r.side = order.side
            r.order_type = order.order_type
            r.time_in_force = order.time_in_force
    return n


@njit(cache=True, _nrt=False, inline="always")
def read_levels(ctx, symbol):
    """The symbol's L2 book now into ctx.levels; the levels it holds (0: no L2 book, or
    a row left odd by a dead feed: counted, and the queue model assumes the top's size)."""
    n = ctx.params[0].depth_levels
    if n <= 1:
        return 0
    read = depth_read(ctx.depth, ctx.depth.ctypes.data, symbol, 0, n, ctx.levels)
    if read == BOOK_OK:
        return n
    if read == BOOK_UNREADABLE:
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_BOOK_UNREADABLE, 1)
    return 0


@njit(cache=True, _nrt=False)
def execute(ctx, order, now):
    """One request at the venue; the number of reports it made in ctx.scratch."""
    symbol = order.symbol_id
    if order.reject_reason != 0:  # denied by risk: risk added nothing, so releases nothing
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_RISK_REJECTS, 1)
        return reject_report(ctx, order, order.reject_reason)
    txn_add(ctx.txn, stats_field(ctx.stats, symbol, VENUE_ORDERS), 1)  # requests that reach it
    if ctx.params[0].venue_kind == VENUE_EXTERNAL:
        return forward(ctx, order, now)
    if order.request == REQ_CANCEL:
        n = venue_cancel(ctx.venue, order.order_id, now, ctx.scratch)
        return as_requested(ctx, order, n)
    has_market = False
    read = book_read(ctx.book, ctx.book.ctypes.data, symbol, ctx.top)
    if read == BOOK_OK:
        has_market = True
    elif read == BOOK_UNREADABLE:
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_BOOK_UNREADABLE, 1)
    bid, ask, bid_qty, ask_qty = ctx.top[0], ctx.top[1], ctx.top[2], ctx.top[3]
    n_levels = read_levels(ctx, symbol)
    if order.request == REQ_REPLACE:
        row = find_row(ctx.venue.rows, ctx.venue.used, order.order_id)
        if row >= 0 and (ctx.venue.rows[row].side != order.side or
                         ctx.venue.rows[row].symbol_id != symbol):
            # A replace cannot move an order to another side or symbol (FIX 4.4 rejects
            # one that tries). Risk added its qty on the side and symbol it names, and
            # what the venue would release is the order's: answer for the request, so
            # its qty comes back where risk put it (a strategy that lost track of an
            # order sends BUY and the event's symbol for it: engine/strategy_api.py).
            n = reject_report(ctx, order, VENUE_REASON_BASE + VENUE_UNKNOWN_ORDER)
            ctx.scratch[0].released_qty = order.qty
            return n
        n = venue_replace(ctx.venue, order.order_id, order.qty, order.limit_px,
                          ctx.tick_sizes[symbol], bid, ask, bid_qty, ask_qty, has_market,
                          ctx.levels, n_levels, now, ctx.scratch)
        return as_requested(ctx, order, n)
    reject_every = ctx.params[0].reject_every
    if reject_every > 0 and order.seq % reject_every == 0:
        n = reject_report(ctx, order, VENUE_REASON_BASE + VENUE_SIMULATED)
        ctx.scratch[0].released_qty = order.qty  # risk added it when it passed the order
        ctx.scratch[0].closes_order = 1
        return n
    resting = order.order_type != ORDER_TYPE_IOC and order.time_in_force != TIF_IOC
    if resting and ctx.resting[symbol] >= ctx.params[0].max_working:
        n = reject_report(ctx, order, VENUE_REASON_BASE + VENUE_BOOK_FULL)
        ctx.scratch[0].released_qty = order.qty
        ctx.scratch[0].closes_order = 1
        return n
    session_open = ctx.session[0] == 0 or now < ctx.session[0]
    return venue_new(ctx.venue, order.order_id, symbol, order.side, order.order_type,
                     order.time_in_force, order.qty, order.limit_px, ctx.tick_sizes[symbol], bid,
                     ask, bid_qty, ask_qty, has_market, ctx.levels, n_levels, session_open, now,
                     ctx.scratch)


@njit(cache=True, _nrt=False)
def put_request(ctx, order_id, symbol, side, order_type, tif, qty, limit_px, request,
                origin_ns, seq):
    """One request onto venue_requests (every word but seq, which the publish stamps)."""
    m = ctx.params[0].out_venue
    handle = ctx.outs[m]
    slot = (handle[H_POSITION] + ctx.written[m]) & handle[H_MASK]
    r = ctx.venue_requests[slot]
    r.origin_ns = origin_ns
    r.publish_ns = clock_now(ctx.control)
    r.intent_seq = seq
    r.symbol_id = symbol
    r.side = side
    r.order_type = order_type
    r.qty = qty
    r.limit_px = limit_px
    r.order_id = order_id
    r.request = request
    r.time_in_force = tif
    r.reject_reason = 0
    ctx.written[m] += 1


@njit(cache=True, _nrt=False)
def forward(ctx, order, now):
    """A request for a venue of its own process: the row it concerns noted, the request
    forwarded; what the gateway can answer itself (no row for a new order, a cancel or
    replace of an order it does not hold or that has ended) answered here, as the
    simulated venue would. Returns the reports made now (the venue's come later)."""
    symbol = order.symbol_id
    if order.request == REQ_NEW:
        resting = order.order_type != ORDER_TYPE_IOC and order.time_in_force != TIF_IOC
        i = -1
        if not resting or ctx.resting[symbol] < ctx.params[0].max_working:
            i = take_new(ctx.venue, order.order_id, symbol, order.side, order.order_type,
                         order.time_in_force, order.qty, order.limit_px, now)
        if i < 0:
            n = reject_report(ctx, order, VENUE_REASON_BASE + VENUE_BOOK_FULL)
            ctx.scratch[0].released_qty = order.qty
            ctx.scratch[0].closes_order = 1
            return n
        ctx.cancel_sent[i] = 0
        put_request(ctx, order.order_id, symbol, order.side, order.order_type,
                    order.time_in_force, order.qty, order.limit_px, REQ_NEW, order.origin_ns,
                    order.seq)
        return 0
    i = find_row(ctx.venue.rows, ctx.venue.used, order.order_id)
    if i < 0 or is_final(ctx.venue.rows[i].status):
        reason = VENUE_UNKNOWN_ORDER if i < 0 else VENUE_TOO_LATE
        n = as_requested(ctx, order, reject_report(ctx, order, VENUE_REASON_BASE + reason))
        if order.request == REQ_REPLACE:
            ctx.scratch[0].released_qty = order.qty  # risk added the new total
        return n
    row = ctx.venue.rows[i]
    note_request(ctx.venue, i, order.request, order.qty, now)
    put_request(ctx, order.order_id, row.symbol_id, row.side, row.order_type,
                row.time_in_force, order.qty, order.limit_px, order.request, order.origin_ns,
                order.seq)
    return 0


@njit(cache=True, _nrt=False)
def venue_report(ctx, position, now):
    """One report of the venue process: applied to its row and sent on (a duplicate is
    counted and dropped)."""
    report = ctx.venue_reports[position & ctx.inputs[IN_VENUE, H_MASK]]
    made = apply_report(ctx.venue, report, now, ctx.scratch)
    if made < 0:
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_VENUE_DROPPED, 1)
        return
    emit(ctx, made, report.origin_ns, report.order_seq)
    recount(ctx, ctx.scratch[0].symbol_id)


# ---- the kernels the runner (engine/runner.py) calls: inputs orders, md_venue -----------

SWEEP_CANCEL_ALL, SWEEP_EXPIRE = 1, 2


@njit(cache=True, _nrt=False)
def live_outputs(ctx):
    """Which strategies still read their reports (a retired one's ring is written no
    more, and nobody drains it). `retired` and `out_live` change together: a report
    goes to a strategy's ring only while it is live (emit)."""
    read_retired(ctx.control, ctx.retired, ctx.retired.shape[0])
    for m in range(ctx.outs.shape[0]):
        if m != OUT_FILLS_RISK and m - 1 < ctx.retired.shape[0]:
            ctx.out_live[m] = 1 - ctx.retired[m - 1]  # strategy_slot(k) = 1 + k


@njit(cache=True, _nrt=False)
def begin_pass(ctx):
    """The session's end once the feed has started."""
    session_ns = ctx.params[0].session_ns
    if session_ns > 0 and ctx.session[0] == 0:
        started = np.int64(load_relaxed_u64(ctx.control + FEED_STARTED_NS_OFFSET))
        if started > 0:
            ctx.session[0] = started + session_ns


@njit(cache=True, _nrt=False, inline="always")
def record_need(ctx, k, position, now):
    """A request makes at most REPORTS_PER_REQUEST reports; a tick at most one per
    working order of its symbol (every ring still read: they may all be one
    strategy's). Under [venue] latency_us a request is due only that long after risk
    published it (and those behind it wait too: order entry is FIFO)."""
    if k == IN_TICKS:
        if ctx.params[0].venue_kind == VENUE_EXTERNAL:
            return 0  # the venue matches: the market is only read
        return ctx.resting[ctx.ticks[position & ctx.inputs[IN_TICKS, H_MASK]].symbol_id]
    if k == IN_VENUE:
        return 1
    order = ctx.orders[position & ctx.inputs[IN_ORDERS, H_MASK]]
    if now < order.publish_ns + latency_sample(ctx.entry_latency, order.seq):
        return NOT_DUE
    return REPORTS_PER_REQUEST


@njit(cache=True, _nrt=False)
def next_event_ns(ctx):
    """When the venue next has a request due (the first one waiting out [venue]
    latency_us), on the engine's clock; -1 when none waits. A backtest's driver
    (engine/backtest_driver.py) moves simulated time to it."""
    handle = ctx.inputs[IN_ORDERS]
    if not consumer_has_data(handle):
        return -1
    order = ctx.orders[handle[H_POSITION] & handle[H_MASK]]
    return order.publish_ns + latency_sample(ctx.entry_latency, order.seq)


@njit(cache=True, _nrt=False, inline="always")
def undo_need(ctx, need):
    """Each report's order row whole, and the counters."""
    return (need + 2) * (ROW_WORDS + 4) + 32


@njit(cache=True, _nrt=False, inline="always")
def on_record(ctx, k, position, now):
    if k == IN_VENUE:
        venue_report(ctx, position, now)
        return
    if k == IN_TICKS:  # the market: resting orders fill as it reaches them
        if ctx.params[0].venue_kind == VENUE_EXTERNAL:
            return
        tick = ctx.ticks[position & ctx.inputs[IN_TICKS, H_MASK]]
        symbol = tick.symbol_id
        working = ctx.resting[symbol]
        if working == 0:
            return
        made = venue_on_tick(ctx.venue, symbol, tick.bid_px, tick.ask_px, tick.bid_qty,
                             tick.ask_qty, tick.kind == MD_KIND_TRADE, tick.trade_px,
                             tick.trade_qty, tick.aggressor_side, ctx.levels,
                             read_levels(ctx, symbol), now, ctx.scratch[:working])
        if made > 0:
            emit(ctx, made, tick.origin_ns, 0)
            recount(ctx, symbol)
        return
    order = ctx.orders[position & ctx.inputs[IN_ORDERS, H_MASK]]
    record_value(ctx.histograms[HOP_RISK_TO_GATEWAY], now - order.publish_ns)
    if order.request == REQ_NEW and order.reject_reason == 0:
        record_value(ctx.histograms[HOP_TICK_TO_TRADE], now - order.origin_ns)
    if order.request != REQ_CANCEL and order.reject_reason == 0:
        # per strategy: from the tick to the venue taking its new order or replace (a
        # market maker's tick-to-quote-update)
        strategy = order.order_id >> ORDER_ID_STRATEGY_SHIFT
        record_value(ctx.histograms[HOP_TICK_TO_TRADE_OF + strategy], now - order.origin_ns)
    made = execute(ctx, order, now)
    emit(ctx, made, order.origin_ns, order.seq)
    if order.request != REQ_CANCEL or made > 0:
        recount(ctx, order.symbol_id)


@njit(cache=True, _nrt=False)
def before_commit(ctx):
    """The venue's changed rows into the segment, with the batch (engine/commit.py)."""
    txn_store_rows(ctx.txn, ctx.undo, ctx.venue_words, ctx.venue_mirror, ctx.venue.dirty,
                   ctx.venue.dirty_mark)


@njit(cache=True, _nrt=False)
def source_need(ctx, now):
    """The kill switch (HALTED, or the engine stopping: cancel every working order) and
    the session's end (expire DAY orders), sweep_chunk reports a step."""
    total = 0
    for s in range(ctx.resting.shape[0]):
        total += ctx.resting[s]
    if total == 0:
        return 0
    if load_acquire_u32(ctx.control + TRADING_STATE_OFFSET) == TRADING_HALTED or \
            load_acquire_u32(ctx.control + CLOSING_OFFSET) != 0:
        if ctx.params[0].venue_kind == VENUE_EXTERNAL:
            # the venue cancels; each working order is asked once (the venue's answers
            # end them); DAY orders are the venue's to expire
            if unsent_cancels(ctx.venue, ctx.cancel_sent) == 0:
                return 0
        ctx.sweep[0] = SWEEP_CANCEL_ALL
        return ctx.params[0].sweep_chunk
    if ctx.params[0].venue_kind == VENUE_EXTERNAL:
        return 0
    if ctx.session[0] != 0 and now >= ctx.session[0] and ctx.session[1] == 0:
        ctx.sweep[0] = SWEEP_EXPIRE
        return ctx.params[0].sweep_chunk
    return 0


@njit(cache=True, _nrt=False)
def source_step(ctx, now):
    chunk = ctx.params[0].sweep_chunk
    scratch = ctx.scratch[:chunk]
    if ctx.params[0].venue_kind == VENUE_EXTERNAL:  # SWEEP_CANCEL_ALL: a cancel request each
        n = cancel_targets(ctx.venue, ctx.cancel_sent, ctx.targets[:chunk])
        for j in range(n):
            row = ctx.venue.rows[ctx.targets[j]]
            put_request(ctx, row.order_id, row.symbol_id, row.side, row.order_type,
                        row.time_in_force, row.qty, row.limit_px, REQ_CANCEL, now, 0)
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_KILL_CANCELS, n)
        return n
    if ctx.sweep[0] == SWEEP_CANCEL_ALL:
        made = venue_cancel_all(ctx.venue, now, scratch)
        count(ctx.txn, ctx.row_words, W_COUNTERS + GATEWAY_KILL_CANCELS, made)
    else:
        made = venue_expire_day(ctx.venue, now, scratch)
        if made < chunk:
            ctx.session[1] = 1  # DAY orders arriving later are refused: one sweep does it
    emit(ctx, made, now, 0)
    for s in range(ctx.resting.shape[0]):
        recount(ctx, s)
    return made


def _used(rows) -> int:
    """The venue's high-water mark from its rows: one past the last row ever taken."""
    taken = np.nonzero(rows["status"] != 0)[0]
    return int(taken[-1]) + 1 if taken.size else 0


class Agent(LoopAgent):
    """The gateway process: consumes requests and the market, produces reports: risk's
    ring and one per strategy."""

    def __init__(self, context):
        super().__init__(context)
        config = context.config
        params = np.zeros(1, dtype=GATEWAY_PARAMS_DTYPE)
        params[0]["reject_every"] = config["gateway"]["reject_every"]
        params[0]["latency_ns"] = int(config["venue"]["latency_us"] * 1_000)
        params[0]["session_ns"] = int(config["venue"]["session_s"] * 1_000_000_000)
        params[0]["max_working"] = max_working_per_symbol(config["engine"]["ring_capacity"])
        params[0]["sweep_chunk"] = min(BATCH, int(params[0]["max_working"]))
        params[0]["depth_levels"] = book_levels(config)
        outputs = [ring.section for ring in outputs_of("gateway", engine_rings(config))]
        # the report rings, then (a venue of its own process) venue_requests
        sections = [section for section in outputs if section != VENUE_REQUESTS]
        assert sections[OUT_FILLS_RISK] == "fills_risk", sections
        external = config["venue"]["kind"] != "sim"
        params[0]["venue_kind"] = VENUE_EXTERNAL if external else VENUE_SIM
        params[0]["out_venue"] = outputs.index(VENUE_REQUESTS) if external else -1
        if external:  # its rings: declared by the venue's role (workers/fix_venue/role.py)
            venue_requests = context.records[VENUE_REQUESTS]
            venue_reports = context.records[VENUE_REPORTS]
        else:  # one row each, never read: the context has one numba type for every venue
            venue_requests = np.zeros(1, dtype=ORDER_DTYPE)
            venue_reports = np.zeros(1, dtype=FILL_DTYPE)
        segment_rows = venue_orders(context.segment)
        mirror = np.array(segment_rows)  # as recovered: the last commit's
        n_symbols = config["feed"]["symbols"]
        resting = np.zeros(n_symbols, dtype=np.int64)
        used = np.array([_used(mirror)], dtype=np.int64)
        for row in mirror[:used[0]]:
            if is_working(row["status"]):
                resting[row["symbol_id"]] += 1
        scratch = np.zeros(VENUE_SLOTS, dtype=FILL_DTYPE)
        self.ctx = GatewayContext(
            inputs=context.inputs, orders=context.records["orders"],
            venue_reports=venue_reports, venue_requests=venue_requests,
            cancel_sent=np.zeros(VENUE_SLOTS, dtype=np.uint8),
            targets=np.zeros(BATCH, dtype=np.int64),
            ticks=context.records["md_venue"],
            out_words=per_strategy(context.records[section].view(np.uint64)
                                   .reshape(-1, REPORT_WORDS) for section in sections),
            retired=np.zeros(len(config["strategies"]), dtype=np.int64),
            stats=context.symbols, book=context.book, top=np.zeros(4, dtype=np.int64),
            depth=context.depth, levels=np.zeros((4, MAX_DEPTH_LEVELS), dtype=np.int64),
            tick_sizes=np.array([i["tick_size"] for i in config["instruments"]], dtype=np.int64),
            venue=VenueBook(rows=mirror, used=used,
                            dirty=np.zeros(1 + VENUE_SLOTS, dtype=np.int64),
                            dirty_mark=np.zeros(VENUE_SLOTS, dtype=np.uint8),
                            transitions=TRANSITIONS, illegal=np.zeros(1, dtype=np.int64)),
            venue_mirror=mirror.view(np.uint64).reshape(VENUE_SLOTS, ROW_WORDS),
            venue_words=segment_rows.view(np.uint64).reshape(VENUE_SLOTS, ROW_WORDS),
            resting=resting,
            scratch=scratch, scratch_words=scratch.view(np.uint64).reshape(-1, REPORT_WORDS),
            params=params,
            entry_latency=np.array([params[0]["latency_ns"]], dtype=np.int64),
            session=np.zeros(2, dtype=np.int64), sweep=np.zeros(1, dtype=np.int64),
            txn=context.txn, undo=undo_words(context.txn),
            row_words=context.row_words, idle_state=context.idle_state,
            histograms=context.histograms, control=context.control_address,
            **runner_fields(
                np.array([context.outputs[section] for section in outputs]),
                # reports count once: every report goes to risk's ring (and one strategy's)
                [GATEWAY_REPORTS_SENT if m == OUT_FILLS_RISK else -1
                 for m in range(len(outputs))],
                [[GATEWAY_ORDERS_READ, 1], [GATEWAY_MD_READ, 0]] + (
                    [[GATEWAY_VENUE_READ, 0]] if external else []),
                # the venue's reports first: they free what new requests may need
                ([IN_VENUE] if external else []) + [IN_TICKS, IN_ORDERS],
                [0, 0] + ([0] if external else [])))  # every input makes reports
        self.runner = role_runner(__name__)

    def loop(self, max_passes):
        return self.runner.run(self.ctx, max_passes)
