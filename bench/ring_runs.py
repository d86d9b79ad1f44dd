"""Run the tickpipe sides of the ring benches as two pinned processes over a fresh segment."""

import os
import subprocess
import sys
import tempfile

import numpy as np

from tickpipe.engine.config import SCHEMA
from tickpipe.engine.idle import SLEEPING_STRATEGIES, check_wait
from tickpipe.engine.ring import init_ring
from tickpipe.engine.segment import SectionSpec, create_segment, unlink_segment
from tickpipe.shm_layouts.ring_header import ring_section_size

RECORD_SIZE = 64
SIDE_TIMEOUT_S = 300


# Throughput runs on rings the size `tickpipe run` uses by default (so does the C ring).
ENGINE_RING_CAPACITY = SCHEMA["engine"]["ring_capacity"].default


class BenchError(Exception):
    """A bench side failed; the message says which and why."""


def make_ring_segment(tag: str, ring_names: list[str], capacity: int, wait: str):
    """A fresh ready segment holding one empty 64-byte-record ring per name."""
    name = f"bench-{os.getpid()}-{tag}"
    unlink_segment(name)
    size = ring_section_size(capacity, RECORD_SIZE)
    segment = create_segment(name, [SectionSpec(ring, size, 4096) for ring in ring_names])
    for ring in ring_names:
        init_ring(segment, ring, capacity, RECORD_SIZE,
                  consumer_may_sleep=check_wait(wait) in SLEEPING_STRATEGIES)
    segment.mark_ready()
    return segment


def _run_sides(sides: list[list[str]]) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "tickpipe.bench.ring_side", *side],
                              stderr=subprocess.PIPE, text=True) for side in sides]
    failures = []
    try:
        for proc, side in zip(procs, sides):
            try:
                _, err = proc.communicate(timeout=SIDE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise BenchError(f"bench side {side[0]} did not finish in {SIDE_TIMEOUT_S} s") from None
            if proc.returncode:
                last = (err.strip().splitlines() or ["no message"])[-1]
                failures.append(f"{side[0]} exited {proc.returncode}: {last}")
    finally:
        # On a timeout, a failure or a signal here, a side left spinning on a
        # ring would hold its core for good.
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failures:
        raise BenchError("; ".join(failures))


def tickpipe_rtt_samples(cores: tuple[int, int], wait: str, iterations: int,
                         warmup: int = 10_000, capacity: int = 1024) -> np.ndarray:
    """Round-trip ns samples of one 64-byte record: ping on cores[0], pong on cores[1]."""
    segment = make_ring_segment(f"rtt-{wait}", ["ping", "pong"], capacity, wait)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "samples.npy")
            common = [segment.name, "--wait", wait, "--count", str(iterations), "--warmup", str(warmup)]
            _run_sides([["pong", *common, "--core", str(cores[1])],
                        ["ping", *common, "--core", str(cores[0]), "--out", out]])
            return np.load(out)
    finally:
        segment.close()
        unlink_segment(segment.name)


def tickpipe_throughput(cores: tuple[int, int], wait: str, n_records: int, batch: int,
                        capacity: int = ENGINE_RING_CAPACITY) -> float:
    """Records/s from a producer on cores[0] to a consumer on cores[1], checked in order."""
    segment = make_ring_segment(f"tput-{wait}-{batch}", ["data"], capacity, wait)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "times.npy")
            common = [segment.name, "--wait", wait, "--count", str(n_records), "--batch", str(batch)]
            _run_sides([["consume", *common, "--core", str(cores[1]), "--out", out],
                        ["produce", *common, "--core", str(cores[0])]])
            first_ns, last_ns = np.load(out)
            return n_records / max(last_ns - first_ns, 1) * 1e9
    finally:
        segment.close()
        unlink_segment(segment.name)
