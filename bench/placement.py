"""`tickpipe bench placement`: where and how the four workers should wait on a host
with fewer cores than workers.

Runs the real pipeline (`tickpipe run`'s supervisor and workers) at each offered
rate (10k, 100k, 1M ticks/s and flat out), for each placement of the four workers on two cores A, B and each waiting
strategy, all in this one run, and reports tick-to-trade per combination:

- placements: one-core (all on B), pairs (feed, strategy on A; risk, gateway on
  B: one hop crosses), spread (A, B, A, B: every hop crosses);
- waits: block, yield, backoff (the default spin of 2000 idle passes), and
  backoff-short (a spin of 100 passes, then yield 10, then sleep).

On this kind of host a cross-CPU futex wake is a VM exit and a same-core wake a
context switch, so which wins is a measurement, not a guess: the figures in
bench/RESULTS.md chose the automatic placement (engine/placement.py).
"""

import os
import signal

from tickpipe.bench.stats import machine_info
from tickpipe.engine.config import load_config
from tickpipe.engine.supervisor import EngineError, run_engine

RATES = (("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000), ("max", 0))
PLACEMENTS = ("one-core", "pairs", "spread")
# name -> (wait strategy, backoff_spin, backoff_yield)
WAITS = {"block": ("block", 0, 0), "yield": ("yield", 0, 0),
         "backoff": ("backoff", 2000, 50), "backoff-short": ("backoff", 100, 10)}
# --smoke (tests): one rate and one wait, every placement, each run for a fraction of a
# second; every row, field and the choice of the best; the figures mean nothing.
# (--quick: the same combinations for 1 s each.)
SMOKE_RATES = RATES[1:2]
SMOKE_WAITS = ("block",)
SMOKE_SECONDS = 0.3


def placement_cores(name: str, a: int, b: int) -> list[int]:
    """Cores for feed, strategy, risk, gateway under placement `name` on cores a, b."""
    return {"one-core": [b, b, b, b], "pairs": [a, a, b, b], "spread": [a, b, a, b]}[name]


def _row(rate_label, rate, placement, wait_name, cores, seconds):
    wait, spin, yields = WAITS[wait_name]
    overrides = {"engine": {"rate": rate, "seconds": seconds, "cores": cores, "wait": wait,
                            "name": f"bench-{os.getpid()}-place", "backoff_spin": spin or 2000,
                            "backoff_yield": yields or 50}}
    try:
        report = run_engine(load_config(overrides=overrides), say=lambda line: None)
    except EngineError as exc:
        _stop_if_signalled(exc.stopped_by)
        return {"rate": rate_label, "placement": placement, "wait": wait_name,
                "skipped": str(exc)}
    _stop_if_signalled(report["stopped_by"])
    t2t = report["tick_to_trade_ns"]
    return {"rate": rate_label, "offered_rate": rate, "placement": placement, "wait": wait_name,
            "achieved_rate": round(report["ticks"] / report["seconds"]), "lost": report["lost"],
            "p50_ns": t2t["p50"], "p99_ns": t2t["p99"], "p999_ns": t2t["p999"],
            "samples": t2t["count"]}


def _stop_if_signalled(stopped_by):
    if stopped_by == "SIGINT":
        raise KeyboardInterrupt
    if stopped_by == "SIGTERM":
        raise SystemExit(128 + signal.SIGTERM)


def run_placement(cores: tuple[int, int], seconds: float = 2.0, *, rates=RATES,
                  placements=PLACEMENTS, waits=tuple(WAITS), progress=lambda message: None) -> dict:
    rows = []
    for rate_label, rate in rates:
        for placement in placements:
            for wait_name in waits:
                progress(f"{rate_label} ticks/s, {placement}, {wait_name}")
                rows.append(_row(rate_label, rate, placement, wait_name,
                                 placement_cores(placement, *cores), seconds))
    return {"results": rows, "best": best_by_rate(rows), "machine": machine_info(list(cores))}


def best_by_rate(rows) -> dict:
    """Per offered rate, the combination with the lowest p99 among those that lost
    nothing and kept up with the offered rate (within 5 %); flat out (rate 0), the
    one that moved the most ticks."""
    best = {}
    for row in rows:
        if "skipped" in row or row["lost"] or not row["samples"] \
                or row["achieved_rate"] < 0.95 * row["offered_rate"]:
            continue
        current = best.get(row["rate"])
        if row["offered_rate"] == 0:
            better = current is None or row["achieved_rate"] > current["achieved_rate"]
        else:
            better = current is None or row["p99_ns"] < current["p99_ns"]
        if better:
            best[row["rate"]] = row
    return {rate: f"{row['placement']}/{row['wait']}" for rate, row in best.items()}


def format_placement_table(rows) -> str:
    lines = [f"{'rate':<5} {'placement':<9} {'wait':<14} {'achieved/s':>11} {'lost':>5} "
             f"{'p50 ns':>9} {'p99 ns':>10} {'p99.9 ns':>11}"]
    for row in rows:
        head = f"{row['rate']:<5} {row['placement']:<9} {row['wait']:<14}"
        if "skipped" in row:
            lines.append(f"{head} skipped: {row['skipped']}")
            continue
        lines.append(f"{head} {row['achieved_rate']:>11,} {row['lost']:>5} {row['p50_ns']:>9,} "
                     f"{row['p99_ns']:>10,} {row['p999_ns']:>11,}")
    return "\n".join(lines)
