"""What a run did, read from the segment: the final report and the per-second status line.

Counts come from ring positions where they can (ticks = the quotes ring's
head), so they stay exact across a worker's restart.
"""

import numpy as np

from tickpipe.engine.engine_layout import RINGS, ROLES
from tickpipe.engine.histogram_read import percentiles, percentiles_of_buckets
from tickpipe.engine.ring_layout import ring_header
from tickpipe.engine.wait_codes import WAIT_NAMES
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, REJECT_NAMES, TRADING_STATE_NAMES
from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE, HOP_TICK_TO_TRADE, HOPS
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_FILLS, GATEWAY_PARTIALS, RISK_REJECT_BASE, ROLE_COUNTERS, WORKER_DTYPE,
    WORKER_STATE_NAMES,
)


def ring_positions(segment) -> dict:
    """{section: (head, tail)} for every ring.

    Tail is read before head: while the engine runs, the consumer may move tail
    past a head read earlier, and head - tail (records in flight) would go
    negative. Head only grows, so a head read after tail is never behind it.
    """
    positions = {}
    for ring in RINGS:
        header = ring_header(segment, ring.section)
        tail = int(header["tail"])
        head = int(header["head"])
        positions[ring.section] = (head, tail)
    return positions


def stranded_records(segment) -> dict:
    """{section: records between tail and head} for every ring that is not empty.

    After the workers stopped these records will never be read: what a drain
    that failed left behind, ring by ring."""
    return {section: head - tail for section, (head, tail) in ring_positions(segment).items()
            if head != tail}


def counts(segment) -> dict:
    workers = segment.view("workers", WORKER_DTYPE)
    positions = ring_positions(segment)
    risk = workers[ROLES.index("risk")]["counters"]
    gateway = workers[ROLES.index("gateway")]["counters"]
    return {
        "ticks": positions["quotes"][0],
        "ticks_consumed": positions["quotes"][1],
        "intents": positions["intents"][0],
        "orders_sent": positions["orders"][0],
        "orders_at_venue": positions["orders"][1],
        "rejected": {name: int(risk[RISK_REJECT_BASE + code]) for code, name in REJECT_NAMES.items()},
        "fills": int(gateway[GATEWAY_FILLS]) + int(gateway[GATEWAY_PARTIALS]),
        "lost": sum(head - tail for head, tail in positions.values()),
    }


def histogram_snapshot(segment) -> np.ndarray:
    return np.array(segment.view("histograms", HISTOGRAM_DTYPE, len(HOPS)))


def hop_percentiles(histograms) -> dict:
    return {hop: percentiles(histograms[index]) for index, hop in enumerate(HOPS)}


def worker_rows(segment, placement=None) -> list[dict]:
    rows = []
    for index, role in enumerate(ROLES):
        row = segment.view("workers", WORKER_DTYPE)[index]
        counters = {name: int(row["counters"][slot]) for name, slot in ROLE_COUNTERS[role].items()}
        rows.append({
            "role": role, "pid": int(row["pid"]), "core": int(row["core"]),
            "wait": WAIT_NAMES.get(int(row["wait"]), "?"), "restarts": int(row["restarts"]),
            "state": WORKER_STATE_NAMES.get(int(row["state"]), "?"),
            "processed": int(row["processed"]), "published": int(row["published"]),
            "errors": int(row["errors"]), "sleeps": int(row["sleeps"]),
            "sched_fifo": bool(row["sched_fifo"]), "mem_locked": bool(row["mem_locked"]),
            "counters": counters,
        })
    return rows


def positions(segment) -> dict:
    stats = segment.view("symbols", SYMBOL_STATS_DTYPE)
    return {str(symbol): {"position": int(row["position"]), "realised_pnl": int(row["realised_pnl"]),
                          "venue_net_qty": int(row["venue_net_qty"]),
                          "strategy_position": int(row["strategy_position"])}
            for symbol, row in enumerate(stats)}


