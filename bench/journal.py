"""`tickpipe bench journal`: what the journal costs the engine, journal on vs off in turns
in one run (the VM's fast and slow states fall on both alike).

Per round, four runs of the default engine: at 100 k ticks/s without and with a
journal (tick-to-trade p50 from each run's histogram), and flat out without and with
one (ticks/s: the feed's committed ticks over the run's seconds). The journal's
write rate is the bytes it wrote over the flat-out run's seconds. Each run's journal
goes to a temporary folder, removed after the run (flat out writes a GB or more).
Targets (issue #20): p50 within 10 %, flat-out ticks/s within 20 %.
"""

import os
import shutil
import statistics
import tempfile

from tickpipe.bench.ring_runs import BenchError

RATE = 100_000
SMOKE_SECONDS = 0.3


def _run(rate: int, seconds: float, journal_dir: str | None) -> dict:
    from tickpipe.bench.pipeline import engine_report
    overrides = {"engine": {"rate": rate, "seconds": seconds,
                            "name": f"bench-{os.getpid()}-journal"}}
    if journal_dir:
        overrides["journal"] = {"dir": journal_dir}
    report = engine_report(overrides)
    if report["state"] != "stopped":
        raise BenchError(f"bench journal: a run ended {report['state']}: "
                         f"{'; '.join(report['failures'])}")
    row = {"ticks_per_s": round(report["ticks"] / report["seconds"]), "lost": report["lost"],
           "p50_ns": report["tick_to_trade_ns"]["p50"]}
    if journal_dir:
        row["journal_bytes"] = report["journal"]["bytes"]
        row["journal_complete"] = report["journal"]["complete"]
        row["mb_per_s"] = round(report["journal"]["bytes"] / report["seconds"] / 1e6, 1)
    return row


def run_journal_bench(seconds: float = 3.0, rounds: int = 3, smoke: bool = False,
                      progress=lambda message: None) -> dict:
    from tickpipe.bench.stats import machine_info
    if smoke:
        seconds, rounds = SMOKE_SECONDS, 1
    runs = {name: [] for name in ("off-100k", "on-100k", "off-max", "on-max")}
    for round_ in range(rounds):
        for name in runs:
            progress(f"round {round_ + 1}/{rounds}: {name}")
            directory = tempfile.mkdtemp(prefix="tickpipe-bench-journal-") \
                if name.startswith("on") else None
            try:
                runs[name].append(_run(RATE if name.endswith("100k") else 0, seconds, directory))
            finally:
                if directory:
                    shutil.rmtree(directory, ignore_errors=True)
    rows = []
    for name, samples in runs.items():
        row = {"name": name, "runs": len(samples),
               "p50_ns": statistics.median(s["p50_ns"] for s in samples),
               "ticks_per_s": statistics.median(s["ticks_per_s"] for s in samples),
               "lost": sum(s["lost"] for s in samples)}
        if name.startswith("on"):
            row["mb_per_s"] = statistics.median(s["mb_per_s"] for s in samples)
            row["complete"] = all(s["journal_complete"] for s in samples)
        rows.append(row)
    by = {row["name"]: row for row in rows}
    ratios = {
        "p50_on_over_off_at_100k": _ratio(by["on-100k"]["p50_ns"], by["off-100k"]["p50_ns"]),
        "ticks_per_s_on_over_off_flat_out": _ratio(by["on-max"]["ticks_per_s"],
                                                   by["off-max"]["ticks_per_s"]),
    }
    return {"bench": "journal", "machine": machine_info(sorted(os.sched_getaffinity(0))),
            "seconds": seconds,
            "rounds": rounds, "rows": rows, "ratios": ratios}


def _ratio(a, b):
    return round(a / b, 3) if b else None


def format_journal_table(report: dict) -> str:
    lines = [f"  {'run':<10}{'p50 t2t ns':>14}{'ticks/s':>14}{'lost':>6}{'journal MB/s':>14}"]
    for row in report["rows"]:
        mb = f"{row['mb_per_s']:,.1f}" if "mb_per_s" in row else "-"
        lines.append(f"  {row['name']:<10}{row['p50_ns']:>14,.0f}{row['ticks_per_s']:>14,.0f}"
                     f"{row['lost']:>6}{mb:>14}")
    ratios = report["ratios"]
    lines.append(f"  journal on / off: tick-to-trade p50 at 100 k ticks/s "
                 f"{ratios['p50_on_over_off_at_100k']}x (target <= 1.10); flat-out ticks/s "
                 f"{ratios['ticks_per_s_on_over_off_flat_out']}x (target >= 0.80)")
    return "\n".join(lines)
