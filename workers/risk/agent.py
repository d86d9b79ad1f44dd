"""Risk worker: pre-trade checks on every request; positions, open orders and P&L
from the reports.

Every request a strategy sends becomes exactly one record on the orders ring: passed,
or denied with its reason (order.reject_reason = REJECT_* + 1), so the gateway answers
each with one report and the strategy always learns what became of it. Denials are
also counted by reason (counters[RISK_REJECT_BASE + reason]). A cancel always passes
(it can only reduce risk); a new order or a replace (its new total qty) goes through
workers/risk/checks.py. The trading state (ACTIVE / REDUCING / HALTED: the kill
switch) is read from the control block once per batch.

What risk adds when it passes a request it takes back from the reports: each report
says how many lots it releases (released_qty) and whether it ends an order
(closes_order), so open quantities and open-order counts stay exact through
replaces, cancels, expiries and rejects (shm_layouts/fill.py).

The running P&L (realised + marked to the book's mids - fees) and the gross exposure
are computed once per batch of requests, and only when a limit on them is set; each
request reads its own symbol's mid for the price band.

The loop is the one runner's (engine/runner.py): this module is the role's kernels,
which read, decide and write, and never wait, commit or publish (the contract, and
why they are compiled as they are: engine/kernels.py).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.atomics import load_acquire_u32
from tickpipe.engine.clock import clock_now
from tickpipe.engine.batch import RUNNER_FIELDS, count, per_strategy, runner_fields
from tickpipe.engine.book import BOOK_OK, BOOK_UNREADABLE, book_read
from tickpipe.engine.commit import txn_add, txn_set
from tickpipe.engine.config import currency_per_unit, notional_limits, symbol_limits
from tickpipe.engine.histogram import record_value
from tickpipe.engine.kernels import (  # noqa: F401  (kernels risk leaves to the defaults)
    idle_on_inputs as pass_idle, no_mirror as before_commit, no_source as source_need,
    no_source_step as source_step, nothing_per_pass as begin_pass, record_undo as undo_need,
    all_outputs_read as live_outputs,
)
from tickpipe.engine.ring import H_MASK, H_POSITION
from tickpipe.engine.runner_gen import role_runner
from tickpipe.shm_layouts.control_block import CLOSING_OFFSET, TRADING_STATE_OFFSET
from tickpipe.shm_layouts.fill import EXEC_FILL, EXEC_PARTIAL_FILL, RISK_REASON_BASE
from tickpipe.shm_layouts.histogram import HOP_GATEWAY_TO_RISK, HOP_STRATEGY_TO_RISK
from tickpipe.shm_layouts.order_intent import REQ_CANCEL, REQ_NEW
from tickpipe.shm_layouts.strategy_position import (
    ORDER_ID_STRATEGY_SHIFT, STRATEGY_POSITION_DTYPE,
)
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_OFFSETS
from tickpipe.shm_layouts.worker_table import (
    RISK_BOOK_UNREADABLE, RISK_FILLS_READ, RISK_INTENTS_READ, RISK_ORDERS_OUT, RISK_ORDERS_SENT,
    RISK_PNL_PEAK, RISK_REJECT_BASE, W_COUNTERS,
)
from tickpipe.workers.positions import (
    S_FEES, S_OPEN_BUY_QTY, S_OPEN_SELL_QTY, S_ORDERS_SENT, apply_fill, apply_strategy_fill,
    stats_field, strategy_field,
)
from tickpipe.workers.risk.checks import (
    NO_REJECT, TRADING_CLOSING, check_daily_loss, check_drawdown, check_duplicate, check_gross_exposure,
    check_max_open_orders, check_order, check_strategy_position_limit, reduces_position,
)

OPEN_BUY_QTY = SYMBOL_STATS_OFFSETS["open_buy_qty"]
OPEN_SELL_QTY = SYMBOL_STATS_OFFSETS["open_sell_qty"]
ORDERS_SENT = SYMBOL_STATS_OFFSETS["orders_sent"]
OPEN_ORDERS = SYMBOL_STATS_OFFSETS["open_orders"]
FEES = SYMBOL_STATS_OFFSETS["fees"]
ORDER_NUMBER_MASK = (1 << ORDER_ID_STRATEGY_SHIFT) - 1

RISK_PARAMS_DTYPE = np.dtype([
    ("band_bps", np.int64),             # [risk] price_band_bps
    ("max_gross", np.float64),          # [risk] max_gross_exposure, currency (0: none)
    ("max_daily_loss", np.float64),     # [risk] max_daily_loss, currency (0: none)
    ("max_drawdown", np.float64),       # [risk] max_drawdown, currency (0: none)
    ("duplicate_window_ns", np.int64),  # [risk] duplicate_window_ms (0: off)
    ("fee_bps", np.float64),            # [risk] fee_bps
])

RiskContext = namedtuple("RiskContext", [
    "inputs",          # int64[n, HANDLE_SLOTS]: 0 the reports, 1 + k strategy k's intents
    "intents",         # tuple: each strategy's request records
    "reports",         # report records of fills_risk
    "orders",          # order records of the orders ring (output 0)
    "stats",           # symbol_stats rows (risk's lines)
    "strategy_rows",   # strat_pos rows, strategy-major
    "strategy_limits", # int64[n_strategies]: [[strategy]] max_position
    "max_qty",         # int64[n_symbols]: [risk] max_order_qty, or the instrument's
    "max_position",    # int64[n_symbols]
    "max_open",        # int64[n_symbols]: working orders per symbol
    "tick_sizes",      # int64[n_symbols]: each instrument's price increment (off-tick denial)
    "notional",        # int64[n_symbols]: max order value as qty x price (price units x lots)
    "currency",        # float64[n_symbols]: currency per price unit x lot
    "params",          # RISK_PARAMS_DTYPE[1]
    "send_times",      # int64[max_orders_per_s]: the rate check's window
    "sent",            # int64[1]: orders passed since this process started (the window's cursor)
    "last_order",      # int64[n_strategies * n_symbols, 4]: side, price, qty, ns (duplicates)
    "exposure",        # float64[3]: this batch's running P&L, gross exposure, P&L peak
    "peak_bits",       # float64[1] / int64[1] views of one scratch word (the peak's bits)
    "peak_word",       # int64[1]: the same word as int64
    "trading",         # int64[1]: the trading state for the batch of requests being read
    "book", "top", "histograms", "control", "row_words", "idle_state", "txn",
] + RUNNER_FIELDS)  # outputs: the orders ring
X_PNL, X_GROSS, X_PEAK = range(3)


@njit(cache=True, _nrt=False, inline="always")
def apply_report(ctx, report):
    """One execution report: the engine's and the order's strategy's position, P&L and
    fees from a fill; every report takes its released lots off both open quantities,
    and the one that ends an order takes it off the symbol's open orders."""
    symbol = report.symbol_id
    k = report.order_id >> ORDER_ID_STRATEGY_SHIFT
    n_symbols = ctx.stats.shape[0]
    row = k * n_symbols + symbol
    kind = report.exec_type
    txn = ctx.txn
    if (kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL) and report.last_qty > 0:
        apply_fill(ctx.stats, symbol, report.side, report.last_qty, report.last_px, txn)
        apply_strategy_fill(ctx.strategy_rows, row, report.side, report.last_qty,
                            report.last_px, txn)
        fee_bps = ctx.params[0].fee_bps
        if fee_bps > 0:
            fee = np.int64(round(report.last_qty * report.last_px * fee_bps / 10_000.0))
            txn_add(txn, stats_field(ctx.stats, symbol, FEES), fee)
            txn_add(txn, strategy_field(ctx.strategy_rows, row, S_FEES), fee)
    released = report.released_qty
    if released != 0:
        side_field = OPEN_BUY_QTY if report.side > 0 else OPEN_SELL_QTY
        txn_add(txn, stats_field(ctx.stats, symbol, side_field), -released)
        strategy_side = S_OPEN_BUY_QTY if report.side > 0 else S_OPEN_SELL_QTY
        txn_add(txn, strategy_field(ctx.strategy_rows, row, strategy_side), -released)
    if report.closes_order:
        txn_add(txn, stats_field(ctx.stats, symbol, OPEN_ORDERS), -1)


