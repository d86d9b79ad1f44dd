"""Native C references: the physical limit every bench row is measured against.

c-cacheline: a 64-byte cache-line ping-pong between two processes pinned to two
cores, the floor of any shared-memory round trip (cacheline_pingpong.c).
c-ring: a minimal C SPSC ring of 64-byte records between two pinned processes, the
ceiling of one-way throughput (spsc_ring.c), and its round trip over two such rings,
the floor of tickpipe's ring design (ring_pingpong.c); both publish each record
through its own seq word, as tickpipe's rings do.
c-ring-index: the same two programs under the previous rule (a record published
only by the head index), kept as a row for comparison.

Both are compiled on first use with the system's C compiler (see build.py); without
one they raise NativeUnavailable. Each program stops by itself at a wall-clock guard,
and is killed from here if it does not.
"""

from __future__ import annotations

import math

import numpy

from tickpipe.bench.native.build import NativeBuildError, NativeUnavailable, run_program
from tickpipe.bench.peers.pairing import check_rtt_counts, check_throughput_counts, resolve_cores

__all__ = ["NativeBuildError", "NativeUnavailable", "c_cacheline_rtt_samples", "c_ring_rtt_samples",
           "c_ring_index_rtt_samples", "c_ring_throughput"]

DEFAULT_TIMEOUT_S = 30.0


def _run_pair(program: str, cores: tuple[int, ...], counts: tuple[int, int], timeout_s: float) -> bytes:
    """Run `program CORE_A CORE_B COUNT COUNT TIMEOUT_S`; its stdout."""
    core_a, core_b = resolve_cores(cores)
    guard_s = max(1, math.ceil(timeout_s))  # the programs take whole seconds
    return run_program(program, [str(core_a), str(core_b), *map(str, counts)], guard_s)


def c_cacheline_rtt_samples(
    cores: tuple[int, int],
    iterations: int,
    warmup: int = 10000,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> numpy.ndarray:
    """Round-trip times of a cache-line ping-pong, int64 ns (CLOCK_MONOTONIC), one per iteration.

    The initiator runs on cores[0], the echo side on cores[1]; `warmup` round trips
    run first, unsampled. Raises TimeoutError when not done within timeout_s.
    """
    return _rtt_samples("cacheline_pingpong", cores, iterations, warmup, timeout_s)


def c_ring_rtt_samples(
    cores: tuple[int, int],
    iterations: int,
    warmup: int = 10000,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> numpy.ndarray:
    """Round-trip times through two C rings built like tickpipe's, int64 ns, one per iteration.

    Same arguments and errors as c_cacheline_rtt_samples.
    """
    return _rtt_samples("ring_pingpong", cores, iterations, warmup, timeout_s)


def c_ring_index_rtt_samples(
    cores: tuple[int, int],
    iterations: int,
    warmup: int = 10000,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> numpy.ndarray:
    """As c_ring_rtt_samples, through C rings under the previous rule: a record
    published only by the head index (two serial cache misses each way)."""
    return _rtt_samples("ring_pingpong_index", cores, iterations, warmup, timeout_s)


def _rtt_samples(program, cores, iterations, warmup, timeout_s) -> numpy.ndarray:
    check_rtt_counts(iterations, warmup)
    raw = _run_pair(program, cores, (iterations, warmup), timeout_s)
    samples = numpy.frombuffer(raw, dtype=numpy.int64).copy()
    if len(samples) != iterations:
        raise RuntimeError(f"{program} wrote {len(samples)} samples, want {iterations}")
    return samples


def c_ring_throughput(
    cores: tuple[int, int],
    n_records: int,
    batch: int = 1,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    publish_by_index: bool = False,
) -> float:
    """Records/s through a C SPSC ring from a producer on cores[0] to a consumer on cores[1].

    The producer publishes `batch` records per index store and the consumer releases
    up to `batch` per store; the consumer times from its first receipt to its last,
    so n_records must span at least two batches. publish_by_index: the previous rule.
    """
    check_throughput_counts(n_records, batch)
    program = "spsc_ring_index" if publish_by_index else "spsc_ring"
    out = _run_pair(program, cores, (n_records, batch), timeout_s)
    records, elapsed_ns = (int(field) for field in out.split())
    return records * 1e9 / elapsed_ns
