"""Native C references: compiled on the spot with cc, run pinned, always bounded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import psutil
import pytest

from tickpipe.bench import native, ring_runs
from tickpipe.bench.native import (
    NativeUnavailable, c_cacheline_rtt_samples, c_ring_index_rtt_samples, c_ring_rtt_samples,
    c_ring_throughput,
)
from tickpipe.bench.native.build import find_compiler
from tickpipe.engine.config import SCHEMA

CORES = tuple(sorted(os.sched_getaffinity(0))[:2])


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory):
    """A cache of its own, so this module really compiles the sources once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def compiler(fresh_cache):
    try:
        return find_compiler()
    except NativeUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("rtt_samples", [c_cacheline_rtt_samples, c_ring_rtt_samples,
                                         c_ring_index_rtt_samples])
def test_round_trip_references_give_one_positive_sample_per_iteration(compiler, rtt_samples):
    # 3,000 laps the ring's 1,024 slots; the guard bounds a hang only: two spinners on
    # cores shared with a second suite hand over in scheduler slices (20,000 round trips
    # outlasted the default 30 s guard there).
    samples = rtt_samples(CORES, 3000, warmup=100, timeout_s=300)

    assert samples.dtype == numpy.int64
    assert len(samples) == 3000
    assert (samples > 0).all()


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("by_index", [False, True])
def test_ring_throughput_is_a_positive_rate_one_at_a_time_and_in_batches(compiler, batch, by_index):
    # 140,000 laps the ring's 65,536 slots twice; the guard bounds a hang only: one at a
    # time, two spinners on cores shared with a second suite hand over in scheduler
    # slices (200,000 outlasted the default 30 s guard there, in a fresh clone's .ci/run
    # beside the suite).
    assert c_ring_throughput(CORES, 140_000, batch=batch, publish_by_index=by_index,
                             timeout_s=300) > 0


def test_both_sides_may_share_one_core(compiler):
    # on one core each handover waits for the other side's turn: guards bound a hang only
    assert len(c_cacheline_rtt_samples(CORES[:1], 200, warmup=20, timeout_s=300)) == 200
    assert len(c_ring_rtt_samples(CORES[:1], 3000, warmup=20, timeout_s=300)) == 3000  # a lap
    assert c_ring_throughput(CORES[:1], 10_000, batch=4, timeout_s=300) > 0


def test_ring_refuses_a_batch_larger_than_its_capacity(compiler):
    with pytest.raises(RuntimeError, match="batch 131072 exceeds the ring's capacity 65536"):
        c_ring_throughput(CORES, 300_000, batch=131072)


def test_c_ring_has_the_capacity_of_the_engines_default_ring_like_the_tickpipe_rows():
    source = (Path(native.__file__).parent / "spsc_ring.c").read_text()
    capacity = int(re.search(r"#define CAPACITY (\d+)u", source).group(1))
    assert capacity == SCHEMA["engine"]["ring_capacity"].default == ring_runs.ENGINE_RING_CAPACITY


def test_reference_still_running_at_its_guard_stops_by_itself(compiler):
    # The program's own message: it stopped itself (the Python side's kill says
    # "ignored its guard"). How soon is the machine's business, not this test's: beside
    # a second suite it took over 11 s to notice a 1 s guard.
    with pytest.raises(TimeoutError, match="wall-clock guard ran out"):
        c_ring_throughput(CORES, 10**12, timeout_s=1)


def test_built_reference_runs_from_the_cache_without_a_compiler(compiler, monkeypatch, tmp_path):
    c_ring_throughput(CORES, 1000)  # built (or already cached) while cc is there
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)

    assert c_ring_throughput(CORES, 1000) > 0


def test_without_a_compiler_the_references_are_unavailable_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)

    with pytest.raises(NativeUnavailable, match=r"no C compiler \(cc\) found"):
        c_cacheline_rtt_samples(CORES, 10)
    with pytest.raises(NativeUnavailable, match=r"no C compiler \(cc\) found"):
        c_ring_rtt_samples(CORES, 10)
    with pytest.raises(NativeUnavailable, match=r"no C compiler \(cc\) found"):
        c_ring_throughput(CORES, 10)


INTERRUPTED_RUN = """
import signal, sys
from tickpipe.bench.native import c_ring_rtt_samples
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # as `tickpipe bench` does
c_ring_rtt_samples((0, 0), 10**7, timeout_s=60)  # both on one core: runs for minutes
"""


def test_reference_when_its_caller_is_terminated_then_both_its_processes_go_too(compiler):
    # Its own reference processes only (the caller's descendants): another suite on the
    # machine may be running the same reference, and signalling the caller when that one
    # showed up killed it before it had set its SIGTERM handler (-15, not 143).
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN])
    try:
        deadline = time.monotonic() + 600  # hang bounds only, here and below
        while len(ours := _reference_processes("ring_pingpong", proc.pid)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the reference never ran"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=300) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(ours, timeout=60)
    assert not alive


def _reference_processes(program, parent_pid):
    """The processes of `program` that descend from `parent_pid`."""
    try:
        children = psutil.Process(parent_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if child.name().startswith(program):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found
