"""`tickpipe bench backtest`: events/s of `tickpipe backtest` beside hftbacktest (its PyPI
package, a bench peer: `pip install hftbacktest`) on the same .npz data, each running the
same quoting loop (one resting order a side at the touch, moved when the touch moves:
bench/quoter.py and `_hbt_quoter` below), in turns in one run.

The data: an hftbacktest event file (its 64-byte event_dtype) of a random walk a tick
at a time: a move deletes the old top's levels and sets the new ones, otherwise one
side's size changes; every 10th event a trade at the touch. Events/s is the file's
events over each run's wall time, excluding compile (both warm: a first run is made and
thrown away) and excluding tickpipe's one-off conversion of the file into its tape
(cached by path and mtime: reported apart).
"""

import os
import tempfile
import time

import numpy as np

from tickpipe.bench.stats import machine_info
from tickpipe.engine.backtest import Backtest
from tickpipe.engine.config import load_config
from tickpipe.workers.feed.sources.hftbacktest_npz import (
    BUY_EVENT, DEPTH_EVENT, EXCH_EVENT, LOCAL_EVENT, SELL_EVENT, TRADE_EVENT,
)

TICK = 0.01
# hftbacktest's event_dtype (its documented 64-byte layout; made here, so that the sweep's
# half of the bench needs no peer)
EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"),
                        ("qty", "f8"), ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")],
                       align=True)
QUOTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quoter.py")


class PeerMissing(Exception):
    pass


def make_events(n: int, seed: int = 11) -> np.ndarray:
    """n hftbacktest events of one instrument (see the module's docstring)."""
    both = EXCH_EVENT | LOCAL_EVENT
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=EVENT_DTYPE)
    bid = 10_000  # ticks
    i, t = 0, 1_700_000_000_000_000_000
    sizes = rng.integers(1, 50, size=n)
    moves = rng.integers(-1, 2, size=n)
    while i < n:
        t += 100_000
        row = i
        if i % 10 == 9:
            out[i] = (both | TRADE_EVENT | (BUY_EVENT if moves[i] > 0 else SELL_EVENT), t, t,
                      (bid + 1 if moves[i] > 0 else bid) * TICK, 1.0, 0, 0, 0.0)
            i += 1
        elif moves[i] != 0 and i + 4 <= n:
            new = bid + int(moves[i])
            out[i] = (both | DEPTH_EVENT | BUY_EVENT, t, t, bid * TICK, 0.0, 0, 0, 0.0)
            out[i + 1] = (both | DEPTH_EVENT | SELL_EVENT, t, t, (bid + 1) * TICK, 0.0, 0, 0, 0.0)
            out[i + 2] = (both | DEPTH_EVENT | BUY_EVENT, t, t, new * TICK, float(sizes[i]),
                          0, 0, 0.0)
            out[i + 3] = (both | DEPTH_EVENT | SELL_EVENT, t, t, (new + 1) * TICK,
                          float(sizes[i + 1]), 0, 0, 0.0)
            bid = new
            i += 4
        else:
            side = BUY_EVENT if moves[row] >= 0 else SELL_EVENT
            px = bid if side == BUY_EVENT else bid + 1
            out[i] = (both | DEPTH_EVENT | side, t, t, px * TICK, float(sizes[i]), 0, 0, 0.0)
            i += 1
    return out


def _hbt_quoter_factory():
    from numba import njit
    from hftbacktest.order import GTC, LIMIT

    @njit
    def side(hbt, orders, order_id, own_px, buy, px, next_id):
        """The side's (order id, price, next id) after this feed: placed, moved or kept
        (bench/quoter.py's _side, in hftbacktest's API)."""
        if order_id == 0 or order_id not in orders:
            next_id += 1
            if buy:
                hbt.submit_buy_order(0, next_id, px, 1.0, GTC, LIMIT, False)
            else:
                hbt.submit_sell_order(0, next_id, px, 1.0, GTC, LIMIT, False)
            return next_id, px, next_id
        if own_px != px and orders.get(order_id).cancellable:
            hbt.modify(0, order_id, px, 1.0, False)
            return order_id, px, next_id
        return order_id, own_px, next_id

    @njit
    def quoter(hbt):
        buy_id, sell_id, next_id = 0, 0, 0
        buy_px, sell_px = 0.0, 0.0
        feeds = 0
        while True:
            got = hbt.wait_next_feed(False, 1_000_000_000_000_000)
            if got == 1:
                break
            feeds += 1
            depth = hbt.depth(0)
            bid, ask = depth.best_bid, depth.best_ask
            if not (bid > 0 and ask > bid):
                continue
            orders = hbt.orders(0)
            buy_id, buy_px, next_id = side(hbt, orders, buy_id, buy_px, True, bid, next_id)
            sell_id, sell_px, next_id = side(hbt, orders, sell_id, sell_px, False, ask, next_id)
            hbt.clear_inactive_orders(0)
        return feeds

    return quoter


