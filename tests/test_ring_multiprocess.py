"""Two pinned processes over one ring: every record arrives once, in order, whole.

The sides are tests/ringtest_loops.py processes (numba loops); every one is
bounded by a timeout and killed if it overruns. Waiting sides use backoff or
block: this machine has two cores and is shared.
"""

import pytest

import ringtest_loops as loops
from tickpipe.bench.ring_runs import tickpipe_throughput


def assert_pair_moves_every_record(segments, cores, count, *, capacity, producer_batch,
                                   consumer_batch, wait="backoff", pattern="mixed"):
    segment = segments.ring(capacity, consumer_may_sleep=loops.may_sleep(wait))
    consumer, _ = loops.run_pair(segment.name, cores, count, producer_batch=producer_batch,
                                 consumer_batch=consumer_batch, wait=wait, pattern=pattern)
    loops.assert_every_record_received(consumer["stats"], count, loops.PATTERNS[pattern])


@pytest.mark.slow
def test_consumer_should_receive_ten_million_records_in_order_with_the_closed_form_checksum(
        segments, two_cores):
    # 32768 slots: a side that loses its core to another process for a time
    # slice leaves its peer room to go on; still 300 laps.
    assert_pair_moves_every_record(segments, two_cores, 10_000_000, capacity=1 << 15,
                                   producer_batch=100, consumer_batch=37)


@pytest.mark.parametrize("producer_batch, consumer_batch, wait", [(1, 3, "backoff"), (5, 7, "block")])
def test_consumer_should_not_read_a_record_part_way_through_writing(
        segments, two_cores, producer_batch, consumer_batch, wait):
    # Every word of a record holds its sequence number, written one by one. A
    # 64-slot ring laps every 64 records, so a slot is rewritten while the
    # consumer may still be near it: a record published early, or a slot freed
    # before it was read, shows words of two records.
    assert_pair_moves_every_record(segments, two_cores, 3_000_000, capacity=64,
                                   producer_batch=producer_batch, consumer_batch=consumer_batch,
                                   wait=wait, pattern="equal")


def test_bench_throughput_should_check_every_record_with_a_batch_that_is_not_a_power_of_two(two_cores):
    # bench.ring_side's consumer counts records out of order; a nonzero count fails the run.
    assert tickpipe_throughput(two_cores, "block", 200_000, 37, capacity=256) > 0
