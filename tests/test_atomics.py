"""C atomics, futex, clock and mlockall: from Python (cffi) and from numba (cached)."""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ringtest_loops as loops
from tickpipe.engine import atomics
from tickpipe.engine.atomics import FUTEX_TIMED_OUT, FUTEX_VALUE_CHANGED, FUTEX_WOKEN, lib


@pytest.fixture
def words():
    """A cache-line-aligned block of zeroed words and its address."""
    raw = np.zeros(64, dtype=np.uint64)
    return raw, raw.ctypes.data


def test_u64_store_then_load_should_return_the_stored_value(words):
    _, addr = words
    lib.tp_store_release_u64(addr, 2**64 - 1)
    assert lib.tp_load_acquire_u64(addr) == 2**64 - 1
    lib.tp_store_relaxed_u64(addr, 42)
    assert lib.tp_load_relaxed_u64(addr) == 42
    assert lib.tp_load_acquire_u64(addr + 8) == 0  # the next word is untouched


def test_fetch_add_should_return_the_old_value_and_wrap_at_the_word_size(words):
    raw, addr = words
    assert lib.tp_fetch_add_u64(addr, 5) == 0
    assert lib.tp_fetch_add_u64(addr, 2**64 - 1) == 5
    assert int(raw[0]) == 4
    assert lib.tp_fetch_add_u32(addr + 8, 7) == 0
    assert lib.tp_fetch_add_u32(addr + 8, 2**32 - 1) == 7
    assert lib.tp_load_acquire_u32(addr + 8) == 6


def test_cas_should_swap_only_when_the_expected_value_is_there(words):
    raw, addr = words
    raw[0] = 10
    assert lib.tp_cas_u64(addr, 11, 20) == 0
    assert int(raw[0]) == 10
    assert lib.tp_cas_u64(addr, 10, 20) == 1
    assert int(raw[0]) == 20


def test_u32_stores_should_write_only_their_own_half_word(words):
    raw, addr = words
    lib.tp_store_release_u32(addr, 0xAABBCCDD)
    lib.tp_store_seqcst_u32(addr + 4, 0x11223344)
    assert int(raw[0]) == 0x11223344AABBCCDD
    assert lib.tp_load_acquire_u32(addr + 4) == 0x11223344


def test_futex_wait_when_the_value_differs_then_returns_value_changed_at_once(words):
    raw, addr = words
    raw[0] = 3
    start = time.monotonic()
    assert lib.tp_futex_wait(addr, 4, 5 * 10**9) == FUTEX_VALUE_CHANGED
    assert lib.tp_futex_wait(addr, 4, -1) == FUTEX_VALUE_CHANGED  # no limit, still no wait
    assert time.monotonic() - start < 4  # a wait would take 5 s (the margin: the timeout's)


def test_futex_wait_when_nobody_wakes_it_then_times_out_after_about_the_timeout(words):
    _, addr = words
    start = time.monotonic()
    assert lib.tp_futex_wait(addr, 0, 50_000_000) == FUTEX_TIMED_OUT
    assert 0.045 < time.monotonic() - start < 5


def test_futex_wake_with_no_sleeper_should_wake_nobody(words):
    _, addr = words
    assert lib.tp_futex_wake(addr, 1) == 0


