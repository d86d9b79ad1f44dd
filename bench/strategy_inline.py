"""The mean reversion written inline in its own loop, as before the runner: a bench
reference only, never selected by the product. `tickpipe bench strategy` runs its
Agent in process beside the runner's (bench/strategy_bench.py); `tickpipe bench
plugin` runs it as the strategy worker of a real engine (bench/inline_worker.py).
Its batch ends (commit_batch, commit_and_claim) came along from engine/batch.py,
which nothing else used: they live in this file, not in another bench module, so that
numba's cache of strategy_loop, which inlines them, is invalidated with this file
(bench/ is not in the key of numba's cache directory: the package's __init__.py).

The strategy: mean reversion on the mid, by z-score over a rolling window.

When a symbol's mid is `entry_z` standard deviations above its rolling mean it
sells at the bid, below it buys at the ask (IOC intents), while its position
stays within `max_position`. It knows its position from the gateway's fills
and keeps one intent per symbol in flight: a new one waits for the last one's
final report (risk answers every request, a denial too).
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.commit import txn_add, txn_commit, txn_consumed, txn_produced, txn_set
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.engine_layout import strategy_positions
from tickpipe.workers.strategies.mean_reversion import signal as signal_side  # the same rule
from tickpipe.engine.ring import (
    H_MASK, H_POSITION, consumer_available, consumer_release, producer_claim, producer_publish,
)
from tickpipe.shm_layouts.fill import EXEC_CANCELLED, EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED
from tickpipe.shm_layouts.histogram import HOP_FEED_TO_STRATEGY, HOP_GATEWAY_TO_STRATEGY
from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, REQ_NEW, TIF_IOC
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_FILLS_READ, STRATEGY_INTENTS, STRATEGY_MD_READ, W_COUNTERS, W_PROCESSED, W_PUBLISHED,
)
from tickpipe.engine.batch import BATCH, account_pass, count, stop_requested, wait_while_full

STRATEGY_POSITION = STRATEGY_POSITION_OFFSETS["position"]
IN_FLIGHT = STRATEGY_POSITION_OFFSETS["in_flight"]
ROW = STRATEGY_POSITION_DTYPE.itemsize


@njit(cache=True)
def stats_field(rows, symbol, offset):
    return rows.ctypes.data + symbol * ROW + offset

# params slots
P_WINDOW, P_ORDER_QTY, P_MAX_POSITION, P_START_PX = range(4)
F_ENTRY_Z = 0


@njit(cache=True)
def update_window(window, filled, cursor, sums, sumsq, symbol, value):
    """Push `value` into the symbol's rolling window; returns how many values it holds."""
    size = window.shape[1]
    slot = cursor[symbol]
    if filled[symbol] == size:
        old = window[symbol, slot]
        sums[symbol] -= old
        sumsq[symbol] -= old * old
    else:
        filled[symbol] += 1
    window[symbol, slot] = value
    sums[symbol] += value
    sumsq[symbol] += value * value
    cursor[symbol] = slot + 1 if slot + 1 < size else 0
    return filled[symbol]


# ---- the batch's end, one input and one output at a time (from engine/batch.py) ----

@njit(cache=True)
def claim_at_least_one(handle, wanted, idle_state, control_address, row_words):
    """Claim up to `wanted` slots, waiting while the ring is full; 0 only when stopping."""
    streak = 0
    while True:
        got = producer_claim(handle, wanted)
        if got > 0:
            return got
        if stop_requested(control_address):
            return 0
        wait_while_full(row_words, idle_state, streak)
        streak += 1


@njit(cache=True)
def commit_batch(txn, in_handle, in_slot, consumed, out_handle, out_slot, written, row_words,
                 in_counter, out_counter):
    """End a batch: `consumed` records read from input `in_slot`, `written` records
    made for output `out_slot` (either may be 0; out_slot < 0: no output). Counts
    them, commits, then publishes the outputs and releases the inputs."""
    if consumed > 0:
        count(txn, row_words, W_PROCESSED, consumed)
        count(txn, row_words, W_COUNTERS + in_counter, consumed)
        txn_consumed(txn, in_slot, in_handle[H_POSITION] + consumed)
    if written > 0:
        count(txn, row_words, W_PUBLISHED, written)
        count(txn, row_words, W_COUNTERS + out_counter, written)
        txn_produced(txn, out_slot, out_handle[H_POSITION] + written)
    txn_commit(txn)
    if written > 0:
        producer_publish(out_handle, written)
    if consumed > 0:
        consumer_release(in_handle, consumed)


@njit(cache=True)
def commit_and_claim(txn, in_handle, in_slot, consumed, out_handle, out_slot, written, wanted,
                     row_words, in_counter, out_counter, idle_state, control_address):
    """The room claimed on the output ring is used up mid-batch: commit and publish what
    is done (`written` > 0; the consumer can then drain), then wait for room for up to
    `wanted` more. Returns the room; 0 only when stopping."""
    if written > 0:
        commit_batch(txn, in_handle, in_slot, consumed, out_handle, out_slot, written, row_words,
                     in_counter, out_counter)
    return claim_at_least_one(out_handle, wanted, idle_state, control_address, row_words)


