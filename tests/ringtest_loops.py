"""Jitted test loops over a ring, and the side processes that run them.

Run as a process: `python tests/ringtest_loops.py produce|consume SEGMENT ...`
(see `main`); the parent test starts sides with `start_side` and collects
their figures with `Side.finish`, which never waits past its timeout.

Record patterns (8 uint64 words per 64-byte record, sequence numbers 1, 2, 3 ...):
- PATTERN_EQUAL: every word holds the sequence number (torn-read detection);
- PATTERN_MIXED: word k holds seq * (2k + 1) + k (a checksum that sees every word).
Word 0 is the record's seq, which equals its sequence number in both patterns
and is stored by the ring's publish; the producer writes words 1..7 one by one,
so a record read before its publish, or overwritten while being read, shows
words of two different records.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from numba import njit

from tickpipe.engine.atomics import (
    cas_u64, cpu_pause, fence_seqcst, fetch_add_u32, fetch_add_u64, futex_wait, futex_wake,
    load_acquire_u32, load_acquire_u64, load_relaxed_u64, monotonic_ns, ring_count_ready,
    ring_publish, sched_yield, store_relaxed_u64, store_release_u32, store_release_u64,
    store_seqcst_u32,
)
from tickpipe.engine.idle import SLEEPING_STRATEGIES, check_wait, idle, make_idle_state, pause_while_full
from tickpipe.engine.ring import (
    H_DOORBELL_ADDR, H_FULL_WAITS, H_MASK, H_POSITION, H_TAIL_ADDR, consumer_available,
    consumer_handle, consumer_release, producer_claim, producer_handle, producer_publish,
    ring_words,
)

PATTERN_EQUAL = 0
PATTERN_MIXED = 1
PATTERNS = {"equal": PATTERN_EQUAL, "mixed": PATTERN_MIXED}
WORDS = 8
U64 = 1 << 64

# consume statistics (uint64 slots)
S_RECEIVED = 0
S_OUT_OF_ORDER = 1
S_TORN = 2
S_SUM = 3           # sum of every word of every record, mod 2**64
S_WEIGHTED = 4      # sum of seq * last word, mod 2**64
STAT_SLOTS = 5

HERE = os.path.dirname(os.path.abspath(__file__))
SIDE_TIMEOUT_S = 120  # a bound against hangs on a loaded machine, not a speed check


@njit(cache=True)
def word_value(seq, k, pattern):
    """Word k of record `seq` (both uint64)."""
    if pattern == PATTERN_EQUAL:
        return seq
    return seq * np.uint64(2 * k + 1) + np.uint64(k)


@njit(cache=True)
def produce_records(handle, words, idle_state, count, batch, pattern):
    """Publish records 1..count in batches of up to `batch`, each word written on its own.

    Returns how many publishes made a wake syscall.
    """
    mask = handle[H_MASK]
    sent = 0
    wakes = 0
    streak = 0
    while sent < count:
        got = producer_claim(handle, min(batch, count - sent))
        if got == 0:
            pause_while_full(idle_state, streak)
            streak += 1
            continue
        streak = 0
        position = handle[H_POSITION]
        for i in range(got):
            slot = (position + i) & mask
            sent += 1
            seq = np.uint64(sent)
            for k in range(1, WORDS):  # word 0 is seq: publish stores it
                words[slot, k] = word_value(seq, k, pattern)
        wakes += producer_publish(handle, got)
    return wakes


@njit(cache=True)
def produce_in_lockstep(handle, words, count, pattern, wait_ns):
    """Publish records 1..count one at a time, each only after the consumer has
    released the one before: a blocking consumer goes back to sleep between any
    two records, so every publish races its arm-recheck-sleep. A lost wake-up
    leaves the record unread; the wait for it gives up after `wait_ns`.

    Returns how many records the consumer did not release within `wait_ns`
    (0 when no wake-up was lost).
    """
    mask = handle[H_MASK]
    lost = 0
    for sent in range(1, count + 1):
        while producer_claim(handle, 1) == 0:
            sched_yield()
        slot = handle[H_POSITION] & mask
        for k in range(1, WORDS):
            words[slot, k] = word_value(np.uint64(sent), k, pattern)
        producer_publish(handle, 1)
        deadline = monotonic_ns() + wait_ns
        while np.int64(load_acquire_u64(handle[H_TAIL_ADDR])) != handle[H_POSITION]:
            if monotonic_ns() > deadline:
                lost += 1
                break
            cpu_pause()
    return lost


@njit(cache=True)
def consume_records(handle, words, idle_state, inputs, count, batch, pattern, stats, times):
    """Read `count` records in batches of up to `batch`, checking every word of each.

    stats: see S_*; times[i] = monotonic ns when record i + 1 was seen (first len(times)).
    Returns the number of bad records (out of order or torn); 0 when correct.
    """
    mask = handle[H_MASK]
    received = 0
    while received < count:
        got = consumer_available(handle, batch)
        if got == 0:
            idle(idle_state, 0, inputs)
            continue
        idle(idle_state, 1, inputs)
        now = monotonic_ns()
        position = handle[H_POSITION]
        for i in range(got):
            slot = (position + i) & mask
            if received < times.shape[0]:
                times[received] = now
            received += 1
            expected = np.uint64(received)
            first = words[slot, 0]
            if first != word_value(expected, 0, pattern):
                stats[S_OUT_OF_ORDER] += np.uint64(1)
            torn = False
            for k in range(WORDS):
                word = words[slot, k]
                stats[S_SUM] += word
                if word != word_value(expected, k, pattern):
                    torn = True
            stats[S_WEIGHTED] += expected * words[slot, WORDS - 1]
            if torn:
                stats[S_TORN] += np.uint64(1)
        consumer_release(handle, got)
    stats[S_RECEIVED] = np.uint64(received)
    return stats[S_OUT_OF_ORDER] + stats[S_TORN]


@njit(cache=True)
def call_every_atomic(word64_addr, word32_addr, doorbell_addr):
    """Call each ExternalFunction once from jitted code; returns their results in order."""
    out = np.zeros(13, dtype=np.int64)
    store_relaxed_u64(word64_addr, 5)
    out[0] = load_relaxed_u64(word64_addr)              # 5
    store_release_u64(word64_addr, 7)
    out[1] = load_acquire_u64(word64_addr)              # 7
    out[2] = fetch_add_u64(word64_addr, 3)              # 7 (now 10)
    out[3] = cas_u64(word64_addr, 10, 20)               # 1 (now 20)
    out[4] = cas_u64(word64_addr, 10, 30)               # 0 (still 20)
    store_release_u32(word32_addr, 1)
    store_seqcst_u32(word32_addr, 2)
    out[5] = fetch_add_u32(word32_addr, 1)              # 2 (now 3)
    out[6] = load_acquire_u32(word32_addr)              # 3
    fence_seqcst()
    cpu_pause()
    out[7] = futex_wait(word32_addr, 99, 1_000_000)     # 1: the value differs
    out[8] = futex_wake(word32_addr, 1)                 # 0: nobody sleeps there
    # a one-slot "ring" whose records and head share word64: seq 40, then head 40
    out[9] = ring_publish(word64_addr, 0, 64, 39, 1, word64_addr, doorbell_addr)  # 0: not armed
    out[10] = monotonic_ns()
    out[11] = sched_yield()                             # 0
    out[12] = ring_count_ready(word64_addr, 0, 64, 39, 5)  # 1: position 39 holds seq 40
    return out


def expected_checksums(count: int, pattern: int) -> tuple[int, int]:
    """Closed-form (S_SUM, S_WEIGHTED) of records 1..count, mod 2**64."""
    s1 = count * (count + 1) // 2
    s2 = count * (count + 1) * (2 * count + 1) // 6
    if pattern == PATTERN_EQUAL:
        return WORDS * s1 % U64, s2 % U64
    # sum over k of (2k + 1) is 64, of k is 28; the last word is 15 * seq + 7
    return (64 * s1 + 28 * count) % U64, (15 * s2 + 7 * s1) % U64


def assert_every_record_received(stats, count: int, pattern: int) -> None:
    """Every record 1..count arrived once, in order, whole, with the closed-form checksums."""
    assert int(stats[S_RECEIVED]) == count
    assert int(stats[S_OUT_OF_ORDER]) == 0
    assert int(stats[S_TORN]) == 0
    assert (int(stats[S_SUM]), int(stats[S_WEIGHTED])) == expected_checksums(count, pattern)


def record_words(seq: int, pattern: int) -> np.ndarray:
    """One record's 8 words as they should arrive (word 0, seq, is stored by publish)."""
    return np.array([word_value(np.uint64(seq), k, pattern) for k in range(WORDS)], np.uint64)


