"""`mp.Queue-pipeline`: the four stages as a Python shop would write them.

Same processes, same pinning, same per-record logic as tickpipe's workers (the
strategy's window and z-score, risk's check_order and the positions, the
gateway's IOC fill), called per message; connected by bounded
multiprocessing.Queues (capacity = tickpipe's ring capacity, so a full queue
pushes back like a full ring) carrying tuples. The gateway records tick-to-trade
as tickpipe's does: feed origin stamp to the order's arrival at the venue.
"""

import multiprocessing as mp
import os
import queue
import time

import numpy as np

from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE

STOP = None
QUEUE_CAPACITY = 1 << 16
TICKS_PER_CHECK = 64


def _pin(core):
    os.sched_setaffinity(0, {core})


def feed_stage(out_q, core, rate, seconds, config, result_q):
    _pin(core)
    feed = config["feed"]
    rng = np.random.default_rng(feed["seed"])
    n, tick, half = feed["symbols"], feed["tick_size"], feed["spread_ticks"] * feed["tick_size"]
    mids = np.full(n, feed["start_px"], dtype=np.int64)
    start = time.monotonic_ns()
    sent = 0
    end = start + int(seconds * 1e9)
    while True:
        now = time.monotonic_ns()
        if now >= end:
            break
        due = TICKS_PER_CHECK if rate == 0 else min((now - start) * rate // 1_000_000_000 - sent,
                                                     TICKS_PER_CHECK)
        if due <= 0:
            time.sleep(max(0.0, (start + (sent + 1) * 1e9 / rate - now) / 1e9))
            continue
        symbols = rng.integers(0, n, due)
        steps = rng.integers(-1, 2, due)
        for symbol, step in zip(symbols.tolist(), steps.tolist()):
            mids[symbol] = max(mids[symbol] + step * tick, half + tick)
            mid = int(mids[symbol])
            sent += 1
            out_q.put((sent, now, symbol, mid - half, mid + half))
    out_q.put(STOP)
    result_q.put(("feed", {"ticks": sent, "seconds": (time.monotonic_ns() - start) / 1e9}))


def strategy_stage(in_q, fills_q, out_q, core, config, result_q):
    from tickpipe.bench.strategy_inline import signal_side, update_window

    _pin(core)
    cfg, n = config["strategies"][0]["params"], config["feed"]["symbols"]
    size, start_px = cfg["window"], config["feed"]["start_px"]
    window = np.zeros((n, size))
    filled, cursor = np.zeros(n, np.int64), np.zeros(n, np.int64)
    sums, sumsq = np.zeros(n), np.zeros(n)
    position = np.zeros(n, np.int64)
    pending = np.zeros(n, np.int64)
    intents = 0
    while True:
        tick = in_q.get()
        while True:  # fills first, without blocking
            try:
                report = fills_q.get_nowait()
            except queue.Empty:
                break
            position[report[0]] += report[1]
            pending[report[0]] = 0
        if tick is STOP:
            break
        seq, origin, symbol, bid, ask = tick
        mid = (bid + ask) // 2
        value = float(mid - start_px)
        if update_window(window, filled, cursor, sums, sumsq, symbol, value) < size:
            continue
        if pending[symbol] and time.monotonic_ns() - pending[symbol] < 1_000_000:
            continue
        side = signal_side(value, sums[symbol], sumsq[symbol], size, cfg["entry_z"],
                           position[symbol], cfg["max_position"])
        if side:
            out_q.put((origin, symbol, side, cfg["order_qty"], ask if side > 0 else bid))
            pending[symbol] = time.monotonic_ns()
            intents += 1
    out_q.put(STOP)
    result_q.put(("strategy", {"intents": intents}))


