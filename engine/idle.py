"""Wait strategies: what a worker does when a pass of its loop found no work.

Contract (two methods, as the Disruptor's): the consumer calls
`idle(state, work_count, inputs)` after every pass; the producer side is the
notify in ring.producer_publish, which makes a wake syscall only when this
consumer armed its doorbell. So the fast path of both sides has no syscall.

Strategies:
- spin:    pause instruction; lowest latency; only sane on a core of its own.
- yield:   sched_yield; lets a core be shared, still burns it.
- backoff: spin a while, then yield a while, then sleep on the doorbell.
- block:   sleep on the doorbell at once (futex); a core can be shared by many.

Sleeping (the doorbell handshake, with tp_ring_publish in engine/atomics.c):
  1. read wake_seq;  2. store armed = 1, then a seq_cst fence;  3. re-check the
  next slot's `seq` of every input ring;  4. futex_wait(wake_seq, value read in
  1, timeout);  5. armed = 0.
The producer stores the records' seq words, then a seq_cst fence, then reads
armed; if set it bumps wake_seq and wakes. The two fences are ordered one way
or the other: if the consumer's comes first, the producer's load sees armed = 1
and wakes it; if the producer's comes first, the consumer's re-check sees the
published seq and it does not sleep. A bump between 1 and 4 makes futex_wait
return at once, so a wake-up is never lost. The timeout bounds how late a stop
flag is seen; nothing depends on it for correctness.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import (
    cpu_pause, fence_seqcst, futex_wait, load_acquire_u32, sched_yield, store_release_u32,
    store_seqcst_u32,
)
from tickpipe.engine.ring import consumer_has_data
from tickpipe.engine.wait_codes import (  # noqa: F401  (re-exported for loop code)
    DEFAULT_SPIN_LIMIT, DEFAULT_YIELD_LIMIT, SLEEPING_STRATEGIES, WAIT_BACKOFF, WAIT_BLOCK,
    WAIT_CODES, WAIT_NAMES, WAIT_NONE, WAIT_SPIN, WAIT_YIELD,
    check_wait,
)


# Idle-state slots (process-local int64 array, one per worker).
I_STRATEGY = 0
I_STREAK = 1           # consecutive passes without work
I_SPIN_LIMIT = 2       # backoff: passes spent spinning before yielding
I_YIELD_LIMIT = 3      # backoff: passes (after spinning) spent yielding before sleeping
I_SLEEP_TIMEOUT_NS = 4
I_DOORBELL_ADDR = 5
I_SLEEPS = 6           # futex sleeps taken
I_IDLE_PASSES = 7      # passes without work, in total
IDLE_SLOTS = 8

DEFAULT_SLEEP_TIMEOUT_NS = 20_000_000  # 20 ms: how late a stop flag is seen at worst

# idle() return codes
IDLE_WORKED = 0        # the pass had work; nothing done
IDLE_PAUSED = 1        # spun or yielded
IDLE_SLEPT = 2         # slept on the doorbell (woken, or timed out)
IDLE_DATA_ON_RECHECK = 3  # armed the doorbell but found data: did not sleep


def make_idle_state(strategy: int, doorbell_address: int, *, spin_limit: int = DEFAULT_SPIN_LIMIT,
                    yield_limit: int = DEFAULT_YIELD_LIMIT,
                    sleep_timeout_ns: int = DEFAULT_SLEEP_TIMEOUT_NS) -> np.ndarray:
    state = np.zeros(IDLE_SLOTS, dtype=np.int64)
    state[I_STRATEGY] = strategy
    state[I_SPIN_LIMIT] = spin_limit
    state[I_YIELD_LIMIT] = yield_limit
    state[I_SLEEP_TIMEOUT_NS] = sleep_timeout_ns
    state[I_DOORBELL_ADDR] = doorbell_address
    return state


@njit(cache=True)
def sleep_on_doorbell(state, inputs):
    """Arm the doorbell, re-check every input ring's next slot, sleep until rung or timed out.

    inputs: 2-D int64 array, one consumer handle per row, all sharing this doorbell.
    Returns IDLE_SLEPT or IDLE_DATA_ON_RECHECK.
    """
    armed_addr = state[I_DOORBELL_ADDR]
    wake_seq_addr = armed_addr + 4
    wake_seq = load_acquire_u32(wake_seq_addr)
    store_seqcst_u32(armed_addr, 1)
    fence_seqcst()  # pairs with the fence in tp_ring_publish (the argument is above)
    for row in range(inputs.shape[0]):
        if consumer_has_data(inputs[row]):
            store_release_u32(armed_addr, 0)
            return IDLE_DATA_ON_RECHECK
    futex_wait(wake_seq_addr, wake_seq, state[I_SLEEP_TIMEOUT_NS])
    store_release_u32(armed_addr, 0)
    state[I_SLEEPS] += 1
    return IDLE_SLEPT


@njit(cache=True)
def sleep_for(state, timeout_ns):
    """A timed sleep on this worker's doorbell, cut short when it is rung (a stop);
    no ring to re-check, so nothing is armed. Counts as a sleep (I_SLEEPS)."""
    wake_seq_addr = state[I_DOORBELL_ADDR] + 4
    futex_wait(wake_seq_addr, load_acquire_u32(wake_seq_addr), timeout_ns)
    state[I_SLEEPS] += 1


@njit(cache=True)
def idle(state, work_count, inputs):
    """Wait according to state[I_STRATEGY] when the last pass found no work."""
    if work_count > 0:
        state[I_STREAK] = 0
        return IDLE_WORKED
    state[I_STREAK] += 1
    state[I_IDLE_PASSES] += 1
    strategy = state[I_STRATEGY]
    if strategy == WAIT_NONE:
        return IDLE_PAUSED
    if strategy == WAIT_SPIN:
        cpu_pause()
        return IDLE_PAUSED
    if strategy == WAIT_YIELD:
        sched_yield()
        return IDLE_PAUSED
    if strategy == WAIT_BACKOFF:
        streak = state[I_STREAK]
        if streak <= state[I_SPIN_LIMIT]:
            cpu_pause()
            return IDLE_PAUSED
        if streak <= state[I_SPIN_LIMIT] + state[I_YIELD_LIMIT]:
            sched_yield()
            return IDLE_PAUSED
    return sleep_on_doorbell(state, inputs)


@njit(cache=True)
def pause_while_full(state, streak):
    """Backpressure: a producer whose output ring is full waits without sleeping.

    Spinners pause; everyone else yields, so on a shared core the consumer runs.
    Returns 1 when it yielded (the wait may have lasted a scheduler slice), else 0.
    """
    if state[I_STRATEGY] == WAIT_SPIN and streak < 1000:
        cpu_pause()
        return 0
    sched_yield()
    return 1


def set_timer_slack(slack_ns: int) -> int:
    """prctl(PR_SET_TIMERSLACK) for this process: how much later than asked a timed
    sleep may end (the kernel's default adds 50 us to every sleep). Returns 0 or errno (a
    worker that cannot set it runs, just later)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    if libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(slack_ns), zero, zero, zero) != 0:
        return ctypes.get_errno()
    return 0


PR_SET_TIMERSLACK = 29  # <linux/prctl.h>