@njit(cache=True, _nrt=False, inline="always")
def mid_of(ctx, symbol):
    """The symbol's mid in the book now, 0 when it has no market (or its row was left
    half written by a dead feed: counted, and taken as no market)."""
    read = book_read(ctx.book, ctx.book.ctypes.data, symbol, ctx.top)
    if read == BOOK_UNREADABLE:
        count(ctx.txn, ctx.row_words, W_COUNTERS + RISK_BOOK_UNREADABLE, 1)
    return (ctx.top[0] + ctx.top[1]) // 2 if read == BOOK_OK else 0


@njit(cache=True, _nrt=False)
def mark_book(ctx):
    """The running P&L (realised + position x mid - cost basis - fees) and gross
    exposure (|position| and open orders at the mid), in currency, once per batch; the
    P&L's peak, committed with the batch. Only when a limit on them is set."""
    p = ctx.params[0]
    pnl = 0.0
    gross = 0.0
    for s in range(ctx.stats.shape[0]):
        mid = mid_of(ctx, s)
        row = ctx.stats[s]
        # unrealised at the mid: position x mid - the exact cost basis (workers/positions.py)
        marked = row.position * mid - row.cost_basis if mid > 0 and row.position != 0 else 0
        pnl += (row.realised_pnl + marked - row.fees) * ctx.currency[s]
        gross += (abs(row.position) + row.open_buy_qty + row.open_sell_qty) * mid * ctx.currency[s]
    ctx.exposure[X_PNL] = pnl
    ctx.exposure[X_GROSS] = gross
    peak = max(ctx.peak_bits[0], 0.0)  # the session starts flat: its peak is at least 0
    if pnl > peak and p.max_drawdown > 0:
        ctx.peak_bits[0] = pnl
        txn_set(ctx.txn, ctx.row_words.ctypes.data + (W_COUNTERS + RISK_PNL_PEAK) * 8,
                ctx.peak_word[0])
        peak = pnl
    ctx.exposure[X_PEAK] = peak


