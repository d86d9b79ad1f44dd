"""Percentiles, the machine line, and the table every bench prints."""

import os
import platform

import numpy as np


def latency_row(name: str, samples_ns: np.ndarray) -> dict:
    """{"name", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "samples"} of ns samples."""
    samples = np.asarray(samples_ns)
    p50, p90, p99, p999 = np.percentile(samples, [50, 90, 99, 99.9])
    return {"name": name, "p50_ns": int(round(p50)), "p90_ns": int(round(p90)),
            "p99_ns": int(round(p99)), "p999_ns": int(round(p999)),
            "max_ns": int(samples.max()), "samples": int(samples.size)}


def skipped_row(name: str, reason: str) -> dict:
    return {"name": name, "skipped": reason}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(cores, *, wait: str | None = None, page_size: int | None = None) -> dict:
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pinning": list(cores),
        "wait": wait,
        "page_size": page_size or os.sysconf("SC_PAGE_SIZE"),
    }


def machine_line(machine: dict) -> str:
    return (f"{machine['cpu_model']}, {machine['cores']} cores, Linux {machine['kernel']}, "
            f"Python {machine['python']}, pinned to cores {','.join(map(str, machine['pinning']))}, "
            f"page size {machine['page_size']} B")


def format_latency_table(rows: list[dict], reference: str, ours: str = "tickpipe-spin") -> str:
    """Text table of latency rows with each row's p50 as a ratio to the `reference` row
    (the physical limit) and to `ours` (tickpipe's row)."""
    def p50_of(name):
        row = next((r for r in rows if r["name"] == name and "p50_ns" in r), None)
        return row["p50_ns"] if row and row["p50_ns"] else None

    ref, mine = p50_of(reference), p50_of(ours)
    lines = [f"{'name':<20} {'p50 ns':>10} {'p99 ns':>10} {'p99.9 ns':>10} {'max ns':>11} "
             f"{'p50 / ' + reference:>20} {'p50 / ' + ours:>22}"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"{row['name']:<20} skipped: {row['skipped']}")
            continue
        to_ref = f"{row['p50_ns'] / ref:.2f}x" if ref else "-"
        to_ours = f"{row['p50_ns'] / mine:.2f}x" if mine else "-"
        lines.append(f"{row['name']:<20} {row['p50_ns']:>10,} {row['p99_ns']:>10,} "
                     f"{row['p999_ns']:>10,} {row['max_ns']:>11,} {to_ref:>20} {to_ours:>22}")
    return "\n".join(lines)


def format_throughput_table(rows: list[dict], reference: str) -> str:
    ref = next((r for r in rows if r["name"] == reference and "records_per_s" in r), None)
    lines = [f"{'name':<22} {'records/s':>16} {'vs ' + reference:>22}"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"{row['name']:<22} skipped: {row['skipped']}")
            continue
        ratio = f"{row['records_per_s'] / ref['records_per_s']:.2f}x" if ref else "-"
        lines.append(f"{row['name']:<22} {row['records_per_s']:>16,.0f} {ratio:>22}")
    return "\n".join(lines)


def parse_cores(text: str | None, needed: int = 2) -> tuple[int, ...]:
    """'0,1' -> (0, 1); default: the first `needed` cores this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    if text is None:
        chosen = allowed[:needed]
        while len(chosen) < needed:
            chosen.append(allowed[-1])
        return tuple(chosen)
    try:
        cores = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--cores {text!r}: expected {needed} comma-separated core numbers") from None
    if len(cores) != needed:
        raise ValueError(f"--cores {text!r}: expected {needed} core numbers, got {len(cores)}")
    for core in cores:
        if core not in allowed:
            raise ValueError(f"--cores {text!r}: core {core} is not available "
                             f"(this process may use {','.join(map(str, allowed))})")
    return cores
