"""`tickpipe bench pipeline`: tick-to-trade through the four real workers, at offered rates.

Rows per offered rate (10 k, 100 k, 1 M ticks/s and flat out):
- tickpipe-<rate>: `tickpipe run`'s own supervisor and workers (in this process's
  engine code path), its final report's tick-to-trade histogram and `lost`;
- mp.Queue-pipeline-<rate>: the same four stages and logic over multiprocessing
  queues (bench/mp_pipeline.py), per-order samples.
Both under the same placement (engine/placement.py) and the same config.
"""

import os
import signal

import numpy as np

from tickpipe.bench.mp_pipeline import run_mp_pipeline
from tickpipe.bench.stats import latency_row, machine_info, skipped_row
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.engine.placement import place_workers
from tickpipe.engine.supervisor import EngineError, run_engine

RATES = (("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000), ("max", 0))
# --smoke (tests): one rate, each pipeline for a fraction of a second: enough for orders
# to reach the gateway, so every row has every field; the figures mean nothing.
# (--quick: the same rate for 1 s.)
SMOKE_RATES = RATES[1:2]
SMOKE_SECONDS = 0.3


def engine_report(overrides: dict) -> dict:
    """One engine run of the default config with `overrides`; its final report. A
    Ctrl-C or SIGTERM that stopped it stops the bench too."""
    try:
        report = run_engine(load_config(overrides=overrides))
    except EngineError as exc:
        _stop_if_signalled(exc.stopped_by)
        raise
    _stop_if_signalled(report["stopped_by"])
    return report


def _tickpipe_row(label, rate, seconds, cores, wait):
    overrides = {"engine": {"rate": rate, "seconds": seconds, "name": f"bench-{os.getpid()}-pipe",
                            "cores": list(cores or []), "wait": wait}}
    report = engine_report(overrides)
    t2t = report["tick_to_trade_ns"]
    row = {"name": f"tickpipe-{label}", "offered_rate": rate,
           "achieved_rate": round(report["ticks"] / report["seconds"]),
           "lost": report["lost"], "orders": report["orders_sent"]}
    if t2t["count"]:
        row.update({"p50_ns": t2t["p50"], "p90_ns": t2t["p90"], "p99_ns": t2t["p99"],
                    "p999_ns": t2t["p999"], "max_ns": t2t["max"], "samples": t2t["count"]})
    return row, report


def _stop_if_signalled(stopped_by):
    """The engine took SIGINT/SIGTERM for its own stop; the rest of the bench stops too."""
    if stopped_by == "SIGINT":
        raise KeyboardInterrupt
    if stopped_by == "SIGTERM":
        raise SystemExit(128 + signal.SIGTERM)


def _mp_row(label, rate, seconds, placement):
    result = run_mp_pipeline(load_config(), placement.cores, rate, seconds)
    samples = result["tick_to_trade_ns"]
    name = f"mp.Queue-pipeline-{label}"
    if samples.size == 0:
        return skipped_row(name, "no order reached the gateway")
    row = latency_row(name, samples)
    row.update({"offered_rate": rate, "achieved_rate": round(result["ticks"] / result["seconds"]),
                "lost": 0, "orders": int(samples.size)})
    return row


def run_pipeline(cores=None, seconds: float = 3.0, *, rates=RATES, wait: str = "auto",
                 peers: bool = True, progress=lambda message: None) -> dict:
    # Without --cores each rate gets the engine's own automatic placement, which on a
    # host with fewer cores than workers depends on the offered rate.
    rows, memory, placements = [], None, {}
    for label, rate in rates:
        placement = place_workers(PIPELINE, list(cores) if cores else None, wait, rate)
        placements[label] = placement
        progress(f"tickpipe pipeline at {label} ticks/s for {seconds:g} s")
        row, report = _tickpipe_row(label, rate, seconds, cores, wait)
        memory = report["memory"]
        rows.append(row)
        if peers:
            progress(f"mp.Queue pipeline at {label} ticks/s for {seconds:g} s")
            rows.append(_mp_row(label, rate, seconds, placement))
    used = sorted({core for chosen in placements.values() for core in chosen.cores.values()})
    machine = machine_info(used, wait="; ".join(
        f"{label}: " + ", ".join(f"{r}:{w}" for r, w in chosen.waits.items())
        for label, chosen in placements.items()), page_size=memory["page_size"] if memory else None)
    machine["placement"] = {label: chosen.summary() for label, chosen in placements.items()}
    return {"results": rows, "machine": machine}


def format_pipeline_table(rows) -> str:
    lines = [f"{'name':<26} {'offered/s':>10} {'achieved/s':>11} {'lost':>5} {'p50 ns':>10} "
             f"{'p99 ns':>11} {'p99.9 ns':>11} {'max ns':>12}"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"{row['name']:<26} skipped: {row['skipped']}")
            continue
        cells = " ".join(f"{row.get(k, 0) or 0:>{w},}" for k, w in
                         (("p50_ns", 10), ("p99_ns", 11), ("p999_ns", 11), ("max_ns", 12)))
        offered = f"{row['offered_rate']:,}" if row["offered_rate"] else "max"
        lines.append(f"{row['name']:<26} {offered:>10} {row['achieved_rate']:>11,} "
                     f"{row['lost']:>5} {cells}")
    return "\n".join(lines)


def ratio_at(rows, label, key="p50_ns"):
    """mp.Queue-pipeline / tickpipe for one percentile at one offered rate (None if missing)."""
    ours = next((r for r in rows if r["name"] == f"tickpipe-{label}" and key in r), None)
    theirs = next((r for r in rows if r["name"] == f"mp.Queue-pipeline-{label}" and key in r), None)
    if not ours or not theirs or not ours[key]:
        return None
    return float(np.round(theirs[key] / ours[key], 1))