@njit(cache=True, _nrt=False, inline="always")
def decide(ctx, k, intent, trading_state, now):
    """NO_REJECT or the first reason a new order or replace is denied."""
    symbol = intent.symbol_id
    row = ctx.stats[symbol]
    p = ctx.params[0]
    mid = mid_of(ctx, symbol)
    reason = check_order(trading_state, intent.side, intent.qty, intent.limit_px, mid,
                         row.position, row.open_buy_qty, row.open_sell_qty, now, ctx.send_times,
                         ctx.sent[0], ctx.max_qty[symbol], ctx.notional[symbol], p.band_bps,
                         ctx.max_position[symbol], ctx.tick_sizes[symbol])
    if reason != NO_REJECT:
        return reason
    own = ctx.strategy_rows[k * ctx.stats.shape[0] + symbol]
    reason = check_strategy_position_limit(intent.side, intent.qty, own.risk_position,
                                           own.open_buy_qty, own.open_sell_qty,
                                           ctx.strategy_limits[k])
    if reason != NO_REJECT:
        return reason
    if intent.request == REQ_NEW:
        reason = check_max_open_orders(row.open_orders, ctx.max_open[symbol])
        if reason != NO_REJECT:
            return reason
        if p.duplicate_window_ns > 0:
            last = ctx.last_order[k * ctx.stats.shape[0] + symbol]
            reason = check_duplicate(last[0], last[1], last[2], last[3], intent.side,
                                     intent.limit_px, intent.qty, now, p.duplicate_window_ns)
            if reason != NO_REJECT:
                return reason
    if p.max_gross > 0:
        reason = check_gross_exposure(ctx.exposure[X_GROSS],
                                      intent.qty * intent.limit_px * ctx.currency[symbol],
                                      p.max_gross)
        if reason != NO_REJECT:
            return reason
    if reduces_position(intent.side, intent.qty, row.position):
        return NO_REJECT  # a loss limit stops new risk, never the way out of it
    if p.max_daily_loss > 0:
        reason = check_daily_loss(ctx.exposure[X_PNL], p.max_daily_loss)
        if reason != NO_REJECT:
            return reason
    if p.max_drawdown > 0:
        reason = check_drawdown(ctx.exposure[X_PNL], ctx.exposure[X_PEAK], p.max_drawdown)
    return reason


