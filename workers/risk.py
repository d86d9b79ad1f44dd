"""Risk worker: pre-trade checks on every intent; positions and P&L from fills.

Intents that pass become orders to the gateway; the rest are counted by
reason in the worker's counters (RISK_REJECT_BASE + reason). The trading state
(ACTIVE / REDUCING / HALTED: the kill switch) is read from the control block
once per batch, so `tickpipe halt` takes effect within one batch.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import load_acquire_u32, monotonic_ns
from tickpipe.engine.commit import txn_add
from tickpipe.engine.config import notional_limits
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_available
from tickpipe.shm_layouts.control_block import TRADING_STATE_OFFSET
from tickpipe.shm_layouts.fill import EXEC_CANCELLED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED
from tickpipe.shm_layouts.histogram import HOP_GATEWAY_TO_RISK, HOP_STRATEGY_TO_RISK
from tickpipe.shm_layouts.strategy_position import (
    ORDER_ID_STRATEGY_SHIFT, STRATEGY_POSITION_DTYPE,
)
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_OFFSETS
from tickpipe.shm_layouts.worker_table import (
    RISK_BOOK_UNREADABLE, RISK_FILLS_READ, RISK_INTENTS_READ, RISK_ORDERS_SENT, RISK_REJECT_BASE,
    W_COUNTERS,
)
from tickpipe.engine.batch import (
    BATCH, account_pass, commit_and_claim, commit_batch, count, stop_requested,
)
from tickpipe.engine.book import BOOK_OK, BOOK_UNREADABLE, book_read
from tickpipe.workers.positions import (
    S_OPEN_BUY_QTY, S_OPEN_SELL_QTY, S_ORDERS_SENT, apply_fill, apply_strategy_fill, stats_field,
    strategy_field,
)

OPEN_BUY_QTY = SYMBOL_STATS_OFFSETS["open_buy_qty"]
OPEN_SELL_QTY = SYMBOL_STATS_OFFSETS["open_sell_qty"]
ORDERS_SENT = SYMBOL_STATS_OFFSETS["orders_sent"]
from tickpipe.workers.risk_checks import NO_REJECT, check_order, check_strategy_position_limit

P_MAX_QTY, P_BAND_BPS, P_MAX_POSITION, P_SENT_COUNT = range(4)


@njit(cache=True)
def apply_report(report, stats, strategy_rows, n_symbols, txn):
    """One execution report: the engine's and the order's strategy's position and P&L
    from a fill; every report takes its lots off both open quantities."""
    symbol = report.symbol_id
    k = report.order_id >> ORDER_ID_STRATEGY_SHIFT
    row = k * n_symbols + symbol
    kind = report.exec_type
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
        apply_fill(stats, symbol, report.side, report.last_qty, report.last_px, txn)
        apply_strategy_fill(strategy_rows, row, report.side, report.last_qty, report.last_px,
                            txn)
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL or kind == EXEC_CANCELLED \
            or kind == EXEC_REJECTED:
        side_field = OPEN_BUY_QTY if report.side > 0 else OPEN_SELL_QTY
        txn_add(txn, stats_field(stats, symbol, side_field), -report.last_qty)
        strategy_side = S_OPEN_BUY_QTY if report.side > 0 else S_OPEN_SELL_QTY
        txn_add(txn, strategy_field(strategy_rows, row, strategy_side), -report.last_qty)


@njit(cache=True)
def risk_loop(inputs, intents, fills, out_handle, orders, stats, strategy_rows, strategy_limits,
              notional_limits, book, book_address, send_times, params, histograms,
              control_address, row_words, idle_state, txn, max_passes):
    """Intents in (one ring per strategy), orders out, fills in; until stop_all. Returns 0.

    inputs: the consumer handles, in slots: 0 strategy 0's intents, 1 the reports,
    k + 1 strategy k's intents (k >= 1); intents: their records, one per strategy.
    Each pass reads one batch from every intents ring in turn, so no strategy starves
    another. Every change to shared state (positions, open quantities, counters)
    goes through the open batch `txn`, which commits with the batch's progress
    (engine/commit.py). Order ids carry the strategy (ORDER_ID_STRATEGY_SHIFT).
    """
    fills_handle = inputs[1]
    n_strategies = len(intents)
    n_symbols = stats.shape[0]
    max_qty = params[P_MAX_QTY]
    band_bps = params[P_BAND_BPS]
    max_position = params[P_MAX_POSITION]
    out_mask = out_handle[H_MASK]
    top = np.zeros(4, dtype=np.int64)
    passes = 0
    while max_passes < 0 or passes < max_passes:
        if stop_requested(control_address):
            break
        passes += 1
        work = 0
        # Fills first: a position must be current before the next intent is checked.
        m = consumer_available(fills_handle, BATCH)
        if m > 0:
            now = monotonic_ns()
            start = fills_handle[H_POSITION]
            mask = fills_handle[H_MASK]
            for i in range(m):
                report = fills[(start + i) & mask]
                record_value(histograms[HOP_GATEWAY_TO_RISK], now - report.publish_ns)
                apply_report(report, stats, strategy_rows, n_symbols, txn)
            commit_batch(txn, fills_handle, 1, m, out_handle, -1, 0, row_words, RISK_FILLS_READ, 0)
            work += m
        for k in range(n_strategies):
            slot = 0 if k == 0 else k + 1
            intents_handle = inputs[slot]
            n = consumer_available(intents_handle, BATCH)
            if n == 0:
                continue
            records = intents[k]
            now = monotonic_ns()
            trading_state = load_acquire_u32(control_address + TRADING_STATE_OFFSET)
            start = intents_handle[H_POSITION]
            mask = intents_handle[H_MASK]
            written = 0
            room = 0
            committed = 0   # intents of this batch already committed and released
            end = n
            for i in range(n):
                intent = records[(start + i) & mask]
                record_value(histograms[HOP_STRATEGY_TO_RISK], now - intent.publish_ns)
                symbol = intent.symbol_id
                mid = 0
                read = book_read(book, book_address, symbol, top)
                if read == BOOK_OK:
                    mid = (top[0] + top[1]) // 2
                elif read == BOOK_UNREADABLE:
                    count(txn, row_words, W_COUNTERS + RISK_BOOK_UNREADABLE, 1)  # as no market
                row = stats[symbol]
                own = strategy_rows[k * n_symbols + symbol]
                reason = check_order(trading_state, intent.side, intent.qty, intent.limit_px, mid,
                                     row.position, row.open_buy_qty, row.open_sell_qty, now,
                                     send_times, params[P_SENT_COUNT], max_qty,
                                     notional_limits[symbol],
                                     band_bps, max_position)
                if reason == NO_REJECT:
                    reason = check_strategy_position_limit(
                        intent.side, intent.qty, own.risk_position, own.open_buy_qty,
                        own.open_sell_qty, strategy_limits[k])
                if reason != NO_REJECT:
                    count(txn, row_words, W_COUNTERS + RISK_REJECT_BASE + reason, 1)
                    continue
                if written == room:
                    room = commit_and_claim(txn, intents_handle, slot, i - committed, out_handle,
                                            0, written, n - i, row_words, RISK_INTENTS_READ,
                                            RISK_ORDERS_SENT, idle_state, control_address)
                    committed = i if written > 0 else committed
                    written = 0
                    if room == 0:
                        end = i  # stopping: this intent and the rest stay unread
                        break
                out_position = out_handle[H_POSITION] + written
                order = orders[out_position & out_mask]
                order.origin_ns = intent.origin_ns
                order.intent_seq = intent.seq
                order.symbol_id = symbol
                order.side = intent.side
                order.order_type = intent.order_type
                order.qty = intent.qty
                order.limit_px = intent.limit_px
                order.order_id = (k << ORDER_ID_STRATEGY_SHIFT) | (out_position + 1)
                order._reserved = 0
                order.publish_ns = monotonic_ns()
                side_field = OPEN_BUY_QTY if intent.side > 0 else OPEN_SELL_QTY
                txn_add(txn, stats_field(stats, symbol, side_field), intent.qty)
                txn_add(txn, stats_field(stats, symbol, ORDERS_SENT), 1)
                strategy_row = k * n_symbols + symbol
                strategy_side = S_OPEN_BUY_QTY if intent.side > 0 else S_OPEN_SELL_QTY
                txn_add(txn, strategy_field(strategy_rows, strategy_row, strategy_side),
                        intent.qty)
                txn_add(txn, strategy_field(strategy_rows, strategy_row, S_ORDERS_SENT), 1)
                send_times[params[P_SENT_COUNT] % send_times.shape[0]] = now
                params[P_SENT_COUNT] += 1
                written += 1
            commit_batch(txn, intents_handle, slot, end - committed, out_handle, 0, written,
                         row_words, RISK_INTENTS_READ, RISK_ORDERS_SENT)
            work += n
        idle(idle_state, work, inputs)
        account_pass(row_words, idle_state, work, passes)
    return 0


class Agent(LoopAgent):
    """The risk process: consumes intents and its fills, produces orders."""

    def __init__(self, context):
        super().__init__(context)
        config = context.config
        cfg = config["risk"]
        self.params = np.array([cfg["max_order_qty"], cfg["price_band_bps"], cfg["max_position"],
                                0], dtype=np.int64)
        # [risk] max_notional is in currency: per symbol in price units x lots
        self.notional_limits = notional_limits(config)
        self.send_times = np.zeros(cfg["max_orders_per_s"], dtype=np.int64)
        strategies = config["strategies"]
        n_symbols = config["feed"]["symbols"]
        self.intents = tuple(context.records["intents" if k == 0 else f"intents{k + 1}"]
                             for k in range(len(strategies)))
        self.strategy_rows = context.segment.view(
            "strat_pos", STRATEGY_POSITION_DTYPE, len(strategies) * n_symbols)
        self.strategy_limits = np.array([entry.get("max_position", cfg["max_position"])
                                         for entry in strategies], dtype=np.int64)

    def loop(self, max_passes):
        c = self.context
        return risk_loop(c.inputs, self.intents, c.records["fills_risk"], c.outputs["orders"],
                         c.records["orders"], c.symbols, self.strategy_rows, self.strategy_limits,
                         self.notional_limits, c.book, c.book.ctypes.data, self.send_times, self.params, c.histograms,
                         c.control_address, c.row_words, c.idle_state, c.txn, max_passes)

