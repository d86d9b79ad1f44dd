"""The inspector's one-pass percentiles over every hop agree with engine.histogram_read's."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpipe.engine.histogram_read import percentiles_by_row, percentiles_of_buckets
from tickpipe.shm_layouts.histogram import N_BUCKETS

sparse_rows = st.lists(
    st.dictionaries(st.integers(0, N_BUCKETS - 1), st.integers(0, 10**12), max_size=12),
    min_size=1, max_size=7)


@given(sparse_rows)
@settings(max_examples=200, deadline=None)
def test_percentiles_by_row_when_any_histograms_then_same_as_one_at_a_time(rows):
    buckets = np.zeros((len(rows), N_BUCKETS), dtype=np.int64)
    for index, row in enumerate(rows):
        for bucket, count in row.items():
            buckets[index, bucket] = count
    assert percentiles_by_row(buckets) == [percentiles_of_buckets(row) for row in buckets]


def test_percentiles_by_row_when_max_given_then_max_is_exact_and_empty_rows_are_none():
    buckets = np.zeros((2, N_BUCKETS), dtype=np.int64)
    buckets[1, 100] = 3
    first, second = percentiles_by_row(buckets, np.array([0, 1234]))
    assert first == {"count": 0, "p50": None, "p90": None, "p99": None, "p999": None, "max": None}
    assert second["count"] == 3 and second["max"] == 1234