@njit(cache=True, _nrt=False, inline="always")
def write_order(ctx, k, intent, reason):
    out = ctx.outs[0]
    order = ctx.orders[(out[H_POSITION] + ctx.written[0]) & out[H_MASK]]
    order.origin_ns = intent.origin_ns
    order.intent_seq = intent.seq
    order.symbol_id = intent.symbol_id
    order.side = intent.side
    order.order_type = intent.order_type
    order.qty = intent.qty
    order.limit_px = intent.limit_px
    # the strategy's own number for it, under its index: routing cannot be forged
    order.order_id = (np.uint64(k) << np.uint64(ORDER_ID_STRATEGY_SHIFT)) | \
        (intent.order_id & np.uint64(ORDER_NUMBER_MASK))
    order.request = intent.request
    order.time_in_force = intent.time_in_force
    order.reject_reason = 0 if reason == NO_REJECT else RISK_REASON_BASE + reason
    order.publish_ns = clock_now(ctx.control)
    ctx.written[0] += 1


@njit(cache=True, _nrt=False, inline="always")
def account(ctx, k, intent, now):
    """What risk adds for a request it passed, with the open batch: the lots (a
    replace's whole new qty until its report says what it released) and, for a new
    order, one more open and sent order."""
    symbol = intent.symbol_id
    row = k * ctx.stats.shape[0] + symbol
    count(ctx.txn, ctx.row_words, W_COUNTERS + RISK_ORDERS_SENT, 1)  # passed: new, cancel, replace
    if intent.request == REQ_CANCEL:
        return
    side_field = OPEN_BUY_QTY if intent.side > 0 else OPEN_SELL_QTY
    txn_add(ctx.txn, stats_field(ctx.stats, symbol, side_field), intent.qty)
    strategy_side = S_OPEN_BUY_QTY if intent.side > 0 else S_OPEN_SELL_QTY
    txn_add(ctx.txn, strategy_field(ctx.strategy_rows, row, strategy_side), intent.qty)
    ctx.exposure[X_GROSS] += intent.qty * intent.limit_px * ctx.currency[symbol]
    ctx.send_times[ctx.sent[0] % ctx.send_times.shape[0]] = now
    ctx.sent[0] += 1
    if intent.request == REQ_NEW:
        txn_add(ctx.txn, stats_field(ctx.stats, symbol, ORDERS_SENT), 1)
        txn_add(ctx.txn, stats_field(ctx.stats, symbol, OPEN_ORDERS), 1)
        txn_add(ctx.txn, strategy_field(ctx.strategy_rows, row, S_ORDERS_SENT), 1)
        last = ctx.last_order[row]
        last[0] = intent.side
        last[1] = intent.limit_px
        last[2] = intent.qty
        last[3] = now


# ---- the kernels the runner (engine/runner.py) calls: inputs in commit-log slot order,
# the reports, then strategy 0's, 1's, 2's ... requests (workers/risk/role.py)

IN_REPORTS = 0


@njit(cache=True, _nrt=False, inline="always")
def strategy_of(k):
    return k - 1


@njit(cache=True, _nrt=False)
def begin_batch(ctx, k, now):
    """A batch of requests is decided in one trading state, with the book marked once
    when a P&L or exposure limit needs it."""
    if k == IN_REPORTS:
        return
    trading_state = load_acquire_u32(ctx.control + TRADING_STATE_OFFSET)
    if load_acquire_u32(ctx.control + CLOSING_OFFSET):
        trading_state = TRADING_CLOSING  # the engine is stopping: no new orders
    ctx.trading[0] = trading_state
    p = ctx.params[0]
    if p.max_gross > 0 or p.max_daily_loss > 0 or p.max_drawdown > 0:
        mark_book(ctx)


@njit(cache=True, _nrt=False, inline="always")
def record_need(ctx, k, position, now):
    """A request makes one order (passed or denied); a report makes nothing, so the
    runner reads reports also while it waits for room on the orders ring: the gateway,
    perhaps waiting for room on risk's reports ring, can then go on."""
    return 0 if k == IN_REPORTS else 1


