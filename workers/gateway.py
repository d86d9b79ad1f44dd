"""Gateway worker: orders in; each order through its state machine at the simulated
exchange; execution reports out to risk and to the strategy (two rings, written as
one sequence: report k of one ring is report k of the other).

The tick-to-trade histogram is recorded here: from the feed's origin stamp to the
moment the order is handed to the venue.
"""

import numpy as np
from numba import njit

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.ring import (
    H_MASK, H_POSITION, consumer_available, producer_claim, producer_publish,
)
from tickpipe.shm_layouts.fill import EXEC_CANCELLED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED
from tickpipe.shm_layouts.histogram import HOP_RISK_TO_GATEWAY, HOP_TICK_TO_TRADE
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_BOOK_UNREADABLE, GATEWAY_CANCELS, GATEWAY_FILLS, GATEWAY_ORDERS_READ, GATEWAY_PARTIALS,
    GATEWAY_REJECTS, GATEWAY_REPORTS_SENT, W_COUNTERS, W_ERRORS, W_PUBLISHED,
)
from tickpipe.workers.loop_support import (
    BATCH, account_pass, finish_batch, stop_requested, wait_while_full,
)
from tickpipe.workers.order_states import (
    EV_ACCEPT, EV_CANCEL, EV_FILL_ALL, EV_FILL_PART, EV_REJECT, INVALID, PENDING_NEW, TRANSITIONS,
    next_state,
)
from tickpipe.workers.sim_exchange import MATCH_BOOK_UNREADABLE, match_ioc

P_REJECT_EVERY, P_SKIP_ORDERS = range(2)
REPORTS_PER_ORDER = 2  # at most: a partial fill and the cancel of the rest


@njit(cache=True)
def claim_both(risk_handle, strategy_handle, need, idle_state, control_address, row_words):
    """Wait until both report rings have `need` free slots; False only when stopping."""
    streak = 0
    while producer_claim(risk_handle, need) < need or producer_claim(strategy_handle, need) < need:
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
def gateway_loop(inputs, orders, risk_handle, risk_reports, strategy_handle, strategy_reports,
                 stats, book, book_address, transitions, params, histograms, control_address,
                 row_words, idle_state, max_passes):
    """Orders in, reports out (to both rings); until stop_all. Returns 0."""
    orders_handle = inputs[0]
    reject_every = params[P_REJECT_EVERY]
    skip_orders = params[P_SKIP_ORDERS]
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
            start = orders_handle[H_POSITION]
            mask = orders_handle[H_MASK]
            written = 0
            last_seq = 0
            for i in range(n):
                order = orders[(start + i) & mask]
                last_seq = order.seq
                record_value(histograms[HOP_RISK_TO_GATEWAY], now - order.publish_ns)
                record_value(histograms[HOP_TICK_TO_TRADE], now - order.origin_ns)
                if order.seq <= skip_orders:
                    continue
                if not claim_both(risk_handle, strategy_handle, written + REPORTS_PER_ORDER,
                                  idle_state, control_address, row_words):
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
                    row_words[W_COUNTERS + GATEWAY_REJECTS] += 1
                else:
                    state = next_state(transitions, state, EV_ACCEPT)
                    if match_ioc(book, book_address, symbol, order.side, qty, order.limit_px, top,
                                 match) == MATCH_BOOK_UNREADABLE:
                        row_words[W_COUNTERS + GATEWAY_BOOK_UNREADABLE] += 1
                    filled = match[0]
                    if filled == qty:
                        state = next_state(transitions, state, EV_FILL_ALL)
                        events[0] = EXEC_FILL
                        n_reports = 1
                        row_words[W_COUNTERS + GATEWAY_FILLS] += 1
                    else:
                        if filled > 0:
                            state = next_state(transitions, state, EV_FILL_PART)
                            events[n_reports] = EXEC_PARTIAL_FILL
                            n_reports += 1
                            row_words[W_COUNTERS + GATEWAY_PARTIALS] += 1
                        state = next_state(transitions, state, EV_CANCEL)
                        events[n_reports] = EXEC_CANCELLED
                        n_reports += 1
                        row_words[W_COUNTERS + GATEWAY_CANCELS] += 1
                if state == INVALID:
                    row_words[W_ERRORS] += 1
                for k in range(n_reports):
                    kind = events[k]
                    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
                        last_qty, last_px, leaves = filled, match[1], qty - filled
                    else:  # cancel/reject: last_qty carries the lots taken off the market
                        last_qty, last_px, leaves = qty - filled, 0, 0
                    stamp = monotonic_ns()
                    write_report(risk_reports, risk_handle, written, order, kind, last_qty,
                                 last_px, filled, leaves, stamp)
                    write_report(strategy_reports, strategy_handle, written, order, kind, last_qty,
                                 last_px, filled, leaves, stamp)
                    written += 1
                stats[symbol].venue_net_qty += order.side * filled
                stats[symbol].venue_orders += 1
            if written > 0:
                producer_publish(risk_handle, written)
                producer_publish(strategy_handle, written)
                row_words[W_PUBLISHED] += written
                row_words[W_COUNTERS + GATEWAY_REPORTS_SENT] += written
            finish_batch(orders_handle, n, last_seq, row_words, 0, GATEWAY_ORDERS_READ)
        idle(idle_state, n, inputs)
        account_pass(row_words, idle_state, n, passes)
    return 0


class Agent(LoopAgent):
    """The gateway process: consumes orders, produces reports on two rings."""

    def __init__(self, context):
        super().__init__(context)
        self._realign_report_rings()
        skip = max(context.resume_after(0, "fills_risk", "order_seq"),
                   context.resume_after(0, "fills_strategy", "order_seq"))
        self.params = np.array([context.config["gateway"]["reject_every"], skip], dtype=np.int64)

    def _realign_report_rings(self):
        """After a crash between the two publishes, copy what one ring got to the other,
        so both again carry the same reports (report k of one = report k of the other)."""
        c = self.context
        ahead, behind = "fills_risk", "fills_strategy"
        if c.outputs[behind][H_POSITION] > c.outputs[ahead][H_POSITION]:
            ahead, behind = behind, ahead
        missing = int(c.outputs[ahead][H_POSITION] - c.outputs[behind][H_POSITION])
        if missing == 0:
            return
        handle = c.outputs[behind]
        if producer_claim(handle, missing) < missing:
            raise RuntimeError(f"cannot realign report rings: {behind} has no room for {missing}")
        mask = int(handle[H_MASK])
        source, target = c.records[ahead].view(np.uint64), c.records[behind].view(np.uint64)
        words = source.shape[0] // len(c.records[ahead])
        for k in range(missing):
            slot = (int(handle[H_POSITION]) + k) & mask
            # every word but seq (the first), which publish stores
            target[slot * words + 1:(slot + 1) * words] = source[slot * words + 1:(slot + 1) * words]
        producer_publish(handle, missing)

    def loop(self, max_passes):
        c = self.context
        return gateway_loop(c.inputs, c.records["orders"], c.outputs["fills_risk"],
                            c.records["fills_risk"], c.outputs["fills_strategy"],
                            c.records["fills_strategy"], c.symbols, c.book, c.book.ctypes.data,
                            TRANSITIONS, self.params, c.histograms, c.control_address,
                            c.row_words, c.idle_state, max_passes)

