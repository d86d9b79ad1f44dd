"""Gateway worker: orders in; each order through its state machine at the simulated
exchange; execution reports out to risk and to the order's strategy (the strategy
is the top byte of the order id): each report is written to both rings.

The tick-to-trade histogram is recorded here: from the feed's origin stamp to the
moment the order is handed to the venue.
"""

import numpy as np
from numba import njit

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.commit import txn_add, txn_commit, txn_consumed, txn_produced
from tickpipe.engine.engine_layout import engine_rings, outputs_of
from tickpipe.engine.ring import (
    H_MASK, H_POSITION, consumer_available, consumer_release, producer_claim, producer_publish,
)
from tickpipe.shm_layouts.fill import EXEC_CANCELLED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED
from tickpipe.shm_layouts.histogram import (
    HOP_RISK_TO_GATEWAY, HOP_TICK_TO_TRADE, HOP_TICK_TO_TRADE_OF,
)
from tickpipe.shm_layouts.strategy_position import ORDER_ID_STRATEGY_SHIFT
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_OFFSETS
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_BOOK_UNREADABLE, GATEWAY_CANCELS, GATEWAY_FILLS, GATEWAY_ILLEGAL_TRANSITIONS,
    GATEWAY_ORDERS_READ, GATEWAY_PARTIALS, GATEWAY_REJECTS, GATEWAY_REPORTS_SENT, W_COUNTERS,
    W_PROCESSED, W_PUBLISHED,
)
from tickpipe.engine.batch import (
    BATCH, account_pass, count, read_retired, stop_requested, wait_while_full,
)
from tickpipe.workers.positions import stats_field
from tickpipe.workers.order_states import (
    EV_ACCEPT, EV_CANCEL, EV_FILL_ALL, EV_FILL_PART, EV_REJECT, INVALID, PENDING_NEW, TRANSITIONS,
    next_state,
)
from tickpipe.workers.sim_exchange import MATCH_BOOK_UNREADABLE, match_ioc

P_REJECT_EVERY = 0
REPORTS_PER_ORDER = 2  # at most: a partial fill and the cancel of the rest
VENUE_NET_QTY = SYMBOL_STATS_OFFSETS["venue_net_qty"]
VENUE_ORDERS = SYMBOL_STATS_OFFSETS["venue_orders"]
# The commit point's output slots: this role's outputs in engine_layout's order,
# fills_strategy, fills_risk, then fills_strategy2, 3, ...: strategy k's is
# strategy_slot(k).
OUT_FILLS_RISK = [ring.section for ring in outputs_of("gateway")].index("fills_risk")


@njit(cache=True)
def strategy_slot(k):
    return 0 if k == 0 else k + 1


@njit(cache=True)
def room_for_order(outs, written, slot, need):
    """Risk's ring and the strategy's have `need` free slots past what is written."""
    return producer_claim(outs[OUT_FILLS_RISK], written[OUT_FILLS_RISK] + need) \
        >= written[OUT_FILLS_RISK] + need and \
        producer_claim(outs[slot], written[slot] + need) >= written[slot] + need


@njit(cache=True)
def claim_for_order(outs, written, slot, need, idle_state, control_address, row_words):
    """Wait until both rings have room (written is 0 after a commit); False when stopping."""
    streak = 0
    while not room_for_order(outs, written, slot, need):
        if stop_requested(control_address):
            return False
        wait_while_full(row_words, idle_state, streak)
        streak += 1
    return True


@njit(cache=True)
def write_report(reports, handle, offset, order, exec_type, last_qty, last_px, cum_qty, leaves_qty,
                 now):
    position = handle[H_POSITION] + offset
    report = reports[position & handle[H_MASK]]
    report.origin_ns = order.origin_ns
    report.order_id = order.order_id
    report.symbol_id = order.symbol_id
    report.side = order.side
    report.exec_type = exec_type
    report.last_qty = last_qty
    report.last_px = last_px
    report.cum_qty = cum_qty
    report.leaves_qty = leaves_qty
    report.order_seq = order.seq
    report.publish_ns = now


