"""`tickpipe bench fix-engine`: what trading over FIX costs the engine, beside the
built-in venue, same config, same run of the bench.

Two runs of `tickpipe run` in turn, each its own engine: the market maker on the
synthetic feed at --rate ticks/s, first with the built-in simulated venue ([venue]
kind = "sim": the gateway matches in its own loop), then over FIX ([venue] kind =
"fix", [fix_venue] sim = true: the gateway forwards to the fix_venue process, which
sends over a QuickFIX session to `tickpipe venue fix-sim` on loopback, matching with the
same kernels and following the engine's market). Reported for each: tick-to-trade
(feed -> the gateway handing the order on, p50/p99), the report's way back (gateway ->
strategy), orders and fills a second; for the FIX run also the venue process's own
figures, from the gateway's publish of a request: read (-> this process reading it),
send (-> QuickFIX having written it to the socket) and ack (-> the venue's answer on
venue_reports), p50/p99.
"""

import json
import os
import subprocess
import sys
import tempfile

from tickpipe.bench.stats import machine_info

STRATEGY = ('[[strategy]]\nname = "mm"\nmodule = "tickpipe.workers.strategies.avellaneda_stoikov"\n'
            'params = { gamma = 0.1, order_qty = 5, max_inventory = 50 }\n')


class BenchError(Exception):
    pass


def _config(rate: int, kind: str, wait: str) -> str:
    # inline_callbacks off: the second tier's compile (engine/inline_tier.py) would share
    # the machine with whichever run comes first after an install or an edit
    text = (f"[engine]\nrate = {rate}\nwait = \"{wait}\"\ninline_callbacks = false\n"
            f"[risk]\nmax_orders_per_s = 1000000\n"
            f'[venue]\nkind = "{kind}"\n')
    if kind == "fix":
        text += "[fix_venue]\nsim = true\n"
    return text + STRATEGY


def _run(folder: str, rate: int, seconds: float, kind: str, wait: str) -> dict:
    path = os.path.join(folder, f"{kind}.toml")
    with open(path, "w") as f:
        f.write(_config(rate, kind, wait))
    name = f"bench-fixeng-{kind}-{os.getpid()}"
    out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", path, "--json",
                          "--seconds", str(seconds), "--name", name],
                         capture_output=True, text=True, timeout=seconds + 900)
    if out.returncode != 0 or not out.stdout.strip():
        raise BenchError(f"the {kind} run failed: "
                         f"{(out.stderr.strip().splitlines() or ['no output'])[-1]}")
    report = json.loads(out.stdout)
    if report["state"] != "stopped":
        raise BenchError(f"the {kind} run ended {report['state']}: {report['notes'][:2]}")
    hops = report["hops_ns"]
    row = {"state": report["state"], "seconds": report["seconds"],
           "orders_per_s": round(report["orders_sent"] / report["seconds"]),
           "fills_per_s": round(report["fills"] / report["seconds"]),
           "tick_to_trade_p50_us": report["tick_to_trade_ns"]["p50"] / 1000,
           "tick_to_trade_p99_us": report["tick_to_trade_ns"]["p99"] / 1000,
           "gateway_to_strategy_p50_us": hops["gateway_to_strategy"]["p50"] / 1000,
           "gateway_to_strategy_p99_us": hops["gateway_to_strategy"]["p99"] / 1000}
    if kind == "fix":
        session = report["fix_venue"]
        row.update({key: session[f"{key[:-3]}_ns"] / 1000 for key in
                    ("read_p50_us", "read_p99_us", "send_p50_us", "send_p99_us",
                     "ack_p50_us", "ack_p99_us")})
        row["venue_reports_dropped"] = next(
            w["counters"]["venue_reports_dropped"] for w in report["workers"]
            if w["role"] == "gateway")
    return row


def run_fix_engine_bench(seconds: float, rate: int, wait: str = "auto",
                         progress=lambda step: None) -> dict:
    with tempfile.TemporaryDirectory(prefix="tickpipe-bench-fixeng-") as folder:
        sim = _run(folder, rate, seconds, "sim", wait)
        progress(1)
        over_fix = _run(folder, rate, seconds, "fix", wait)
        progress(2)
    return {"machine": machine_info(sorted(os.sched_getaffinity(0)), wait=wait), "rate": rate,
            "seconds": seconds, "wait": wait, "sim": sim, "fix": over_fix}


def format_fix_engine_table(report: dict) -> str:
    sim, fix = report["sim"], report["fix"]
    lines = [f"the market maker at {report['rate']:,} ticks/s for {report['seconds']:g} s, "
             f"wait {report['wait']}: built-in venue, then over FIX (fix-sim on loopback)",
             f"  {'':<34}{'built-in':>14}{'over FIX':>14}"]
    for key, label in (("tick_to_trade", "tick-to-trade p50 / p99 (us)"),
                       ("gateway_to_strategy", "gateway -> strategy p50 / p99 (us)")):
        lines.append(f"  {label:<34}{sim[key + '_p50_us']:>7.1f} /{sim[key + '_p99_us']:>5.0f}"
                     f"{fix[key + '_p50_us']:>8.1f} /{fix[key + '_p99_us']:>5.0f}")
    lines.append(f"  {'orders/s, fills/s':<34}{sim['orders_per_s']:>7,} /{sim['fills_per_s']:>5,}"
                 f"{fix['orders_per_s']:>8,} /{fix['fills_per_s']:>5,}")
    lines.append(f"  venue process: request -> read off the ring p50 {fix['read_p50_us']:.1f} us, "
                 f"p99 {fix['read_p99_us']:.1f} us")
    lines.append(f"  venue process: request -> on the socket p50 {fix['send_p50_us']:.1f} us, "
                 f"p99 {fix['send_p99_us']:.1f} us; -> the venue's ack on the ring p50 "
                 f"{fix['ack_p50_us']:.1f} us, p99 {fix['ack_p99_us']:.1f} us; reports "
                 f"dropped {fix['venue_reports_dropped']}")
    return "\n".join(lines)