def final_report(segment, *, state: str, seconds: float, notes: list[str]) -> dict:
    control = segment.view("control", CONTROL_DTYPE)[0]
    histograms = histogram_snapshot(segment)
    hops = hop_percentiles(histograms)
    report = {"engine": segment.name, "state": state, "seconds": round(seconds, 3)}
    report.update(counts(segment))
    report["stranded"] = stranded_records(segment)
    report["tick_to_trade_ns"] = hops[HOPS[HOP_TICK_TO_TRADE]]
    report["hops_ns"] = {hop: value for hop, value in hops.items() if hop != HOPS[HOP_TICK_TO_TRADE]}
    report["trading_state"] = TRADING_STATE_NAMES.get(int(control["trading_state"]), "?")
    report["workers"] = worker_rows(segment)
    report["positions"] = positions(segment)
    report["memory"] = {"backing": segment.backing, "page_size": segment.page_size,
                        "locked": segment.locked or all(w["mem_locked"] for w in report["workers"])}
    if seconds > 0:
        report["rates"] = {"ticks_per_s": round(report["ticks"] / seconds),
                           "orders_per_s": round(report["orders_sent"] / seconds)}
    report["notes"] = notes
    return report


def status_line(elapsed: float, previous: dict, current: dict, dt: float,
                previous_hist: np.ndarray, current_hist: np.ndarray) -> str:
    """One line: rates over the last interval and tick-to-trade percentiles over it."""
    ticks_rate = (current["ticks"] - previous["ticks"]) / dt
    orders_rate = (current["orders_sent"] - previous["orders_sent"]) / dt
    interval = (current_hist[HOP_TICK_TO_TRADE]["buckets"].astype(np.int64)
                - previous_hist[HOP_TICK_TO_TRADE]["buckets"].astype(np.int64))
    t2t = percentiles_of_buckets(np.clip(interval, 0, None))
    latency = (f"t2t p50 {_us(t2t['p50'])} p99 {_us(t2t['p99'])}" if t2t["count"]
               else "t2t -")
    return (f"[{elapsed:6.1f}s] ticks/s {ticks_rate:>10,.0f}  orders/s {orders_rate:>8,.0f}  "
            f"{latency}  in-flight {current['lost']:,}")  # records between head and tail now


def _us(ns) -> str:
    return "-" if ns is None else f"{ns / 1000:.1f}us"


def format_report(report: dict) -> str:
    """The final report for people."""
    t2t = report["tick_to_trade_ns"]
    lines = [
        f"engine {report['engine']}: {report['state']} after {report['seconds']} s "
        f"({report['memory']['backing']}, {report['memory']['page_size'] // 1024} KiB pages"
        f"{', locked' if report['memory']['locked'] else ''})",
        f"  ticks {report['ticks']:,}  intents {report['intents']:,}  orders sent "
        f"{report['orders_sent']:,}  fills {report['fills']:,}  lost {report['lost']:,}",
        "  rejected: " + (", ".join(f"{k} {v:,}" for k, v in report["rejected"].items() if v)
                          or "none"),
        f"  {'latency (ns)':<22}{'count':>12}{'p50':>12}{'p90':>12}{'p99':>12}{'p99.9':>12}{'max':>14}",
    ]
    for name, value in [("tick_to_trade", t2t)] + list(report["hops_ns"].items()):
        cells = "".join(f"{_fmt(value[k]):>12}" for k in ("p50", "p90", "p99", "p999"))
        lines.append(f"  {name:<22}{value['count']:>12,}{cells}{_fmt(value['max']):>14}")
    lines.append("  workers: " + ", ".join(
        f"{w['role']}@{w['core']} {w['wait']} pid {w['pid']} restarts {w['restarts']}"
        for w in report["workers"]))
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def failure_line(report: dict) -> str | None:
    """One line saying why a run did not end `stopped`; None when it did.

    `failures` (set by the supervisor) holds what went wrong, in order: a worker
    given up, then what the drain left stranded."""
    if report["state"] == "stopped":
        return None
    reasons = report.get("failures") or ["see the notes in the report"]
    return f"engine {report['engine']} ended {report['state']}: {'; '.join(reasons)}"


def _fmt(value) -> str:
    return "-" if value is None else f"{value:,}"
