"""Wait strategies: what idle() does in each, and that a sleeping consumer is woken promptly."""

import time

import numpy as np
import pytest

import ringtest_loops as loops
from tickpipe.engine.atomics import monotonic_ns_py
from tickpipe.engine.idle import (
    I_IDLE_PASSES, I_SLEEP_TIMEOUT_NS, I_SLEEPS, I_STREAK, IDLE_DATA_ON_RECHECK, IDLE_PAUSED,
    IDLE_SLEPT, IDLE_WORKED, WAIT_BACKOFF, WAIT_BLOCK, WAIT_CODES, WAIT_SPIN, WAIT_YIELD,
    check_wait, idle, make_idle_state, pause_while_full, sleep_on_doorbell,
)
from tickpipe.engine.ring import (
    H_DOORBELL_ADDR, H_MASK, H_POSITION, consumer_handle, producer_claim, producer_handle,
    producer_publish, ring_header, ring_words,
)

SHORT_SLEEP_NS = 2_000_000


@pytest.fixture
def ring(segments):
    """(segment, header, inputs): an empty sleeping-consumer ring and its consumer's inputs array."""
    segment = segments.ring(capacity=8, consumer_may_sleep=True)
    return segment, ring_header(segment, "data"), consumer_handle(segment, "data").reshape(1, -1)


def state_for(strategy, inputs, **kwargs):
    return make_idle_state(strategy, int(inputs[0, H_DOORBELL_ADDR]), **kwargs)


def publish_one(segment):
    handle = producer_handle(segment, "data")
    assert producer_claim(handle, 1) == 1
    return producer_publish(handle, 1)


@pytest.mark.parametrize("name", ["spin", "yield", "backoff", "block"])
def test_check_wait_should_accept_every_strategy_name(name):
    assert check_wait(name) == WAIT_CODES[name]


@pytest.mark.parametrize("name", ["", "Spin", "sleep", "busy"])
def test_check_wait_when_the_name_is_unknown_then_value_error_names_it(name):
    with pytest.raises(ValueError, match=f"wait strategy {name!r}"):
        check_wait(name)


def test_idle_after_work_should_do_nothing_and_reset_the_streak(ring):
    _, _, inputs = ring
    state = state_for(WAIT_SPIN, inputs)
    idle(state, 0, inputs)
    idle(state, 0, inputs)
    assert state[I_STREAK] == 2
    assert idle(state, 3, inputs) == IDLE_WORKED
    assert state[I_STREAK] == 0
    assert state[I_IDLE_PASSES] == 2


@pytest.mark.parametrize("strategy", [WAIT_SPIN, WAIT_YIELD])
def test_spin_and_yield_should_pause_without_ever_sleeping(ring, strategy):
    _, header, inputs = ring
    state = state_for(strategy, inputs)
    assert all(idle(state, 0, inputs) == IDLE_PAUSED for _ in range(5000))
    assert state[I_SLEEPS] == 0
    assert state[I_IDLE_PASSES] == 5000
    assert int(header["doorbell_armed"]) == 0


def test_backoff_should_spin_then_yield_then_sleep_on_the_doorbell(ring):
    _, header, inputs = ring
    state = state_for(WAIT_BACKOFF, inputs, spin_limit=3, yield_limit=2, sleep_timeout_ns=SHORT_SLEEP_NS)
    results = [idle(state, 0, inputs) for _ in range(7)]
    assert results == [IDLE_PAUSED] * 5 + [IDLE_SLEPT] * 2
    assert state[I_SLEEPS] == 2
    assert int(header["doorbell_armed"]) == 0  # disarmed after each sleep
    idle(state, 1, inputs)
    assert idle(state, 0, inputs) == IDLE_PAUSED  # work restarts the backoff


def test_block_should_sleep_at_once_until_the_timeout_when_nothing_comes(ring):
    _, header, inputs = ring
    state = state_for(WAIT_BLOCK, inputs, sleep_timeout_ns=20_000_000)
    start = time.monotonic()
    assert idle(state, 0, inputs) == IDLE_SLEPT
    assert 0.015 < time.monotonic() - start < 5
    assert state[I_SLEEPS] == 1
    assert int(header["doorbell_armed"]) == 0


@pytest.mark.parametrize("strategy", [WAIT_BACKOFF, WAIT_BLOCK])
def test_consumer_should_not_sleep_when_the_recheck_finds_a_record(ring, strategy):
    segment, header, inputs = ring
    assert publish_one(segment) == 0  # not armed: no syscall
    state = state_for(strategy, inputs, spin_limit=0, yield_limit=0, sleep_timeout_ns=10**10)
    start = time.monotonic()
    assert sleep_on_doorbell(state, inputs) == IDLE_DATA_ON_RECHECK
    assert idle(state, 0, inputs) == IDLE_DATA_ON_RECHECK
    assert time.monotonic() - start < 8  # a sleep would take 10 s (its timeout)
    assert state[I_SLEEPS] == 0
    assert int(header["doorbell_armed"]) == 0


def test_pause_while_full_should_never_sleep_whatever_the_strategy(ring):
    # A producer waiting for room must see it at once: pausing never sleeps on a
    # doorbell (nobody rings a producer's). The margin is the sleep's own: with a
    # 100 s sleep timeout a single sleep would take the calls past 50 s, where 400
    # yields take ~5 s on a core shared with a busy suite (a 1 s bound failed there).
    _, header, inputs = ring
    start = time.monotonic()
    for strategy in WAIT_CODES.values():
        state = state_for(strategy, inputs)
        state[I_SLEEP_TIMEOUT_NS] = 100_000_000_000
        for streak in list(range(0, 2000, 20)):
            pause_while_full(state, streak)
        assert state[I_SLEEPS] == 0 and int(header["doorbell_armed"]) == 0
    assert time.monotonic() - start < 50.0


