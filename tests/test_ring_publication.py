"""The publication rule: each record publishes itself through its `seq` word.

A record is visible only after the producer's release-store of its seq, never
before, even when the producer dies between writing its fields and storing seq;
a slot of the previous lap never looks ready; no wake-up of a sleeping consumer
is lost; a restarted producer or consumer resumes at the right slot.
"""

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ringtest_loops as loops
from tickpipe.engine.ring import (
    H_POSITION, H_RECORDS_ADDR, RingConsumer, RingProducer, consumer_available, consumer_handle,
    consumer_has_data, consumer_release, init_ring, producer_claim, producer_handle, ring_header,
    ring_words,
)
from tickpipe.engine.idle import I_SLEEPS
from tickpipe.engine.segment import SectionSpec
from tickpipe.shm_layouts.ring_header import RING_ALIGN, ring_section_size

# A writer process that attaches, claims, writes part of its records, then
# stops dead (SIGKILL to itself) at the point the test names.
HALF_WRITER = textwrap.dedent("""
    import os, signal, sys
    from tickpipe.engine.atomics_lib import lib
    from tickpipe.engine.ring import (H_HEAD_ADDR, H_MASK, H_POSITION, H_RECORD_SIZE, H_RECORDS_ADDR,
                             producer_claim, producer_handle, ring_words)
    from tickpipe.engine.segment import attach_segment
    segment = attach_segment(sys.argv[1])
    handle = producer_handle(segment, "data")
    words = ring_words(segment, "data")
    count = int(sys.argv[3])
    assert producer_claim(handle, count) == count
    position = int(handle[H_POSITION])
    for i in range(count):
        words[(position + i) & int(handle[H_MASK]), 1:4] = 1000 + i  # half of each record
    if sys.argv[2] == "seqs-stored":
        # the seq stores of publish, then death before its head store: publish's own
        # code with a scratch word standing in for head
        scratch = segment.base_address + 200  # inside the ring header's unused padding
        lib.tp_ring_publish(int(handle[H_RECORDS_ADDR]), int(handle[H_MASK]),
                            int(handle[H_RECORD_SIZE]), position, count, scratch, 0)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")


def run_half_writer(segment, stop_at: str, count: int) -> None:
    done = subprocess.run([sys.executable, "-c", HALF_WRITER, segment.name, stop_at, str(count)],
                          capture_output=True, text=True, timeout=loops.SIDE_TIMEOUT_S)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout == "ready\n"


def test_record_should_not_be_visible_when_its_writer_died_before_storing_seq(segments):
    segment = segments.ring(capacity=8)
    run_half_writer(segment, "fields-written", 3)
    consumer = consumer_handle(segment, "data")
    assert consumer_available(consumer, 8) == 0
    assert consumer_has_data(consumer) == 0
    # the restarted producer starts at the same slot and the consumer gets whole records
    producer = RingProducer(segment, "data", np.dtype([("w", "u8", (8,))]))
    assert int(producer.handle[H_POSITION]) == 0
    batch = np.zeros(2, dtype=producer.records.dtype)
    batch["w"][:, 1:] = [[5] * 7, [6] * 7]
    assert producer.try_push(batch) == 2
    out = RingConsumer(segment, "data", producer.records.dtype).try_pop(8)
    assert out["w"].tolist() == [[1] + [5] * 7, [2] + [6] * 7]


def test_restarted_producer_should_resume_after_records_published_before_its_head_store(segments):
    segment = segments.ring(capacity=8)
    run_half_writer(segment, "seqs-stored", 3)
    header = ring_header(segment, "data")
    assert int(header["head"]) == 0  # it died before the head store
    consumer = consumer_handle(segment, "data")
    assert consumer_available(consumer, 8) == 3  # yet the records are published
    consumer_release(consumer, 1)
    producer = producer_handle(segment, "data")
    assert int(producer[H_POSITION]) == 3  # never overwrites published records
    assert int(header["head"]) == 3        # and repairs head for tools and the drain
    assert producer_claim(producer, 8) == 6


def test_restarted_consumer_should_resume_at_the_first_record_it_did_not_release(segments):
    segment = segments.ring(capacity=8)
    producer = RingProducer(segment, "data", np.dtype([("w", "u8", (8,))]))
    producer.try_push(np.zeros(5, dtype=producer.records.dtype))
    first = consumer_handle(segment, "data")
    assert consumer_available(first, 8) == 5
    consumer_release(first, 2)  # read 5, released 2, then died
    second = consumer_handle(segment, "data")
    assert int(second[H_POSITION]) == 2
    assert consumer_available(second, 8) == 3
    words = ring_words(segment, "data")
    assert [int(words[(2 + i) & 7, 0]) for i in range(3)] == [3, 4, 5]


@pytest.fixture(scope="module")
def two_slot_segment(module_segments):
    return module_segments.create([SectionSpec("data", ring_section_size(2, 64), RING_ALIGN)])


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=50, max_size=400),
       start=st.sampled_from([0, 1, 2, (1 << 40) + 1]))
def test_stale_slot_from_the_previous_lap_should_never_be_read_as_ready(two_slot_segment, steps,
                                                                        start):
    segment = two_slot_segment
    init_ring(segment, "data", 2, 64)
    header = ring_header(segment, "data")
    header["head"] = header["tail"] = start
    producer = RingProducer(segment, "data", np.dtype([("w", "u8", (8,))]))
    consumer = consumer_handle(segment, "data")
    words = ring_words(segment, "data")
    in_ring = 0
    for push, pop in steps:
        in_ring += producer.try_push(np.zeros(push, dtype=producer.records.dtype))
        # a fresh consumer handle each time: no cached knowledge, only the seq words
        probe = consumer_handle(segment, "data")
        assert consumer_available(probe, 2) == in_ring
        assert consumer_has_data(probe) == (in_ring > 0)
        taken = int(consumer_available(consumer, pop))
        assert taken == min(pop, in_ring)
        position = int(consumer[H_POSITION])
        assert [int(words[(position + i) & 1, 0]) for i in range(taken)] == \
            [position + i + 1 for i in range(taken)]
        consumer_release(consumer, taken)
        in_ring -= taken
    assert int(consumer[H_RECORDS_ADDR]) == segment.base_address + segment.section("data")[0] + 1024


def test_blocking_consumer_should_never_lose_a_wake_up(segments, two_cores):
    # The consumer sleeps with no futex timeout at all, and the producer publishes
    # each record only once the one before is released, so the consumer goes back
    # to sleep between any two: a single lost wake-up leaves a record unread for
    # good, and the producer's 2 s wait for it counts it.
    rounds = 20_000
    segment = segments.ring(8, consumer_may_sleep=True)
    consumer, producer = loops.run_sides([
        loops.Side("consume", segment.name, core=two_cores[1], wait="block", count=rounds,
                   sleep_timeout_ns=-1),
        loops.Side("produce-lockstep", segment.name, core=two_cores[0], count=rounds)])
    assert int(producer["lost"]) == 0
    loops.assert_every_record_received(consumer["stats"], rounds, loops.PATTERN_MIXED)
    assert consumer["idle_state"][I_SLEEPS] >= rounds // 2  # it really slept in between
