"""`tickpipe bench mm`: the market maker's tick-to-quote-update beside an IOC strategy's
tick-to-trade, in the same engine runs.

One engine: the built-in Avellaneda-Stoikov market maker on every symbol and the
built-in mean reversion (IOC) on two of them, through the four real workers and the
simulated venue, at one offered rate, `rounds` times. Per strategy, from its own
histogram (the feed's due time of the tick that caused a request to the moment the
venue takes it): for the market maker its new orders and replaces (a quote moved ->
its quotes moved), for mean reversion its IOC orders. The medians over rounds of the
p50 and p99, the requests and fills per second, and what risk denied.
"""

import os

import numpy as np

from tickpipe.bench.pipeline import engine_report
from tickpipe.bench.stats import machine_info

MM = "tickpipe.workers.strategies.avellaneda_stoikov"
IOC = "tickpipe.workers.strategies.mean_reversion"
# --smoke (tests): one engine run of a fraction of a second (both strategies send and
# their histograms fill); the figures mean nothing. (--quick: one run of 1 s.)
SMOKE_SECONDS = 0.3
SMOKE_ROUNDS = 1


def _run(rate: int, seconds: float) -> dict:
    overrides = {
        "engine": {"rate": rate, "seconds": seconds, "name": f"bench-{os.getpid()}-mm"},
        "risk": {"max_orders_per_s": 1_000_000, "fee_bps": 0.5},
        "strategy": [{"name": "mm", "module": MM},
                     {"name": "ioc", "module": IOC, "symbols": ["SYM0", "SYM1"]}],
    }
    report = engine_report(overrides)
    if report["state"] != "stopped" or report["lost"]:
        raise RuntimeError(f"bench mm: the engine ended {report['state']}, lost "
                           f"{report['lost']}: {report['notes']}")
    out = {"seconds": report["seconds"], "rejected": sum(report["rejected"].values()),
           "orders_per_s": report["orders_sent"] / report["seconds"]}
    for name in ("mm", "ioc"):
        t2t = report["strategies"][name]["tick_to_trade_ns"]
        out[name] = {"p50_ns": t2t["p50"], "p99_ns": t2t["p99"], "count": t2t["count"]}
    return out


def run_mm_bench(rate: int = 20_000, seconds: float = 5.0, rounds: int = 3,
                 progress=lambda message: None) -> dict:
    runs = []
    for r in range(rounds):
        progress(f"round {r + 1} of {rounds}")
        runs.append(_run(rate, seconds))
    rows = []
    for name, label in (("mm", "mm tick-to-quote-update"), ("ioc", "ioc tick-to-trade")):
        rows.append({"name": label,
                     "p50_ns": float(np.median([run[name]["p50_ns"] for run in runs])),
                     "p99_ns": float(np.median([run[name]["p99_ns"] for run in runs])),
                     "requests_per_s": round(float(np.median(
                         [run[name]["count"] / run["seconds"] for run in runs])), 1)})
    return {"rate": rate, "seconds": seconds, "rounds": rounds, "results": rows,
            "orders_per_s": round(float(np.median([run["orders_per_s"] for run in runs])), 1),
            "rejected": [run["rejected"] for run in runs],
            "machine": machine_info(sorted(os.sched_getaffinity(0)))}


def format_mm_table(report: dict) -> str:
    lines = [f"at {report['rate']:,} ticks/s, {report['rounds']} x {report['seconds']} s "
             f"(medians); orders/s {report['orders_per_s']:,}",
             f"{'name':<26} {'p50 us':>9} {'p99 us':>9} {'per s':>10}"]
    for row in report["results"]:
        lines.append(f"{row['name']:<26} {row['p50_ns'] / 1000:>9.1f} {row['p99_ns'] / 1000:>9.1f} "
                     f"{row['requests_per_s']:>10,}")
    return "\n".join(lines)
