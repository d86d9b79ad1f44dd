"""The SPSC ring in one process: empty, full, batches, partial claims, wrap-around, handles."""

import numpy as np
import pytest

from tickpipe.engine.ring import (
    H_DOORBELL_ADDR, H_MASK, H_PEER_CACHE, H_POSITION, RingConsumer, RingProducer,
    consumer_available, consumer_handle, consumer_has_data, consumer_release, init_ring,
    producer_claim, producer_handle, producer_publish, ring_header, ring_records, ring_words,
)
from tickpipe.engine.segment import SectionSpec
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.ring_header import RING_DOORBELL_OFFSET, RING_RECORDS_OFFSET, ring_section_size


class Ring:
    """Both sides of one ring in this process, moving records whose word 0 is a sequence."""

    def __init__(self, segment, section="data"):
        self.segment = segment
        self.header = ring_header(segment, section)
        self.words = ring_words(segment, section)
        self.producer = producer_handle(segment, section)
        self.consumer = consumer_handle(segment, section)
        self.capacity = int(self.header["capacity"])
        self.next_seq = 1

    def claim(self, wanted):
        return int(producer_claim(self.producer, wanted))

    def write(self, count):
        """Fill `count` claimed slots with the next sequence numbers (not published:
        word 0, the seq, is stored by publish)."""
        position = int(self.producer[H_POSITION])
        for i in range(count):
            self.words[(position + i) & int(self.producer[H_MASK]), 1:] = self.next_seq
            self.next_seq += 1

    def push(self, wanted):
        """Claim up to `wanted`, write and publish them; returns how many."""
        count = self.claim(wanted)
        self.write(count)
        if count:
            producer_publish(self.producer, count)
        return count

    def available(self, wanted):
        return int(consumer_available(self.consumer, wanted))

    def pop(self, wanted):
        """Read and release up to `wanted`; returns their sequence numbers."""
        count = self.available(wanted)
        position = int(self.consumer[H_POSITION])
        seqs = [int(self.words[(position + i) & int(self.consumer[H_MASK]), 7]) for i in range(count)]
        if count:
            consumer_release(self.consumer, count)
        return seqs

    def drain(self):
        """Pop until empty (a pop may stop at the consumer's cached head)."""
        seqs = []
        while batch := self.pop(self.capacity):
            seqs += batch
        return seqs

    @property
    def head(self):
        return int(self.header["head"])

    @property
    def tail(self):
        return int(self.header["tail"])


@pytest.fixture
def ring(segments):
    return Ring(segments.ring(capacity=8))


def test_new_ring_should_be_empty_with_every_slot_free(ring):
    assert ring.available(10) == 0
    assert ring.pop(10) == []
    assert not consumer_has_data(ring.consumer)
    assert ring.claim(100) == 8
    assert (ring.head, ring.tail) == (0, 0)
    assert int(ring.header["mask"]) == 7


def test_consumer_should_not_see_claimed_records_before_publish(ring):
    assert ring.claim(3) == 3
    ring.write(3)
    assert ring.available(3) == 0
    assert not consumer_has_data(ring.consumer)
    assert ring.head == 0
    producer_publish(ring.producer, 3)
    assert ring.head == 3  # one index store for the batch
    assert consumer_has_data(ring.consumer)
    assert ring.pop(10) == [1, 2, 3]


def test_producer_should_find_the_ring_full_after_capacity_records_and_count_each_full_wait(ring):
    assert ring.push(8) == 8
    assert ring.claim(1) == 0
    assert ring.claim(4) == 0
    assert int(ring.header["full_waits"]) == 2
    assert ring.pop(100) == list(range(1, 9))
    assert ring.available(1) == 0


def test_producer_should_reuse_slots_only_after_the_consumer_releases_them(ring):
    ring.push(8)
    assert ring.available(3) == 3  # read, not yet released
    assert ring.claim(3) == 0
    consumer_release(ring.consumer, 3)
    assert ring.tail == 3
    assert ring.claim(5) == 3


def test_claim_should_return_only_the_free_part_when_the_ring_is_nearly_full(ring):
    assert ring.push(6) == 6
    assert ring.push(5) == 2
    assert ring.push(1) == 0
    assert ring.pop(3) == [1, 2, 3]
    assert ring.push(5) == 3
    assert ring.drain() == list(range(4, 12))


def test_consumer_should_get_at_most_the_wanted_count_and_the_rest_later(ring):
    ring.push(5)
    assert ring.pop(2) == [1, 2]
    assert ring.pop(2) == [3, 4]
    assert ring.pop(2) == [5]
    assert ring.pop(2) == []