@njit(cache=True)
def strategy_loop(inputs, quotes, fills, out_handle, intents, window, filled, cursor, sums, sumsq,
                  stats, params, fparams, histograms, control_address,
                  row_words, idle_state, txn, max_passes):
    """Quotes in, intents out, fills in; until stop_all. Returns 0."""
    quotes_handle = inputs[0]
    fills_handle = inputs[1]
    size = params[P_WINDOW]
    order_qty = params[P_ORDER_QTY]
    max_position = params[P_MAX_POSITION]
    start_px = params[P_START_PX]
    entry_z = fparams[F_ENTRY_Z]
    out_mask = out_handle[H_MASK]
    passes = 0
    while max_passes < 0 or passes < max_passes:
        if stop_requested(control_address):
            break
        passes += 1
        work = 0
        n = consumer_available(quotes_handle, BATCH)
        if n > 0:
            now = monotonic_ns()
            start = quotes_handle[H_POSITION]
            mask = quotes_handle[H_MASK]
            written = 0
            room = 0
            committed = 0  # quotes of this batch already committed and released
            end = n
            for i in range(n):
                tick = quotes[(start + i) & mask]
                record_value(histograms[HOP_FEED_TO_STRATEGY], now - tick.publish_ns)
                if tick.kind != MD_KIND_QUOTE:
                    continue
                symbol = tick.symbol_id
                mid = (tick.bid_px + tick.ask_px) // 2
                value = float(mid - start_px)
                if update_window(window, filled, cursor, sums, sumsq, symbol, value) < size:
                    continue
                if stats[symbol].in_flight != 0:
                    continue
                side = signal_side(value, sums[symbol], sumsq[symbol], size, entry_z,
                                   stats[symbol].position, max_position)
                if side == 0:
                    continue
                if written == room:
                    room = commit_and_claim(txn, quotes_handle, 0, i - committed, out_handle, 0,
                                            written, n - i, row_words, STRATEGY_MD_READ,
                                            STRATEGY_INTENTS, idle_state, control_address)
                    committed = i if written > 0 else committed
                    written = 0
                    if room == 0:
                        end = i  # stopping: this quote and the rest stay unread
                        break
                out_position = out_handle[H_POSITION] + written
                intent = intents[out_position & out_mask]
                intent.origin_ns = tick.origin_ns
                intent.md_seq = tick.seq
                intent.symbol_id = symbol
                intent.side = side
                intent.order_type = ORDER_TYPE_IOC
                intent.qty = order_qty
                intent.limit_px = tick.ask_px if side > 0 else tick.bid_px
                intent.order_id = out_position + 1  # its seq; risk adds the strategy's index
                intent.request = REQ_NEW
                intent.time_in_force = TIF_IOC
                intent.publish_ns = monotonic_ns()
                txn_set(txn, stats_field(stats, symbol, IN_FLIGHT), 1)
                written += 1
            commit_batch(txn, quotes_handle, 0, end - committed, out_handle, 0, written,
                         row_words, STRATEGY_MD_READ, STRATEGY_INTENTS)
            work += n
        m = consumer_available(fills_handle, BATCH)
        if m > 0:
            now = monotonic_ns()
            start = fills_handle[H_POSITION]
            mask = fills_handle[H_MASK]
            for i in range(m):
                report = fills[(start + i) & mask]
                record_value(histograms[HOP_GATEWAY_TO_STRATEGY], now - report.publish_ns)
                symbol = report.symbol_id
                if report.exec_type == EXEC_FILL or report.exec_type == EXEC_PARTIAL_FILL:
                    txn_add(txn, stats_field(stats, symbol, STRATEGY_POSITION),
                            report.side * report.last_qty)
                if report.exec_type == EXEC_FILL or report.exec_type == EXEC_CANCELLED \
                        or report.exec_type == EXEC_REJECTED:
                    txn_set(txn, stats_field(stats, symbol, IN_FLIGHT), 0)
            commit_batch(txn, fills_handle, 1, m, out_handle, -1, 0, row_words,
                         STRATEGY_FILLS_READ, 0)
            work += m
        idle(idle_state, work, inputs)
        account_pass(row_words, idle_state, work, passes)
    return 0


class Agent(LoopAgent):
    """The strategy process: consumes quotes and its fills, produces intents."""

    def __init__(self, context):
        super().__init__(context)
        cfg = context.config["strategies"][0]["params"]
        n = context.config["feed"]["symbols"]
        self.params = np.array([cfg["window"], cfg["order_qty"], cfg["max_position"],
                                context.config["feed"]["start_px"]], dtype=np.int64)
        self.fparams = np.array([cfg["entry_z"]], dtype=np.float64)
        self.window = np.zeros((n, cfg["window"]), dtype=np.float64)
        self.filled = np.zeros(n, dtype=np.int64)
        self.cursor = np.zeros(n, dtype=np.int64)
        self.sums = np.zeros(n, dtype=np.float64)
        self.sumsq = np.zeros(n, dtype=np.float64)
        self.positions = strategy_positions(context.segment, 0, n)
        # The strategy's position and pending intents live in the segment (strat_pos) and
        # change with its batches: a restart resumes with them exactly. The rolling
        # windows are process memory and start empty (a few ticks to fill again).

    def loop(self, max_passes):
        c = self.context
        return strategy_loop(c.inputs, c.records["quotes"], c.records["fills_strategy"],
                             c.outputs["intents"], c.records["intents"], self.window, self.filled,
                             self.cursor, self.sums, self.sumsq, self.positions,
                             self.params, self.fparams, c.histograms, c.control_address,
                             c.row_words, c.idle_state, c.txn, max_passes)