@njit(cache=True)
def gateway_loop(inputs, orders, outs, reports, written, retired, stats, book, book_address,
                 transitions, params, histograms, control_address, row_words, idle_state, txn,
                 max_passes):
    """Orders in, reports out (to risk and the order's strategy); until stop_all. Returns 0.

    outs/reports: the producer handles and records of this worker's outputs in slot
    order; written: reports written per slot in the open batch; retired: per strategy,
    given up by the supervisor (read per batch; its reports go to risk alone). The venue's positions
    and orders per symbol and every counter change through the open batch `txn`;
    every report ring is committed with it (engine/commit.py), so an order is executed
    once and reported once on each ring, however the gateway dies.
    """
    orders_handle = inputs[0]
    reject_every = params[P_REJECT_EVERY]
    top = np.zeros(4, dtype=np.int64)
    match = np.zeros(2, dtype=np.int64)
    events = np.zeros(2, dtype=np.int64)
    passes = 0
    while max_passes < 0 or passes < max_passes:
        if stop_requested(control_address):
            break
        passes += 1
        n = consumer_available(orders_handle, BATCH)
        if n > 0:
            now = monotonic_ns()
            read_retired(control_address, retired)
            start = orders_handle[H_POSITION]
            mask = orders_handle[H_MASK]
            committed = 0  # orders of this batch already committed and released
            end = n
            for i in range(n):
                order = orders[(start + i) & mask]
                record_value(histograms[HOP_RISK_TO_GATEWAY], now - order.publish_ns)
                record_value(histograms[HOP_TICK_TO_TRADE], now - order.origin_ns)
                strategy = order.order_id >> ORDER_ID_STRATEGY_SHIFT
                record_value(histograms[HOP_TICK_TO_TRADE_OF + strategy], now - order.origin_ns)
                slot = strategy_slot(strategy)
                if retired[strategy]:
                    slot = OUT_FILLS_RISK  # given up: its reports go to risk alone
                if not room_for_order(outs, written, slot, REPORTS_PER_ORDER):
                    # A report ring is full: commit and publish what is done, then wait.
                    commit_reports(txn, orders_handle, i - committed, outs, written, row_words)
                    committed = i
                    if not claim_for_order(outs, written, slot, REPORTS_PER_ORDER, idle_state,
                                           control_address, row_words):
                        end = i  # stopping: this order and the rest stay unread
                        break
                symbol = order.symbol_id
                qty = order.qty
                state = PENDING_NEW
                filled = 0
                n_reports = 0
                if reject_every > 0 and order.seq % reject_every == 0:
                    state = next_state(transitions, state, EV_REJECT)
                    events[0] = EXEC_REJECTED
                    n_reports = 1
                    count(txn, row_words, W_COUNTERS + GATEWAY_REJECTS, 1)
                else:
                    state = next_state(transitions, state, EV_ACCEPT)
                    if match_ioc(book, book_address, symbol, order.side, qty, order.limit_px, top,
                                 match) == MATCH_BOOK_UNREADABLE:
                        count(txn, row_words, W_COUNTERS + GATEWAY_BOOK_UNREADABLE, 1)
                    filled = match[0]
                    if filled == qty:
                        state = next_state(transitions, state, EV_FILL_ALL)
                        events[0] = EXEC_FILL
                        n_reports = 1
                        count(txn, row_words, W_COUNTERS + GATEWAY_FILLS, 1)
                    else:
                        if filled > 0:
                            state = next_state(transitions, state, EV_FILL_PART)
                            events[n_reports] = EXEC_PARTIAL_FILL
                            n_reports += 1
                            count(txn, row_words, W_COUNTERS + GATEWAY_PARTIALS, 1)
                        state = next_state(transitions, state, EV_CANCEL)
                        events[n_reports] = EXEC_CANCELLED
                        n_reports += 1
                        count(txn, row_words, W_COUNTERS + GATEWAY_CANCELS, 1)
                if state == INVALID:  # counted, never applied (errors is the worker's own)
                    count(txn, row_words, W_COUNTERS + GATEWAY_ILLEGAL_TRANSITIONS, 1)
                for e in range(n_reports):
                    kind = events[e]
                    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
                        last_qty, last_px, leaves = filled, match[1], qty - filled
                    else:  # cancel/reject: last_qty carries the lots taken off the market
                        last_qty, last_px, leaves = qty - filled, 0, 0
                    stamp = monotonic_ns()
                    write_report(reports[OUT_FILLS_RISK], outs[OUT_FILLS_RISK],
                                 written[OUT_FILLS_RISK], order, kind, last_qty, last_px, filled,
                                 leaves, stamp)
                    written[OUT_FILLS_RISK] += 1
                    if slot != OUT_FILLS_RISK:
                        write_report(reports[slot], outs[slot], written[slot], order, kind,
                                     last_qty, last_px, filled, leaves, stamp)
                        written[slot] += 1
                if filled != 0:
                    txn_add(txn, stats_field(stats, symbol, VENUE_NET_QTY), order.side * filled)
                txn_add(txn, stats_field(stats, symbol, VENUE_ORDERS), 1)
            commit_reports(txn, orders_handle, end - committed, outs, written, row_words)
        idle(idle_state, n, inputs)
        account_pass(row_words, idle_state, n, passes)
    return 0


@njit(cache=True)
def commit_reports(txn, orders_handle, consumed, outs, written, row_words):
    """Commit `consumed` orders executed and the reports written on each ring, then
    publish those and release these. Resets `written`."""
    if consumed > 0:
        count(txn, row_words, W_PROCESSED, consumed)
        count(txn, row_words, W_COUNTERS + GATEWAY_ORDERS_READ, consumed)
        txn_consumed(txn, 0, orders_handle[H_POSITION] + consumed)
    total = 0
    for m in range(outs.shape[0]):
        if written[m] > 0:
            total += written[m]
            txn_produced(txn, m, outs[m, H_POSITION] + written[m])
    if total > 0:
        count(txn, row_words, W_PUBLISHED, total)
        # reports, once each: every report went to risk's ring and one strategy's
        count(txn, row_words, W_COUNTERS + GATEWAY_REPORTS_SENT, written[OUT_FILLS_RISK])
    txn_commit(txn)
    for m in range(outs.shape[0]):
        if written[m] > 0:
            producer_publish(outs[m], written[m])
            written[m] = 0
    if consumed > 0:
        consumer_release(orders_handle, consumed)


class Agent(LoopAgent):
    """The gateway process: consumes orders, produces reports: risk's ring and one per
    strategy."""

    def __init__(self, context):
        super().__init__(context)
        self.params = np.array([context.config["gateway"]["reject_every"]], dtype=np.int64)
        sections = [ring.section for ring in outputs_of("gateway",
                                                         engine_rings(context.config))]
        self.outs = np.array([context.outputs[section] for section in sections])
        self.reports = tuple(context.records[section] for section in sections)
        self.written = np.zeros(len(sections), dtype=np.int64)
        self.retired = np.zeros(len(context.config["strategies"]), dtype=np.int64)

    def loop(self, max_passes):
        c = self.context
        return gateway_loop(c.inputs, c.records["orders"], self.outs, self.reports, self.written,
                            self.retired, c.symbols, c.book, c.book.ctypes.data, TRANSITIONS, self.params,
                            c.histograms, c.control_address, c.row_words, c.idle_state, c.txn,
                            max_passes)