# ---- side processes ------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ringtest_loops")
    parser.add_argument("role", choices=["produce", "produce-lockstep", "consume"])
    parser.add_argument("segment")
    parser.add_argument("--ring", default="data")
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--wait", default="block")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--pattern", choices=sorted(PATTERNS), default="mixed")
    parser.add_argument("--sleep-timeout-ns", type=int, default=20_000_000,
                        help="a consumer's futex timeout; < 0: none")
    parser.add_argument("--lockstep-wait-ns", type=int, default=2_000_000_000)
    parser.add_argument("--times", type=int, default=0, help="record receipt times of the first N")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from tickpipe.engine.segment import attach_segment
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    segment = attach_segment(args.segment)
    words = ring_words(segment, args.ring)
    pattern = PATTERNS[args.pattern]
    if args.role == "produce":
        handle = producer_handle(segment, args.ring)
        state = make_idle_state(check_wait(args.wait), 0)
        wakes = produce_records(handle, words, state, args.count, args.batch, pattern)
        np.savez(args.out, wakes=wakes, full_waits=handle[H_FULL_WAITS])
        return 0
    if args.role == "produce-lockstep":
        handle = producer_handle(segment, args.ring)
        lost = produce_in_lockstep(handle, words, args.count, pattern, args.lockstep_wait_ns)
        np.savez(args.out, lost=lost)
        return 0
    inputs = consumer_handle(segment, args.ring).reshape(1, -1)
    handle = inputs[0]  # the same memory the idle re-check reads
    state = make_idle_state(check_wait(args.wait), int(handle[H_DOORBELL_ADDR]),
                            sleep_timeout_ns=args.sleep_timeout_ns)
    stats = np.zeros(STAT_SLOTS, dtype=np.uint64)
    times = np.zeros(args.times, dtype=np.int64)
    consume_records(handle, words, state, inputs, args.count, args.batch, pattern, stats, times)
    np.savez(args.out, stats=stats, times=times, idle_state=state)
    return 0


