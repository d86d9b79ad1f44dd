"""The log-linear latency histogram: bucketing, recording and percentiles."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tickpipe.engine.histogram import bucket_index, record_value
from tickpipe.engine.histogram_read import PERCENTILES, percentiles, percentiles_of_buckets
from tickpipe.shm_layouts.histogram import (
    HISTOGRAM_DTYPE, HW_BUCKETS, HW_COUNT, HW_MAX, HW_MIN, HW_OVERFLOW, HW_SUM, LINEAR_LIMIT,
    N_BUCKETS, bucket_low_value,
)

TOP = 1 << 41  # the first value past the last bucket (which starts at 63 << 35)
EDGES = [0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 10**6, 10**9,
         2**40 - 1, 2**40, 2**40 + 1, TOP - 1]


def new_histogram():
    """One histogram record and the uint64 words view the jitted writer takes."""
    record = np.zeros(1, dtype=HISTOGRAM_DTYPE)
    return record, record.view(np.uint64)


def record_all(values):
    record, words = new_histogram()
    for value in values:
        record_value(words, value)
    return record[0], words


def values_around_every_power_of_two():
    values = set(EDGES)
    for exponent in range(1, 41):
        power = 1 << exponent
        values.update({power - 1, power, power + 1, power + power // 3})
    return sorted(values)


def test_bucket_index_when_a_value_is_bucketed_then_it_lies_between_its_low_edge_and_the_next():
    for value in values_around_every_power_of_two():
        index = bucket_index(value)
        assert 0 <= index < N_BUCKETS, value
        upper = bucket_low_value(index + 1) if index + 1 < N_BUCKETS else TOP
        assert bucket_low_value(index) <= value < upper, (value, index)


def test_bucket_low_value_when_mapped_back_then_every_bucket_starts_at_its_own_low_edge():
    lows = [bucket_low_value(index) for index in range(N_BUCKETS)]
    assert lows == sorted(set(lows))  # strictly increasing
    assert [bucket_index(low) for low in lows] == list(range(N_BUCKETS))


def test_bucket_index_when_below_64_then_every_value_has_its_own_bucket():
    assert [bucket_index(v) for v in range(LINEAR_LIMIT)] == list(range(LINEAR_LIMIT))


def test_bucket_width_when_above_64_then_it_is_at_most_a_32nd_of_the_low_edge():
    for index in range(LINEAR_LIMIT, N_BUCKETS - 1):
        low = bucket_low_value(index)
        assert (bucket_low_value(index + 1) - low) * 32 <= low, index


@pytest.mark.parametrize("value", [TOP, TOP + 1, 2**50, 2**62])
def test_bucket_index_when_past_the_last_bucket_then_minus_one(value):
    assert bucket_index(value) == -1


def test_record_value_when_past_the_last_bucket_then_it_counts_as_overflow_in_the_last_bucket():
    histogram, words = record_all([TOP - 1, TOP, 2**50])
    assert int(histogram["overflow"]) == 2
    assert int(histogram["buckets"][N_BUCKETS - 1]) == 3
    assert int(histogram["max_ns"]) == 2**50


def test_record_value_when_values_are_recorded_then_count_sum_min_max_are_kept():
    values = [500, 3, 70_000, 64, 12]
    histogram, _ = record_all(values)
    assert (int(histogram["count"]), int(histogram["sum_ns"]), int(histogram["min_ns"]),
            int(histogram["max_ns"])) == (5, sum(values), 3, 70_000)
    assert int(histogram["buckets"].sum()) == 5 and int(histogram["overflow"]) == 0
    for value in values:
        assert histogram["buckets"][bucket_index(value)] >= 1


def test_record_value_when_a_value_is_negative_then_it_counts_as_zero():
    histogram, _ = record_all([-5, 10])
    assert (int(histogram["min_ns"]), int(histogram["sum_ns"]), int(histogram["buckets"][0])) \
        == (0, 10, 1)


def test_record_value_when_the_first_value_is_large_then_it_is_also_the_minimum():
    histogram, _ = record_all([1_000_000])
    assert int(histogram["min_ns"]) == int(histogram["max_ns"]) == 1_000_000


def test_histogram_words_when_viewed_as_uint64_then_they_match_the_record_fields():
    histogram, words = record_all([100])
    assert [int(words[i]) for i in (HW_COUNT, HW_SUM, HW_MIN, HW_MAX, HW_OVERFLOW)] \
        == [1, 100, 100, 100, 0]
    assert int(words[HW_BUCKETS + bucket_index(100)]) == 1


def test_record_value_when_values_exceed_2_to_the_53_then_max_is_still_exact():
    histogram, _ = record_all([2**53, 2**53 + 1])
    assert int(histogram["max_ns"]) == 2**53 + 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**36), min_size=1, max_size=400))
def test_percentiles_when_a_sample_is_recorded_then_they_agree_with_numpy_within_3_2_percent(
        sample):
    histogram, _ = record_all(sample)
    reported = percentiles(histogram)
    assert reported["count"] == len(sample)
    assert reported["max"] == max(sample)
    for name, pct in PERCENTILES.items():
        exact = int(np.percentile(sample, pct, method="inverted_cdf"))
        assert reported[name] <= exact, name  # the low edge of the exact value's bucket
        assert exact - reported[name] <= 0.032 * exact, (name, exact, reported[name])


def test_percentiles_of_buckets_when_the_histogram_is_empty_then_every_value_is_none():
    assert percentiles_of_buckets(np.zeros(N_BUCKETS, dtype=np.uint64)) == \
        {"count": 0, "p50": None, "p90": None, "p99": None, "p999": None, "max": None}


def test_percentiles_of_buckets_when_no_max_is_given_then_max_is_the_last_bucket_low_edge():
    buckets = np.zeros(N_BUCKETS, dtype=np.uint64)
    buckets[bucket_index(1000)] = 1
    assert percentiles_of_buckets(buckets)["max"] == bucket_low_value(bucket_index(1000)) == 992


def test_percentiles_of_buckets_when_the_rank_is_a_whole_number_then_p999_is_that_rank():
    buckets = np.zeros(N_BUCKETS, dtype=np.uint64)
    buckets[bucket_index(100)] = 9990
    buckets[bucket_index(1000)] = 10
    assert percentiles_of_buckets(buckets)["p999"] == 100