def risk_stage(in_q, fills_q, out_q, core, config, result_q):
    from tickpipe.engine.commit import scratch_txn, txn_commit
    from tickpipe.engine.config import notional_limits
    from tickpipe.workers.positions import apply_fill
    from tickpipe.workers.risk.checks import NO_REJECT, check_order

    _pin(core)
    cfg = config["risk"]
    max_notional = int(notional_limits(config)[0])  # the synthetic symbols are alike
    stats = np.zeros(config["feed"]["symbols"], dtype=SYMBOL_STATS_DTYPE)
    send_times = np.zeros(cfg["max_orders_per_s"], dtype=np.int64)
    txn = scratch_txn()  # the same kernel as the risk worker; nothing to recover here
    sent = rejected = 0
    while True:
        intent = in_q.get()
        while True:
            try:
                symbol, signed_qty, price = fills_q.get_nowait()
            except queue.Empty:
                break
            side = 1 if signed_qty > 0 else -1
            apply_fill(stats, symbol, side, abs(signed_qty), price, txn)
            txn_commit(txn)
            field = "open_buy_qty" if side > 0 else "open_sell_qty"
            stats[symbol][field] -= abs(signed_qty)
        if intent is STOP:
            break
        origin, symbol, side, qty, limit = intent
        row = stats[symbol]
        reason = check_order(1, side, qty, limit, limit, int(row["position"]),
                             int(row["open_buy_qty"]), int(row["open_sell_qty"]),
                             time.monotonic_ns(), send_times, sent, cfg["max_order_qty"],
                             max_notional, cfg["price_band_bps"], cfg["max_position"], 1)
        if reason != NO_REJECT:
            rejected += 1
            continue
        row["open_buy_qty" if side > 0 else "open_sell_qty"] += qty
        send_times[sent % len(send_times)] = time.monotonic_ns()
        sent += 1
        out_q.put((origin, symbol, side, qty, limit))
    out_q.put(STOP)
    result_q.put(("risk", {"orders_sent": sent, "rejected": rejected}))


def gateway_stage(in_q, risk_fills_q, strategy_fills_q, core, result_q):
    _pin(core)
    samples = []
    while True:
        order = in_q.get()
        if order is STOP:
            break
        origin, symbol, side, qty, limit = order
        samples.append(time.monotonic_ns() - origin)  # handed to the venue
        risk_fills_q.put((symbol, side * qty, limit))  # the IOC fills at its limit
        strategy_fills_q.put((symbol, side * qty))
    result_q.put(("gateway", {"tick_to_trade_ns": np.array(samples, dtype=np.int64)}))


def run_mp_pipeline(config: dict, cores: dict, rate: int, seconds: float) -> dict:
    """Run the four stages for `seconds` at `rate` ticks/s (0 = flat out); returns their results."""
    ctx = mp.get_context("spawn")
    q = {name: ctx.Queue(QUEUE_CAPACITY) for name in ("quotes", "intents", "orders")}
    # Fills are unbounded: a stage blocked on its output must still be able to
    # receive its fills later, or the four stages could wait on each other forever.
    q.update({name: ctx.Queue() for name in ("fills_risk", "fills_strategy")})
    results = ctx.Queue()
    stages = [
        ctx.Process(target=gateway_stage, args=(q["orders"], q["fills_risk"], q["fills_strategy"],
                                                cores["gateway"], results)),
        ctx.Process(target=risk_stage, args=(q["intents"], q["fills_risk"], q["orders"],
                                             cores["risk"], config, results)),
        ctx.Process(target=strategy_stage, args=(q["quotes"], q["fills_strategy"], q["intents"],
                                                 cores["strategy"], config, results)),
        ctx.Process(target=feed_stage, args=(q["quotes"], cores["feed"], rate, seconds, config,
                                             results)),
    ]
    for stage in stages:
        stage.start()
    merged = {}
    try:
        deadline = time.monotonic() + seconds + 300
        for _ in PIPELINE:
            while True:  # a stage that died sends nothing: say so instead of waiting on
                try:
                    role, values = results.get(timeout=1.0)
                    break
                except queue.Empty:
                    dead = [s.name for s in stages if s.exitcode not in (None, 0)]
                    if dead or time.monotonic() > deadline:
                        raise RuntimeError(f"mp.Queue pipeline: stage(s) {dead} failed "
                                           f"or it took over {seconds + 300:g} s") from None
            merged.update(values)
    finally:
        for stage in stages:
            stage.join(timeout=10)
            if stage.is_alive():
                stage.kill()
    return merged