@njit(cache=True, _nrt=False, inline="always")
def on_record(ctx, k, position, now):
    if k == IN_REPORTS:
        report = ctx.reports[position & ctx.inputs[IN_REPORTS, H_MASK]]
        record_value(ctx.histograms[HOP_GATEWAY_TO_RISK], now - report.publish_ns)
        apply_report(ctx, report)
        return
    s = strategy_of(k)
    intent = ctx.intents[s][position & ctx.inputs[k, H_MASK]]
    record_value(ctx.histograms[HOP_STRATEGY_TO_RISK], now - intent.publish_ns)
    reason = NO_REJECT  # decided after any wait: on the positions as they are then
    if intent.request != REQ_CANCEL:
        reason = decide(ctx, s, intent, ctx.trading[0], now)
    write_order(ctx, s, intent, reason)
    if reason != NO_REJECT:
        count(ctx.txn, ctx.row_words, W_COUNTERS + RISK_REJECT_BASE + reason, 1)
    else:
        account(ctx, s, intent, now)


class Agent(LoopAgent):
    """The risk process: consumes requests and its reports, produces orders."""

    def __init__(self, context):
        super().__init__(context)
        config = context.config
        cfg = config["risk"]
        strategies = config["strategies"]
        n_symbols = config["feed"]["symbols"]
        params = np.zeros(1, dtype=RISK_PARAMS_DTYPE)
        params[0]["band_bps"] = cfg["price_band_bps"]
        params[0]["max_gross"] = cfg["max_gross_exposure"]
        params[0]["max_daily_loss"] = cfg["max_daily_loss"]
        params[0]["max_drawdown"] = cfg["max_drawdown"]
        params[0]["duplicate_window_ns"] = int(cfg["duplicate_window_ms"] * 1_000_000)
        params[0]["fee_bps"] = cfg["fee_bps"]
        # the peak lives in this worker's row (committed); a scratch word gives its bits
        peak = np.zeros(1, dtype=np.float64)
        peak[0] = context.row_words[W_COUNTERS + RISK_PNL_PEAK:
                                    W_COUNTERS + RISK_PNL_PEAK + 1].view(np.float64)[0]
        self.strategy_rows = context.segment.view(
            "strat_pos", STRATEGY_POSITION_DTYPE, len(strategies) * n_symbols)
        inputs = context.inputs
        self.ctx = RiskContext(
            inputs=inputs,
            intents=per_strategy(context.records["intents" if k == 0 else f"intents{k + 1}"]
                                 for k in range(len(strategies))),
            reports=context.records["fills_risk"], orders=context.records["orders"], stats=context.symbols,
            strategy_rows=self.strategy_rows,
            strategy_limits=np.array([entry.get("max_position", cfg["max_position"])
                                      for entry in strategies], dtype=np.int64),
            max_qty=symbol_limits(config, "max_order_qty"),
            max_position=symbol_limits(config, "max_position"),
            max_open=symbol_limits(config, "max_open_orders"),
            tick_sizes=np.array([i["tick_size"] for i in config["instruments"]], dtype=np.int64),
            notional=notional_limits(config), currency=currency_per_unit(config),
            params=params, send_times=np.zeros(cfg["max_orders_per_s"], dtype=np.int64),
            sent=np.zeros(1, dtype=np.int64),
            last_order=np.zeros((len(strategies) * n_symbols, 4), dtype=np.int64),
            exposure=np.zeros(3, dtype=np.float64),
            peak_bits=peak, peak_word=peak.view(np.int64),
            trading=np.zeros(1, dtype=np.int64), book=context.book,
            top=np.zeros(4, dtype=np.int64), histograms=context.histograms,
            control=context.control_address, row_words=context.row_words,
            idle_state=context.idle_state, txn=context.txn,
            **runner_fields(
                context.outputs["orders"].reshape(1, -1), [RISK_ORDERS_OUT],
                [[RISK_FILLS_READ if slot == IN_REPORTS else RISK_INTENTS_READ, 1]
                 for slot in range(len(inputs))],
                # reports first each pass (a position must be current before the next
                # check), then one batch from every strategy in turn: none starves another
                [IN_REPORTS] + [k for k in range(len(inputs)) if k != IN_REPORTS],
                [slot == IN_REPORTS for slot in range(len(inputs))]))
        self.runner = role_runner(__name__)

    def loop(self, max_passes):
        return self.runner.run(self.ctx, max_passes)