@pytest.mark.parametrize("producer_batch, consumer_batch", [(5, 3), (3, 5), (7, 7), (1, 8), (8, 1)])
def test_records_should_come_out_in_order_over_many_laps(segments, producer_batch, consumer_batch):
    ring = Ring(segments.ring(capacity=8))
    received = []
    while len(received) < 1000:
        ring.push(min(producer_batch, 1001 - ring.next_seq))
        received += ring.pop(consumer_batch)
    assert received == list(range(1, 1001))
    assert ring.head == ring.tail == 1000  # 125 laps past the capacity


def test_ring_should_wrap_correctly_from_a_large_sequence_number(segments):
    segment = segments.ring(capacity=8)
    header = ring_header(segment, "data")
    start = (1 << 40) - 3  # slot 5: the first batch wraps past the end of the records
    header["head"] = header["tail"] = start
    ring = Ring(segment)
    assert int(ring.producer[H_POSITION]) == int(ring.consumer[H_POSITION]) == start
    for _ in range(20):
        assert ring.push(6) == 6
        seqs = ring.pop(6)
        assert seqs == list(range(ring.next_seq - 6, ring.next_seq))
    assert ring.head == ring.tail == start + 120


def test_new_handles_should_resume_at_the_shared_indices(segments):
    segment = segments.ring(capacity=8)
    first = Ring(segment)
    first.push(5)
    first.pop(2)
    second = Ring(segment)
    second.next_seq = first.next_seq
    assert int(second.producer[H_POSITION]) == 5
    assert int(second.consumer[H_POSITION]) == 2
    assert second.claim(8) == 5  # 3 unread records still hold their slots
    second.push(2)
    assert second.drain() == [3, 4, 5, 6, 7]


def test_consumer_should_find_records_by_their_own_seq_and_never_wait_on_head(ring):
    ring.push(3)
    ring.header["head"] = 0  # head is for tools: the consumer must not need it
    assert ring.pop(10) == [1, 2, 3]
    assert int(ring.consumer[H_PEER_CACHE]) == 3  # seen published up to position 3
    assert ring.pop(10) == []


def test_consumer_should_not_rescan_records_it_already_found_ready(ring):
    ring.push(4)
    assert ring.available(4) == 4
    ring.words[0, 0] = 0  # were the slot read again it would look unpublished
    assert ring.pop(2) == [1, 2]
    assert ring.pop(10) == [3, 4]


def test_producer_should_reread_the_tail_only_when_its_cached_copy_says_full(ring):
    ring.push(8)
    ring.pop(8)
    assert int(ring.producer[H_PEER_CACHE]) == 0
    assert ring.claim(1) == 1  # a stale cache still shows 0 free ... re-read: 8 free
    assert int(ring.producer[H_PEER_CACHE]) == 8


def test_high_water_should_record_the_most_records_the_consumer_found_ready_at_once(ring):
    ring.push(3)
    ring.pop(10)
    ring.push(5)
    ring.pop(10)
    ring.push(2)
    ring.pop(10)
    assert int(ring.header["high_water"]) == 5


def test_high_water_should_take_the_backlog_from_head_when_a_batch_comes_back_full(ring):
    ring.push(7)
    assert ring.pop(2) == [1, 2]  # a full batch: the consumer is behind, so it reads head
    assert int(ring.header["high_water"]) == 7


def test_publish_should_never_make_a_wake_syscall_when_the_consumer_may_not_sleep(segments):
    segment = segments.ring(capacity=8, consumer_may_sleep=False)
    ring = Ring(segment)
    ring.header["doorbell_armed"] = 1  # even an armed doorbell is not rung
    for _ in range(4):
        count = ring.claim(2)
        ring.write(count)
        assert producer_publish(ring.producer, count) == 0
    assert int(ring.header["doorbell_wake_seq"]) == 0
    assert ring.pop(10) == list(range(1, 9))


def test_publish_should_ring_the_doorbell_only_when_the_consumer_armed_it(segments):
    ring = Ring(segments.ring(capacity=8, consumer_may_sleep=True))
    ring.claim(1)
    ring.write(1)
    assert producer_publish(ring.producer, 1) == 0
    ring.header["doorbell_armed"] = 1
    ring.claim(1)
    ring.write(1)
    assert producer_publish(ring.producer, 1) == 1
    assert int(ring.header["doorbell_wake_seq"]) == 1
    assert ring.head == 2