def test_futex_wake_should_wake_a_sleeper_in_another_process(segments):
    # The futex is process-shared: the child sleeps on a word of a shared
    # segment; the parent wakes it without changing the word.
    segment = segments.create({"data": 4096})
    offset, _ = segment.section("data")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from tickpipe.engine.atomics import lib
        from tickpipe.engine.segment import attach_segment
        segment = attach_segment({segment.name!r})
        word = segment.base_address + {offset}
        rc = lib.tp_futex_wait(word, 0, 30 * 10**9)
        lib.tp_store_release_u32(word + 4, rc + 100)
        """)])
    word = segment.base_address + offset
    try:
        deadline = time.monotonic() + loops.SIDE_TIMEOUT_S
        woken = 0
        while woken == 0 and time.monotonic() < deadline and child.poll() is None:
            woken = lib.tp_futex_wake(word, 1)
            time.sleep(0.005)
        assert child.wait(timeout=loops.SIDE_TIMEOUT_S) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert woken == 1
    assert lib.tp_load_acquire_u32(word + 4) == 100 + FUTEX_WOKEN
    assert lib.tp_load_acquire_u32(word) == 0


def test_ring_publish_should_store_seqs_then_head_and_wake_only_through_an_armed_doorbell(words):
    raw, addr = words
    records, head, doorbell = addr, addr + 256, addr + 320  # 4 slots of 64 bytes, then head
    assert lib.tp_ring_publish(records, 3, 64, 5, 3, head, doorbell) == 0
    assert [int(raw[8 * slot]) for slot in range(4)] == [0, 6, 7, 8]  # positions 5, 6, 7
    assert int(raw[32]) == 8
    lib.tp_store_seqcst_u32(doorbell, 1)
    assert lib.tp_ring_publish(records, 3, 64, 8, 1, head, doorbell) == 1
    assert int(raw[0]) == 9 and int(raw[32]) == 9
    assert lib.tp_load_acquire_u32(doorbell + 4) == 1  # wake_seq bumped
    assert lib.tp_ring_publish(records, 3, 64, 9, 1, head, 0) == 0  # no doorbell: never rings


def test_ring_count_ready_should_stop_at_the_first_slot_not_published(words):
    raw, addr = words
    lib.tp_ring_publish(addr, 3, 64, 0, 2, addr + 256, 0)
    assert lib.tp_ring_count_ready(addr, 3, 64, 0, 4) == 2
    assert lib.tp_ring_count_ready(addr, 3, 64, 0, 1) == 1
    assert lib.tp_ring_count_ready(addr, 3, 64, 1, 4) == 1
    assert lib.tp_ring_count_ready(addr, 3, 64, 2, 4) == 0
    assert lib.tp_ring_count_ready(addr, 3, 64, 4, 4) == 0  # slot 0 of the next lap holds 1, not 5


def test_monotonic_clock_should_increase_and_match_python_monotonic():
    samples = [atomics.monotonic_ns_py() for _ in range(1000)]
    assert all(b >= a for a, b in zip(samples, samples[1:]))
    assert samples[-1] > samples[0]
    assert abs(atomics.monotonic_ns_py() - time.monotonic_ns()) < 1_000_000_000
    time.sleep(0.01)
    assert atomics.monotonic_ns_py() - samples[-1] >= 10_000_000


@pytest.mark.skipif(os.geteuid() != 0, reason="mlockall needs root or a large RLIMIT_MEMLOCK")
def test_mlockall_and_munlockall_should_succeed_as_root():
    try:
        assert atomics.mlockall_current_and_future() == 0
    finally:
        assert lib.tp_munlockall() == 0


def test_sched_yield_and_cpu_pause_should_return():
    lib.tp_cpu_pause()
    lib.tp_fence_seqcst()
    assert lib.tp_sched_yield() == 0


def test_every_atomic_should_work_from_jitted_code(words):
    raw, addr = words
    before = time.monotonic_ns()
    out = loops.call_every_atomic(addr, addr + 64, addr + 128)
    assert out[:10].tolist() == [5, 7, 7, 1, 0, 2, 3, FUTEX_VALUE_CHANGED, 0, 0]
    assert out[10] >= before and out[11] == 0 and out[12] == 1
    assert int(raw[0]) == 40


CACHE_CHECK = """
import json, sys, warnings
import numpy as np
from numba.core.errors import NumbaWarning
sys.path.insert(0, {tests!r})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import ringtest_loops as loops
    from tickpipe.engine import idle, ring
    words = np.zeros(256, dtype=np.uint64)
    addr = words.ctypes.data
    loops.call_every_atomic(addr, addr + 64, addr + 128)
    handle = np.zeros(ring.HANDLE_SLOTS, dtype=np.int64)
    handle[ring.H_RECORDS_ADDR], handle[ring.H_RECORD_SIZE] = addr + 1024, 64
    handle[ring.H_HEAD_ADDR], handle[ring.H_TAIL_ADDR] = addr + 192, addr + 256
    handle[ring.H_DOORBELL_ADDR] = addr + 320
    handle[ring.H_HIGH_WATER_ADDR], handle[ring.H_FULL_WAITS_ADDR] = addr + 384, addr + 448
    handle[ring.H_CAPACITY], handle[ring.H_MASK] = 8, 7
    ring.producer_claim(handle, 1)
    ring.producer_publish(handle, 1)
    ring.consumer_available(handle, 1)
    ring.consumer_release(handle, 1)
    ring.consumer_has_data(handle)
    state = idle.make_idle_state(idle.WAIT_BLOCK, addr + 320, sleep_timeout_ns=1000)
    idle.idle(state, 0, handle.reshape(1, -1))
    idle.sleep_on_doorbell(state, handle.reshape(1, -1))
    idle.pause_while_full(state, 0)
functions = [loops.call_every_atomic, ring.producer_claim, ring.producer_publish,
             ring.consumer_available, ring.consumer_release, ring.consumer_has_data,
             idle.idle, idle.sleep_on_doorbell, idle.pause_while_full]
print(json.dumps({{
    "warnings": [str(w.message) for w in caught if issubclass(w.category, NumbaWarning)],
    "hits": {{f.__name__: sum(f.stats.cache_hits.values()) for f in functions}},
    "misses": {{f.__name__: sum(f.stats.cache_misses.values()) for f in functions}},
}}))
"""


@pytest.mark.slow
def test_jitted_functions_calling_the_atomics_should_compile_with_cache_and_load_from_it(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    script = CACHE_CHECK.format(tests=loops.HERE)

    def run():
        return json.loads(loops.python("-c", script, env=env).stdout.strip().splitlines()[-1])

    first = run()
    assert first["warnings"] == []
    assert all(first["misses"].values()), first  # compiled now, with an empty cache dir
    assert list(tmp_path.rglob("*.nbi")), "nothing was written to the cache"
    second = run()
    assert second["warnings"] == []
    assert all(second["hits"].values()), second
    assert not any(second["misses"].values()), second
