"""numba hot loops of the ring benches: ping/pong (round trip) and a producer/consumer pair.

Records are moved as 64-byte rows of a (capacity, 8) uint64 view of the ring,
the way a worker moves its own dtype. Loops return error counts, never raise;
they are @hot_loop (below): no reference counting, no allocation.
"""

from numba import njit

from tickpipe.engine.atomics import cpu_pause, monotonic_ns
from tickpipe.engine.idle import idle, pause_while_full
from tickpipe.engine.ring import (
    H_MASK, H_POSITION, consumer_available, consumer_release, producer_claim, producer_publish,
)


# How the outermost loops are compiled (was engine/hot_loop.py). numba keeps a
# reference count on every array an njit function receives, and it bumps and drops
# that count (a `lock inc` / `lock dec` pair) around each inlined call that takes the
# array, such as producer_claim(handle, n): a pair per record in a one-record loop. On
# x86 a locked instruction drains the store buffer, so each pair waits for the
# records' stores still in flight to other cores. The assembly of these loops showed
# 17 such pairs in the producer loop and 23 in the consumer loop; without them the
# spin round trip went from 190 to 161-180 ns (bench/RESULTS.md, "The single-record
# gap"). A loop compiled without NRT keeps no reference counts, so it must allocate
# nothing: every array it touches is passed in. numba spells the switch `_nrt=False`,
# a target option its own test-suite uses.
#
# Defined here, in the file of the loops it compiles, not in a bench module of its
# own: numba's cache index checks only the compiled function's own file (and its
# bytecode), not the flags it was compiled with nor code it inlined from elsewhere,
# and bench/ is not in the key of numba's cache directory (the package's
# __init__.py). An edit here invalidates these loops' cache; one in another bench
# file could not.
def hot_loop(function):
    """njit(cache=True) without NRT reference counting; `function` must not allocate."""
    return njit(cache=True, _nrt=False)(function)


@hot_loop
def ping_loop(out_handle, out_words, in_handle, in_words, idle_state, inputs, samples, warmup):
    """Send one record, wait for its echo, `warmup + len(samples)` times.

    samples[i] = ns from before the send to after the echo was read.
    Returns how many echoes carried the wrong sequence number (0 when correct).
    """
    errors = 0
    total = warmup + samples.shape[0]
    for i in range(total):
        start_ns = monotonic_ns()
        streak = 0
        while producer_claim(out_handle, 1) == 0:
            pause_while_full(idle_state, streak)
            streak += 1
        slot = out_handle[H_POSITION] & out_handle[H_MASK]
        out_words[slot, 1] = start_ns  # word 0, seq, is stored by publish
        producer_publish(out_handle, 1)
        while consumer_available(in_handle, 1) == 0:
            idle(idle_state, 0, inputs)
        idle(idle_state, 1, inputs)
        echo = in_words[in_handle[H_POSITION] & in_handle[H_MASK], 0]
        consumer_release(in_handle, 1)
        end_ns = monotonic_ns()
        if echo != i + 1:
            errors += 1
        if i >= warmup:
            samples[i - warmup] = end_ns - start_ns
    return errors


@hot_loop
def pong_loop(in_handle, in_words, out_handle, out_words, idle_state, inputs, count):
    """Echo `count` records from the in ring to the out ring, whole 64 bytes each."""
    for _ in range(count):
        while consumer_available(in_handle, 1) == 0:
            idle(idle_state, 0, inputs)
        idle(idle_state, 1, inputs)
        src = in_handle[H_POSITION] & in_handle[H_MASK]
        streak = 0
        while producer_claim(out_handle, 1) == 0:
            pause_while_full(idle_state, streak)
            streak += 1
        dst = out_handle[H_POSITION] & out_handle[H_MASK]
        for w in range(1, 8):  # all but seq, which publish stores
            out_words[dst, w] = in_words[src, w]
        producer_publish(out_handle, 1)
        consumer_release(in_handle, 1)
    return 0


@hot_loop
def produce_loop(handle, words, idle_state, count, batch):
    """Publish records 1..count in batches of up to `batch`; returns 0.

    Every record is written whole: words 1..7 here (its number last, and a
    payload the consumer checks), word 0 (seq, its number too) by publish."""
    mask = handle[H_MASK]
    sent = 0
    streak = 0
    while sent < count:
        wanted = min(batch, count - sent)
        got = producer_claim(handle, wanted)
        if got == 0:
            pause_while_full(idle_state, streak)
            streak += 1
            continue
        streak = 0
        position = handle[H_POSITION]
        for i in range(got):
            slot = (position + i) & mask
            sent += 1
            for w in range(1, 7):
                words[slot, w] = sent + w
            words[slot, 7] = sent
        producer_publish(handle, got)
    return 0


@hot_loop
def consume_loop(handle, words, idle_state, inputs, count, batch, times):
    """Read `count` records in batches of up to `batch`, checking 1, 2, 3 ... in order
    and every word of each.

    times[0] = ns at the first record, times[1] = ns after the last.
    Returns how many records were out of order or torn (0 when correct).
    """
    mask = handle[H_MASK]
    received = 0
    errors = 0
    while received < count:
        got = consumer_available(handle, batch)
        if got == 0:
            idle(idle_state, 0, inputs)
            continue
        idle(idle_state, 1, inputs)
        if received == 0:
            times[0] = monotonic_ns()
        position = handle[H_POSITION]
        for i in range(got):
            slot = (position + i) & mask
            received += 1
            payload = 0
            for w in range(1, 7):
                payload += words[slot, w]
            if words[slot, 0] != received or words[slot, 7] != received or payload != 6 * received + 21:
                errors += 1
        consumer_release(handle, got)
    times[1] = monotonic_ns()
    return errors


@njit(cache=True)
def spin_pause(n):
    for _ in range(n):
        cpu_pause()
