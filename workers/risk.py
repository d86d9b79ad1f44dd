"""Risk worker: pre-trade checks on every intent; positions and P&L from fills.

Intents that pass become orders to the gateway; the rest are counted by
reason in the worker's counters (RISK_REJECT_BASE + reason). The trading state
(ACTIVE / REDUCING / HALTED: the kill switch) is read from the control block
once per batch, so `tickpipe halt` takes effect within one batch.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import load_acquire_u32, monotonic_ns
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_available
from tickpipe.shm_layouts.control_block import TRADING_STATE_OFFSET
from tickpipe.shm_layouts.fill import EXEC_CANCELLED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED
from tickpipe.shm_layouts.histogram import HOP_GATEWAY_TO_RISK, HOP_STRATEGY_TO_RISK
from tickpipe.shm_layouts.worker_table import (
    RISK_BOOK_UNREADABLE, RISK_FILLS_READ, RISK_INTENTS_READ, RISK_ORDERS_SENT, RISK_REJECT_BASE,
    W_COUNTERS, W_INPUT_DONE_SEQ,
)
from tickpipe.workers.loop_support import (
    BATCH, BOOK_OK, BOOK_UNREADABLE, account_pass, book_read, finish_batch, flush_and_claim,
    publish_counted, stop_requested,
)
from tickpipe.workers.positions import apply_fill
from tickpipe.workers.risk_checks import NO_REJECT, check_order

P_MAX_QTY, P_MAX_NOTIONAL, P_BAND_BPS, P_MAX_POSITION, P_SKIP_INTENTS, P_SKIP_FILLS, \
    P_SENT_COUNT = range(7)


@njit(cache=True)
def risk_loop(inputs, intents, fills, out_handle, orders, stats, book, book_address, send_times,
              params, histograms, control_address, row_words, idle_state, max_passes):
    """Intents in, orders out, fills in; until stop_all. Returns 0."""
    intents_handle = inputs[0]
    fills_handle = inputs[1]
    max_qty = params[P_MAX_QTY]
    max_notional = params[P_MAX_NOTIONAL]
    band_bps = params[P_BAND_BPS]
    max_position = params[P_MAX_POSITION]
    skip_intents = params[P_SKIP_INTENTS]
    skip_fills = params[P_SKIP_FILLS]
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
            last_seq = 0
            for i in range(m):
                report = fills[(start + i) & mask]
                last_seq = report.seq
                record_value(histograms[HOP_GATEWAY_TO_RISK], now - report.publish_ns)
                if report.seq <= skip_fills:
                    continue
                symbol = report.symbol_id
                kind = report.exec_type
                if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
                    apply_fill(stats, symbol, report.side, report.last_qty, report.last_px)
                # Every report takes its lots off the open quantity: fills and cancels alike.
                if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL or kind == EXEC_CANCELLED \
                        or kind == EXEC_REJECTED:
                    if report.side > 0:
                        stats[symbol].open_buy_qty -= report.last_qty
                    else:
                        stats[symbol].open_sell_qty -= report.last_qty
                row_words[W_INPUT_DONE_SEQ + 1] = report.seq
            finish_batch(fills_handle, m, last_seq, row_words, 1, RISK_FILLS_READ)
            work += m
        n = consumer_available(intents_handle, BATCH)
        if n > 0:
            now = monotonic_ns()
            trading_state = load_acquire_u32(control_address + TRADING_STATE_OFFSET)
            start = intents_handle[H_POSITION]
            mask = intents_handle[H_MASK]
            written = 0
            room = 0
            last_seq = 0
            for i in range(n):
                intent = intents[(start + i) & mask]
                last_seq = intent.seq
                record_value(histograms[HOP_STRATEGY_TO_RISK], now - intent.publish_ns)
                if intent.seq <= skip_intents:
                    continue
                symbol = intent.symbol_id
                mid = 0
                read = book_read(book, book_address, symbol, top)
                if read == BOOK_OK:
                    mid = (top[0] + top[1]) // 2
                elif read == BOOK_UNREADABLE:
                    row_words[W_COUNTERS + RISK_BOOK_UNREADABLE] += 1  # checked as no market
                row = stats[symbol]
                reason = check_order(trading_state, intent.side, intent.qty, intent.limit_px, mid,
                                     row.position, row.open_buy_qty, row.open_sell_qty, now,
                                     send_times, params[P_SENT_COUNT], max_qty, max_notional,
                                     band_bps, max_position)
                if reason != NO_REJECT:
                    row_words[W_COUNTERS + RISK_REJECT_BASE + reason] += 1
                    continue
                if written == room:
                    room = flush_and_claim(out_handle, written, n - i, row_words,
                                           RISK_ORDERS_SENT, idle_state, control_address)
                    written = 0
                    if room == 0:
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
                order.order_id = out_position + 1
                order._reserved = 0
                order.publish_ns = monotonic_ns()
                if intent.side > 0:
                    row.open_buy_qty += intent.qty
                else:
                    row.open_sell_qty += intent.qty
                row.orders_sent += 1
                send_times[params[P_SENT_COUNT] % send_times.shape[0]] = now
                params[P_SENT_COUNT] += 1
                written += 1
            publish_counted(out_handle, written, row_words, RISK_ORDERS_SENT)
            finish_batch(intents_handle, n, last_seq, row_words, 0, RISK_INTENTS_READ)
            work += n
        idle(idle_state, work, inputs)
        account_pass(row_words, idle_state, work, passes)
    return 0


class Agent(LoopAgent):
    """The risk process: consumes intents and its fills, produces orders."""

    def __init__(self, context):
        super().__init__(context)
        cfg = context.config["risk"]
        self.params = np.array([cfg["max_order_qty"], cfg["max_notional"], cfg["price_band_bps"],
                                cfg["max_position"], context.resume_after(0, "orders", "intent_seq"),
                                context.resume_after(1, None, None), 0], dtype=np.int64)
        self.send_times = np.zeros(cfg["max_orders_per_s"], dtype=np.int64)

    def loop(self, max_passes):
        c = self.context
        return risk_loop(c.inputs, c.records["intents"], c.records["fills_risk"],
                         c.outputs["orders"], c.records["orders"], c.symbols, c.book,
                         c.book.ctypes.data, self.send_times, self.params, c.histograms,
                         c.control_address, c.row_words, c.idle_state, max_passes)