def run_hbt(events: np.ndarray, quoter) -> tuple[float, int]:
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    asset = (BacktestAsset().data([events]).linear_asset(1.0).constant_order_latency(0, 0)
             .risk_adverse_queue_model().no_partial_fill_exchange()
             .trading_value_fee_model(0.0, 0.0).tick_size(TICK).lot_size(1.0))
    hbt = HashMapMarketDepthBacktest([asset])
    started = time.perf_counter()
    feeds = quoter(hbt)
    took = time.perf_counter() - started
    hbt.close()
    return took, int(feeds)


def run_tickpipe(path: str) -> tuple[float, dict]:
    config = load_config(overrides={
        "feed": {"source": "file", "file": path, "instrument": "BENCH"},
        "strategy": [{"name": "quoter", "path": QUOTER}]})
    report = Backtest(config, bucket_s=3600.0, seconds=0.0).run()
    return report["timing"]["run_s"], report


def run_backtest_bench(events_n: int, rounds: int, progress=lambda step: None) -> dict:
    try:
        import hftbacktest  # noqa: F401
    except ImportError:
        raise PeerMissing("hftbacktest is not installed: pip install hftbacktest "
                          "(the bench's peer)") from None
    events = make_events(events_n)
    with tempfile.TemporaryDirectory(prefix="tickpipe-bt-bench-") as directory:
        path = os.path.join(directory, "bench.npz")
        np.savez(path, data=events)
        quoter = _hbt_quoter_factory()
        started = time.perf_counter()
        _, first = run_tickpipe(path)  # converts the file (timed here) and compiles
        convert_s = time.perf_counter() - started - first["timing"]["run_s"]
        run_hbt(events[:1000], quoter)  # compiles hftbacktest's loop
        ours, theirs, reports = [], [], []
        for r in range(rounds):
            took, report = run_tickpipe(path)
            ours.append(took)
            reports.append(report)
            took, feeds = run_hbt(events, quoter)
            theirs.append(took)
            progress(r + 1)
    ours_s, theirs_s = float(np.median(ours)), float(np.median(theirs))
    last = reports[-1]
    return {
        "events": events_n, "rounds": rounds,
        "tickpipe": {"events_per_s": round(events_n / ours_s), "run_s": [round(s, 3) for s in ours],
                     "tape_records": last["backtest"]["events"],
                     "orders_sent": last["orders_sent"], "fills": last["fills"],
                     "first_conversion_and_compile_s": round(convert_s, 2)},
        "hftbacktest": {"events_per_s": round(events_n / theirs_s),
                        "run_s": [round(s, 3) for s in theirs], "feeds": feeds},
        "ratio": round(theirs_s / ours_s, 2),
        "machine": machine_info(sorted(os.sched_getaffinity(0))),
    }


def format_backtest_table(report: dict) -> str:
    ours, theirs = report["tickpipe"], report["hftbacktest"]
    return "\n".join([
        f"{report['events']:,} hftbacktest events, the same quoting loop, median of "
        f"{report['rounds']} rounds in turns:",
        f"  tickpipe backtest  {ours['events_per_s']:>12,} events/s  ({ours['tape_records']:,} "
        f"tape records, {ours['orders_sent']:,} orders, {ours['fills']:,} fills)",
        f"  hftbacktest        {theirs['events_per_s']:>12,} events/s  ({theirs['feeds']:,} feeds)",
        f"  ratio (tickpipe / hftbacktest): {report['ratio']}x  (target >= 3x)",
    ])


def run_sweep_bench(events_n: int, progress=lambda step: None) -> dict:
    """8 combinations of the quoter's order_qty (1..8) on the bench's data: the sweep over
    the cores against the same 8 runs one after another, in one run (both warm)."""
    from tickpipe.engine.backtest_sweep import parse_grid, sweep
    events = make_events(events_n)
    with tempfile.TemporaryDirectory(prefix="tickpipe-sweep-bench-") as directory:
        path = os.path.join(directory, "bench.npz")
        np.savez(path, data=events)
        config = load_config(overrides={
            "feed": {"source": "file", "file": path, "instrument": "BENCH"},
            "strategy": [{"name": "quoter", "path": QUOTER}]})
        grid = parse_grid(config, ["order_qty=1,2,3,4,5,6,7,8"])
        run_tickpipe(path)  # the tape made and every loop compiled, before either is timed
        started = time.perf_counter()
        in_turn = sweep(config, grid, seconds=0.0, bucket_s=3600.0, jobs=1)
        sequential_s = time.perf_counter() - started
        progress(1)
        started = time.perf_counter()
        rows = sweep(config, grid, seconds=0.0, bucket_s=3600.0)
        sweep_s = time.perf_counter() - started
        progress(2)
    assert rows == in_turn, "a sweep's rows must equal the same runs in turn"
    return {"events": events_n, "combinations": len(grid), "jobs": min(len(grid), len(
        os.sched_getaffinity(0))), "sequential_s": round(sequential_s, 3),
            "sweep_s": round(sweep_s, 3), "speedup": round(sequential_s / sweep_s, 2),
            "machine": machine_info(sorted(os.sched_getaffinity(0)))}


def format_sweep_table(report: dict) -> str:
    return (f"sweep of {report['combinations']} combinations on {report['events']:,} events, "
            f"{report['jobs']} processes: {report['sweep_s']:.2f} s against "
            f"{report['sequential_s']:.2f} s in turn: {report['speedup']}x (target >= 1.8x)")