def test_rings_given_one_doorbell_should_ring_the_same_word(segments):
    size = ring_section_size(8, 64)
    segment = segments.create([SectionSpec("a", size, 4096), SectionSpec("b", size, 4096)],
                              ready=False)
    a_offset = segment.section("a")[0]
    init_ring(segment, "a", 8, 64, consumer_may_sleep=True)
    init_ring(segment, "b", 8, 64, consumer_may_sleep=True,
              doorbell_offset=a_offset + RING_DOORBELL_OFFSET)
    segment.mark_ready()
    a, b = producer_handle(segment, "a"), producer_handle(segment, "b")
    assert int(a[H_DOORBELL_ADDR]) == int(b[H_DOORBELL_ADDR]) == \
        segment.base_address + a_offset + RING_DOORBELL_OFFSET
    ring_header(segment, "a")["doorbell_armed"] = 1
    assert producer_publish(b, 0) == 1
    assert int(ring_header(segment, "a")["doorbell_wake_seq"]) == 1


@pytest.mark.parametrize("capacity", [0, 1, 3, 1000, -8, 1 << 25])
def test_init_ring_when_capacity_is_bad_then_value_error_names_it(segments, capacity):
    segment = segments.create({"data": 1 << 16}, ready=False)
    with pytest.raises(ValueError, match=f"capacity {capacity}"):
        init_ring(segment, "data", capacity, 64)


@pytest.mark.parametrize("record_size", [0, 48, 100, -64])
def test_init_ring_when_record_size_is_bad_then_value_error_names_it(segments, record_size):
    segment = segments.create({"data": 1 << 16}, ready=False)
    with pytest.raises(ValueError, match=f"record size {record_size}"):
        init_ring(segment, "data", 8, record_size)


def test_init_ring_when_the_section_is_too_small_then_value_error_says_the_sizes(segments):
    segment = segments.create({"data": RING_RECORDS_OFFSET + 8 * 64}, ready=False)
    with pytest.raises(ValueError, match="capacity 16 x 64 B"):
        init_ring(segment, "data", 16, 64)


def test_ring_records_when_the_dtype_size_differs_then_value_error(segments):
    segment = segments.ring(capacity=8, record_size=128)
    with pytest.raises(ValueError, match="128-byte records"):
        ring_records(segment, "data", MARKET_DATA_DTYPE)
    assert ring_words(segment, "data").shape == (8, 16)
    assert ring_records(segment, "data", np.dtype([("a", "u8", (16,))])).shape == (8,)


def test_ring_producer_and_consumer_should_move_structured_records_intact(segments):
    segment = segments.ring(capacity=8)
    producer = RingProducer(segment, "data", ORDER_DTYPE)
    consumer = RingConsumer(segment, "data", ORDER_DTYPE)
    batch = np.zeros(10, dtype=ORDER_DTYPE)
    batch["seq"] = np.arange(1, 11)
    batch["limit_px"] = np.arange(10) * 10_000 - 5
    batch["side"] = [1, -1] * 5
    batch["order_id"] = np.arange(100, 110)
    assert producer.try_push(batch) == 8
    out = consumer.try_pop(5)
    assert out.dtype == ORDER_DTYPE
    np.testing.assert_array_equal(out, batch[:5])
    assert producer.try_push(batch[8:]) == 2
    np.testing.assert_array_equal(consumer.try_pop(100), batch[5:])
    assert len(consumer.try_pop(100)) == 0


def test_try_push_should_stamp_each_records_seq_with_its_ring_position(segments):
    segment = segments.ring(capacity=4)
    producer = RingProducer(segment, "data", ORDER_DTYPE)
    consumer = RingConsumer(segment, "data", ORDER_DTYPE)
    batch = np.zeros(3, dtype=ORDER_DTYPE)
    batch["seq"] = 99  # ignored: the ring stamps seq as it publishes
    batch["order_id"] = [7, 8, 9]
    assert producer.try_push(batch) == 3
    out = consumer.try_pop(10)
    assert out["seq"].tolist() == [1, 2, 3]
    assert out["order_id"].tolist() == [7, 8, 9]


def test_try_pop_with_a_negative_count_should_leave_the_ring_alone(segments):
    segment = segments.ring(capacity=8)
    producer = RingProducer(segment, "data", ORDER_DTYPE)
    consumer = RingConsumer(segment, "data", ORDER_DTYPE)
    producer.try_push(np.zeros(3, dtype=ORDER_DTYPE))
    assert len(consumer.try_pop(2)) == 2
    assert len(consumer.try_pop(-1)) == 0
    assert int(ring_header(segment, "data")["tail"]) == 2


def test_claim_and_available_should_not_move_the_shared_indices(ring):
    ring.push(2)
    ring.claim(5)
    ring.available(5)
    assert (ring.head, ring.tail) == (2, 0)
