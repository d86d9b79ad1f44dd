"""Steady memory: the resident size of every worker over a long run at full rate.

Samples each worker's private resident memory (RssAnon: heap, stacks, JIT
code) and its resident shared memory (RssShmem: the segment's pages it has
mapped) every few seconds, only while the engine says it is running: warm-up
(compiling, pre-faulting) and the drain at the end (workers unmapping the
segment as they exit: it once showed as -21 MB of "growth") are not the steady
state this bench is about. Flat means the last sample equals the first.
The first sample is taken as soon as the engine is seen running (its state polled
every POLL_S), then one every `every` seconds until it leaves that state.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from tickpipe.bench.ring_runs import BenchError
from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.engine.segment import SegmentError, attach_segment
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_RUNNING
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE

POLL_S = 0.02  # between two looks at the engine's state
# --smoke (tests): the shortest run with a handful of samples of every worker (one every
# SMOKE_SECONDS / 5 s); the figures mean nothing. (--seconds cannot go below 5.)
SMOKE_SECONDS = 1.0


def _rss(pid: int) -> dict | None:
    """{"RssAnon": bytes, "RssShmem": bytes} from /proc/PID/status, None if gone (or a
    zombie, whose status has no Rss lines: a worker that exited, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith("Rss"))
    except OSError:
        return None
    if "RssAnon" not in fields or "RssShmem" not in fields:
        return None
    return {key: int(fields[key].split()[0]) * 1024 for key in ("RssAnon", "RssShmem")}


def run_soak(seconds: float = 60.0, every: float = 5.0, rate: int = 0) -> dict:
    from tickpipe.bench.stats import machine_info
    name = f"bench-{os.getpid()}-soak"
    every = min(every, seconds / 5)  # a short run still gets a handful of samples
    # stderr to a file, not a pipe: nobody reads it until the end, and a full pipe
    # would stall the engine and its workers, who share it.
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "run", "--seconds", str(seconds),
                                 "--rate", str(rate), "--json", "--name", name],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            samples = _sample_workers(proc, name, every)
            out, _ = proc.communicate()
        finally:
            if proc.poll() is None:  # stopped early (Ctrl-C, SIGTERM): the engine drains, goes
                proc.terminate()
                proc.wait()
        err.seek(0)
        errors = err.read()
    if proc.returncode:
        raise BenchError(f"soak: the engine exited {proc.returncode}: {_why(out, errors)}")
    empty = [role for role, series in samples.items() if not series]
    if empty:
        raise BenchError(f"soak: no memory sample of {', '.join(empty)}; run longer than {every:g} s")
    report = json.loads(out)
    rows = []
    for role, series in samples.items():
        for kind in ("RssAnon", "RssShmem"):
            rows.append({"name": f"{role}-{kind}", "first_bytes": series[0][kind],
                         "last_bytes": series[-1][kind],
                         "growth_bytes": series[-1][kind] - series[0][kind],
                         "samples": len(series)})
    return {"results": rows, "run": {k: report[k] for k in ("seconds", "ticks", "lost")},
            "machine": machine_info(sorted(os.sched_getaffinity(0)))}


def _why(out: str, errors: str) -> str:
    """The engine's own reason: its error line, else the notes of its JSON report."""
    lines = errors.strip().splitlines()
    if lines:
        return lines[-1]
    try:
        report = json.loads(out)
    except ValueError:
        return "no message"
    return "; ".join(report.get("notes") or []) or f"state {report.get('state')}"


def _sample_workers(proc, name: str, every: float) -> dict:
    """{role: [rss, ...]}: one sample as soon as the engine is in its running state, then
    one every `every` seconds while it stays there."""
    samples = {role: [] for role in PIPELINE}
    segment, due = None, None
    try:
        while proc.poll() is None:
            try:
                segment = segment or attach_segment(name, readonly=True)
            except SegmentError:
                time.sleep(POLL_S)  # not created yet
                continue
            state = int(segment.view("control", CONTROL_DTYPE)[0]["engine_state"])
            if state != ENGINE_RUNNING:
                if any(samples.values()):
                    break  # draining or stopped: the steady state is over
                time.sleep(POLL_S)  # still warming up
                continue
            now = time.monotonic()
            if due is None or now >= due:
                due = now + every
                for index, role in enumerate(PIPELINE):
                    usage = _rss(int(segment.view("workers", WORKER_DTYPE)[index]["pid"]))
                    if usage:
                        samples[role].append(usage)
            time.sleep(min(POLL_S, max(0.0, due - time.monotonic())))
    finally:
        if segment is not None:
            segment.close()
    return samples
