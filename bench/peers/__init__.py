"""Benchmark peers: what a Python user would pick instead of tickpipe's rings.

Each peer moves 64-byte records between two OS processes pinned to two cores:
round trip (RTT) of one message, and one-way throughput one record at a time or in
batches. A peer whose library is missing raises PeerUnavailable with the reason, so
a bench run reports it as skipped, never as a failure.

    samples = peer_rtt_samples("mp.Pipe", (0, 1), iterations=100_000)
    rate = peer_throughput("faster-fifo", (0, 1), n_records=1_000_000, batch=64)
"""

from __future__ import annotations

import numpy

from tickpipe.bench.peers.channel import PeerUnavailable
from tickpipe.bench.peers.pairing import check_rtt_counts, check_throughput_counts
from tickpipe.bench.peers.pinned_pair import run_pinned_pair

__all__ = [
    "BLOCKING_PEERS",
    "PEER_NAMES",
    "PeerUnavailable",
    "peer_rtt_samples",
    "peer_throughput",
]

_PEER_MODULES = {
    "mp.Pipe": "tickpipe.bench.peers.mp_pipe",
    "mp.Queue": "tickpipe.bench.peers.mp_queue",
    "posix_ipc-mq": "tickpipe.bench.peers.posix_mq",
    "pyzmq-ipc": "tickpipe.bench.peers.pyzmq_ipc",
    "faster-fifo": "tickpipe.bench.peers.faster_fifo_queue",
    "iceoryx2-python": "tickpipe.bench.peers.iceoryx2_pubsub",
}

PEER_NAMES: tuple[str, ...] = tuple(_PEER_MODULES)

BLOCKING_PEERS: tuple[str, ...] = tuple(name for name in PEER_NAMES if name != "iceoryx2-python")
"""Peers whose receive sleeps in the kernel until data comes; iceoryx2 is polled."""

DEFAULT_TIMEOUT_S = 60.0


def _module_of(name: str) -> str:
    try:
        return _PEER_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; known peers: {', '.join(PEER_NAMES)}") from None


def peer_rtt_samples(
    name: str,
    cores: tuple[int, int],
    iterations: int,
    warmup: int = 1000,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> numpy.ndarray:
    """Round-trip times of one 64-byte message, int64 ns, one per iteration.

    The initiator on cores[0] reads time.perf_counter_ns() (CLOCK_MONOTONIC) around
    send + receive; the echo side on cores[1] sends back what it got. The first
    `warmup` round trips are not sampled. Raises PeerUnavailable, TimeoutError (both
    sides killed after timeout_s) or RuntimeError (a side failed).
    """
    check_rtt_counts(iterations, warmup)
    samples, _ = run_pinned_pair(
        name,
        _module_of(name),
        1,
        cores,
        ("initiate_round_trips", (iterations, warmup)),
        ("echo", (iterations + warmup,)),
        timeout_s,
    )
    return numpy.frombuffer(samples, dtype=numpy.int64).copy()


def peer_throughput(
    name: str,
    cores: tuple[int, int],
    n_records: int,
    batch: int = 1,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> float:
    """Records/s of 64-byte records from a producer on cores[0] to a consumer on cores[1].

    batch N sends N records in one call where the mechanism allows it (each peer
    module says how). The consumer times from its first receipt to its last, so
    n_records must span at least two batches.
    """
    check_throughput_counts(n_records, batch)
    _, rate = run_pinned_pair(
        name,
        _module_of(name),
        batch,
        cores,
        ("produce", (n_records, batch)),
        ("consume", (n_records,)),
        timeout_s,
    )
    return rate
