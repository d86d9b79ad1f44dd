"""`tickpipe bench risk`: nanoseconds per pre-trade check, all checks on, per order.

Measured in the risk worker's own jitted loop (workers/risk/agent.py) over a real
segment: the intents ring is filled with orders that pass every check (so every
check runs to the end), the book holds a market for every symbol, and the loop
reads, checks, writes the order and records its histogram, batch by batch.
Beside it, `risk-checks-only`: check_order alone in a jitted loop.
"""

import os
import time

import numpy as np
from numba import njit

from tickpipe.engine.config import MAX_PRICE, MONEY_BOUND, load_config, notional_limits
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.ring import H_POSITION, RingProducer
from tickpipe.engine.segment import create_segment, unlink_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC
from tickpipe.shm_layouts.control_block import REJECT_NAMES
from tickpipe.shm_layouts.worker_table import RISK_ORDERS_SENT, RISK_REJECT_BASE, W_COUNTERS
from tickpipe.engine.batch import BATCH
from tickpipe.engine.book import book_write
from tickpipe.workers.risk.agent import Agent as RiskAgent
from tickpipe.workers.risk.checks import NO_REJECT, check_order

ORDERS_PER_RUN = 50_000
CHECKS_PER_RUN = 1_000_000
# --smoke (tests): one measured run (after the unmeasured one) of a few batches of
# orders, and check_order alone a few thousand times; the figures mean nothing.
SMOKE_RUNS = 1
SMOKE_ORDERS = 1_000
SMOKE_CHECKS = 10_000


@njit(cache=True)
def checks_only(n, send_times, mids, max_qty, max_notional, band_bps, max_position):
    """check_order on n varying orders; returns how many passed (all should)."""
    passed = 0
    for i in range(n):
        side = 1 if i & 1 else -1
        mid = mids[i % mids.shape[0]]
        now = i * 1000
        if check_order(1, side, 10, mid + side * 100, mid, 0, i, i, now, send_times, i, max_qty,
                       max_notional, band_bps, max_position, 1) == NO_REJECT:
            send_times[i % send_times.shape[0]] = now
            passed += 1
    return passed


def _config():
    return load_config(overrides={
        "engine": {"name": f"bench-{os.getpid()}-risk", "wait": "spin"},
        # every check on, with limits these orders stay inside (so every check runs to
        # its end): P&L and exposure marked to the book once per batch, duplicates
        # looked up per order
        "risk": {"max_orders_per_s": 1_000_000, "max_position": MONEY_BOUND // MAX_PRICE,
                 "max_open_orders": 1_000_000, "max_gross_exposure": 1e12,
                 "max_daily_loss": 1e12, "max_drawdown": 1e12, "duplicate_window_ms": 1000.0,
                 "fee_bps": 0.5}})


def _fill_intents(context, count, mids, tick):
    block = np.zeros(count, dtype=context.records["intents"].dtype)
    block["symbol_id"] = np.arange(count) % len(mids)
    block["side"] = np.where(np.arange(count) & 1, 1, -1)
    block["order_type"] = ORDER_TYPE_IOC
    block["qty"] = 10
    # a price on the tick grid that moves each time the symbol comes round: never a duplicate
    block["limit_px"] = mids[block["symbol_id"]] + block["side"] * tick * (
        1 + (np.arange(count) // len(mids)) % 64)
    block["origin_ns"] = block["publish_ns"] = time.monotonic_ns()
    pushed = RingProducer(context.segment, "intents", block.dtype).try_push(block)
    if pushed != count:
        raise RuntimeError(f"risk bench: intents ring took {pushed} of {count} intents")


def risk_ns_per_order(runs: int = 7, orders: int = ORDERS_PER_RUN,
                      checks: int = CHECKS_PER_RUN) -> dict:
    """Median ns per order through the risk loop (`orders` a run), and through
    check_order alone (`checks` a run)."""
    config = _config()
    name = config["engine"]["name"]
    unlink_segment(name)
    placement = place_workers(PIPELINE, None, "spin")
    per_order = []
    segment = create_segment(name, section_specs(config), use_hugetlbfs=False)
    try:
        initialise(segment, config, placement)
        segment.mark_ready()
        context = build_context(segment, "risk", config)
        n_symbols = config["feed"]["symbols"]
        mids = np.full(n_symbols, config["feed"]["start_px"], dtype=np.int64)
        for symbol in range(n_symbols):
            book_write(context.book, context.book.ctypes.data, symbol, mids[symbol] - 100,
                       mids[symbol] + 100, 500, 500, 0, 1)
        agent = RiskAgent(context)
        agent.warm_up()
        passes = (orders + BATCH - 1) // BATCH
        for _ in range(runs + 1):  # the first run warms caches and branch predictors
            context.symbols[:] = 0
            agent.strategy_rows[:] = 0
            _fill_intents(context, orders, mids, config["feed"]["tick_size"])
            start = time.perf_counter_ns()
            agent.loop(passes)  # the runner over risk's kernels, with the agent's wiring
            per_order.append((time.perf_counter_ns() - start) / orders)
            _drain_orders(context)
        sent = int(context.row_words[W_COUNTERS + RISK_ORDERS_SENT])
        rejects = int(context.row_words[W_COUNTERS + RISK_REJECT_BASE:
                                        W_COUNTERS + RISK_REJECT_BASE + len(REJECT_NAMES)].sum())
    finally:
        segment.close()
        unlink_segment(name)
    checks_ns = _checks_only_ns(config, mids, checks)
    return {"loop_ns": float(np.median(per_order[1:])), "checks_ns": checks_ns,
            "orders_sent": sent, "rejected": rejects}


def _drain_orders(context):
    from tickpipe.engine.ring import consumer_handle, consumer_release
    handle = consumer_handle(context.segment, "orders")
    head = int(context.outputs["orders"][H_POSITION])
    consumer_release(handle, head - int(handle[H_POSITION]))


def _checks_only_ns(config, mids, n=CHECKS_PER_RUN):
    risk = config["risk"]
    send_times = np.zeros(risk["max_orders_per_s"], dtype=np.int64)
    args = (send_times, mids, risk["max_order_qty"], int(notional_limits(config)[0]),
            risk["price_band_bps"],
            risk["max_position"])
    checks_only(1000, *args)
    best = None
    for _ in range(5):
        send_times[:] = 0
        start = time.perf_counter_ns()
        passed = checks_only(n, *args)
        elapsed = (time.perf_counter_ns() - start) / n
        assert passed == n, f"only {passed} of {n} orders passed the checks"
        best = elapsed if best is None else min(best, elapsed)
    return best


def run_risk_bench(runs: int = 7, *, orders: int = ORDERS_PER_RUN,
                   checks: int = CHECKS_PER_RUN) -> dict:
    from tickpipe.bench.stats import machine_info

    figures = risk_ns_per_order(runs, orders, checks)
    rows = [{"name": "tickpipe-risk-loop", "ns_per_order": round(figures["loop_ns"], 1),
             "orders_sent": figures["orders_sent"], "rejected": figures["rejected"]},
            {"name": "risk-checks-only", "ns_per_order": round(figures["checks_ns"], 1)}]
    return {"results": rows, "machine": machine_info([os.sched_getaffinity(0).pop()])}
