"""The engine's clock: the monotonic clock in a live engine, simulated time in a backtest.

Every kernel that stamps or compares a time (the runner's `now` for a batch, a record's
publish_ns, the feed's pacing, the venue's latency and session) reads it here, with the
engine's control block: `sim_clock_ns` there is 0 in a live engine (the monotonic
clock, ~20 ns a read, syscall-free) and the time it is now in a backtest, where the
driver (engine/backtest_driver.py) moves it from event to event. One extra load a read, of a
line every worker reads anyway (the stop flags share it).

Liveness (heartbeats, the supervisor's timeouts) stays on the monotonic clock: it is
about the processes, not the market.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import load_relaxed_u64, monotonic_ns
from tickpipe.shm_layouts.control_block import SIM_CLOCK_OFFSET


@njit(cache=True, _nrt=False, inline="always")
def clock_now(control):
    """Now, ns: the simulated clock when one is set (a backtest), else the monotonic one."""
    now = np.int64(load_relaxed_u64(control + SIM_CLOCK_OFFSET))
    return monotonic_ns() if now == 0 else now


@njit(cache=True, _nrt=False, inline="always")
def latency_sample(samples, seq):
    """A modelled latency for the record of sequence number `seq`: one of `samples` (ns),
    picked by a fixed hash of seq (the same record gets the same latency every run); one
    sample is a constant, 0 none (a live engine's)."""
    n = samples.shape[0]
    if n == 1:
        return samples[0]
    pick = (np.uint64(seq) * np.uint64(0x9E3779B97F4A7C15)) % np.uint64(n)
    return samples[np.int64(pick)]


@njit(cache=True, _nrt=False, inline="always")
def simulated(control):
    """Whether this engine runs on simulated time (a backtest: one thread runs every role
    in turn, so nobody waits for room or for time; a pass that cannot go on returns)."""
    return load_relaxed_u64(control + SIM_CLOCK_OFFSET) != 0