class Side:
    """A side process; `finish()` waits for it (bounded) and returns its figures."""

    def __init__(self, role: str, segment_name: str, **options):
        self.role = role
        self._tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self._tmp.name, f"{role}.npz")
        argv = [sys.executable, os.path.join(HERE, "ringtest_loops.py"), role, segment_name,
                "--out", self.out]
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, timeout: float) -> dict:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.role} side did not finish in {timeout} s") from None
        try:
            assert self.proc.returncode == 0, f"{self.role} side exited {self.proc.returncode}: {err}"
            with np.load(self.out) as data:
                return {key: data[key] for key in data.files}
        finally:
            self._tmp.cleanup()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass  # reaped by the OS when this process exits; never hang a test on it


def python(*args, env=None, check=True) -> subprocess.CompletedProcess:
    """Run this Python with `args` (bounded); asserts a zero exit unless check=False."""
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=SIDE_TIMEOUT_S)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def run_sides(sides: list[Side], timeout: float = SIDE_TIMEOUT_S) -> list[dict]:
    """Finish every side within `timeout` seconds each; kill the rest on any failure."""
    try:
        return [side.finish(timeout) for side in sides]
    finally:
        for side in sides:
            side.kill()


def run_pair(segment_name: str, cores, count: int, *, producer_batch: int, consumer_batch: int,
             wait: str = "backoff", pattern: str = "mixed") -> tuple[dict, dict]:
    """(consumer, producer) figures of a consumer pinned to cores[1] and a producer pinned to
    cores[0] moving records 1..count over ring "data"."""
    common = dict(count=count, wait=wait, pattern=pattern)
    consumer, producer = run_sides([
        Side("consume", segment_name, core=cores[1], batch=consumer_batch, **common),
        Side("produce", segment_name, core=cores[0], batch=producer_batch, **common)])
    return consumer, producer


def may_sleep(wait: str) -> bool:
    """Whether a consumer with this wait strategy sleeps (its ring's producer must ring)."""
    return check_wait(wait) in SLEEPING_STRATEGIES


if __name__ == "__main__":
    sys.exit(main())
