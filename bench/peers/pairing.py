"""The rules of a bench pair: which two cores it runs on, pinning to one, and the
counts a run may be asked for.

Shared by the Python peers and the native C references, so every row of a bench
table is pinned and validated by the same rule.
"""

from __future__ import annotations

import os


def resolve_cores(cores: tuple[int, ...]) -> tuple[int, int]:
    """Return (core of side A, core of side B).

    One core means both sides share it (they then take turns on it, which measures
    the scheduler more than the mechanism, but it still has to run). Every core must
    be in this process's affinity mask, or pinning a child would fail half-way.
    """
    if len(cores) not in (1, 2):
        raise ValueError(f"cores must name one or two cores, got {cores!r}")
    allowed = os.sched_getaffinity(0)
    for core in cores:
        if core not in allowed:
            raise ValueError(f"core {core} is not in this process's affinity mask {sorted(allowed)}")
    return (cores[0], cores[-1])


def pin_current_process(core: int) -> None:
    """Pin the calling process (all its threads created from now on) to one core."""
    os.sched_setaffinity(0, {core})


def check_rtt_counts(iterations: int, warmup: int) -> None:
    if iterations < 1 or warmup < 0:
        raise ValueError(f"need iterations >= 1 and warmup >= 0, got {iterations} and {warmup}")


def check_throughput_counts(n_records: int, batch: int) -> None:
    """The consumer times from its first receipt to its last, so a run spans two batches at least."""
    if batch < 1 or n_records < 2 * batch:
        raise ValueError(f"need batch >= 1 and n_records >= 2 * batch, got n_records={n_records} batch={batch}")