@pytest.mark.parametrize("wait, count", [("spin", 50_000), ("yield", 100_000), ("backoff", 200_000),
                                         ("block", 200_000)])
def test_consumer_with_each_wait_strategy_should_receive_every_record(segments, two_cores, wait, count):
    segment = segments.ring(4096, consumer_may_sleep=loops.may_sleep(wait))
    consumer, producer = loops.run_pair(segment.name, two_cores, count, producer_batch=13,
                                        consumer_batch=7, wait=wait)
    loops.assert_every_record_received(consumer["stats"], count, loops.PATTERN_MIXED)
    if not loops.may_sleep(wait):
        assert consumer["idle_state"][I_SLEEPS] == 0
        # the fast path of a ring whose consumer never sleeps makes no wake syscall
        assert int(producer["wakes"]) == 0


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.001)


@pytest.mark.parametrize("wait", ["backoff", "block"])
def test_sleeping_consumer_should_be_woken_by_the_publish_long_before_its_timeout(segments, two_cores,
                                                                                  wait):
    rounds, timeout_ns = 5, 10 * 10**9
    segment = segments.ring(8, consumer_may_sleep=True)
    header = ring_header(segment, "data")
    words = ring_words(segment, "data")
    producer = producer_handle(segment, "data")
    consumer = loops.Side("consume", segment.name, core=two_cores[1], wait=wait, count=rounds,
                          times=rounds, sleep_timeout_ns=timeout_ns)
    try:
        published_ns = []
        for seq in range(1, rounds + 1):
            # the consumer has read everything so far and armed its doorbell: it sleeps
            wait_until(lambda: int(header["tail"]) == seq - 1 and int(header["doorbell_armed"]) == 1,
                       loops.SIDE_TIMEOUT_S, f"the consumer to sleep before record {seq}")
            time.sleep(0.02)
            assert producer_claim(producer, 1) == 1
            slot = int(producer[H_POSITION]) & int(producer[H_MASK])
            words[slot, 1:] = loops.record_words(seq, loops.PATTERN_MIXED)[1:]  # publish stores seq
            published_ns.append(monotonic_ns_py())
            assert producer_publish(producer, 1) == 1  # it made the wake syscall
        result = consumer.finish(loops.SIDE_TIMEOUT_S)
    finally:
        consumer.kill()
    assert int(result["stats"][loops.S_RECEIVED]) == rounds
    assert int(result["stats"][loops.S_TORN]) == 0
    assert result["idle_state"][I_SLEEPS] >= rounds
    wake_latency_ns = result["times"] - np.array(published_ns)
    assert (wake_latency_ns > 0).all()
    assert wake_latency_ns.max() < timeout_ns / 20, f"woken after {wake_latency_ns} ns"


@pytest.mark.parametrize("strategy", sorted(WAIT_CODES))
def test_wait_while_full_should_stamp_the_heartbeat_after_every_yield(ring, strategy):
    # A yield on a loaded core costs a scheduler slice (~2 ms per runnable task: 256 of
    # them took 1.24 s beside 8 busy loops on 2 cores), so a producer held up by a
    # stopped consumer must stamp after each, or a 1 s heartbeat timeout kills it. A
    # spinner's pause (streak < 1000) is ~40 ns: it stamps every 64th only.
    from tickpipe.engine.batch import wait_while_full
    from tickpipe.shm_layouts.worker_table import W_HEARTBEAT_NS, WORKER_ROW_SIZE
    _, _, inputs = ring
    state = state_for(WAIT_CODES[strategy], inputs)
    row_words = np.zeros(WORKER_ROW_SIZE // 8, dtype=np.uint64)
    for streak in (1, 2, 3, 1001):
        row_words[W_HEARTBEAT_NS] = 0
        wait_while_full(row_words, state, streak)
        pauses = strategy == "spin" and streak < 1000
        assert (row_words[W_HEARTBEAT_NS] == 0) == pauses, (strategy, streak)


@pytest.mark.parametrize("strategy", sorted(WAIT_CODES))
def test_an_idle_pass_of_a_worker_that_does_not_spin_stamps_the_heartbeat(ring, strategy):
    # Its idle pass handed the core round (a yield: a scheduler slice on a loaded core,
    # 64 of them outlasted a 1 s heartbeat timeout) or slept: it stamps each. A spinner
    # stamps every 64th pass only, busy or idle; a busy pass of anyone likewise.
    from tickpipe.engine.batch import account_pass
    from tickpipe.shm_layouts.worker_table import W_HEARTBEAT_NS, WORKER_ROW_SIZE
    _, _, inputs = ring
    state = state_for(WAIT_CODES[strategy], inputs)
    row_words = np.zeros(WORKER_ROW_SIZE // 8, dtype=np.uint64)
    for work, passes in ((0, 5), (3, 5), (0, 64)):
        row_words[W_HEARTBEAT_NS] = 0
        account_pass(row_words, state, work, passes)
        stamped = passes % 64 == 0 or (work == 0 and strategy != "spin")
        assert (row_words[W_HEARTBEAT_NS] != 0) == stamped, (strategy, work, passes)
