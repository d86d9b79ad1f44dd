"""Record into and read from the log-linear latency histograms in the segment.

Writers are the jitted hot loops (one writer per histogram, plain stores, no
lock, no syscall); readers are the supervisor's report and the inspector.
"""

import numpy as np
from numba import njit

from shm_layouts.histogram import (
    HISTOGRAM_DTYPE, HW_BUCKETS, HW_COUNT, HW_MAX, HW_MIN, HW_OVERFLOW, HW_SUM, LINEAR_LIMIT,
    MAX_EXPONENT, N_BUCKETS, bucket_low_value,
)

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


@njit(cache=True, inline="always")
def bucket_index(value):
    """Bucket of a non-negative ns value (see shm_layouts/histogram.py)."""
    if value < LINEAR_LIMIT:
        return value
    msb = 0
    v = value
    if v >= 1 << 32:
        v >>= 32
        msb += 32
    if v >= 1 << 16:
        v >>= 16
        msb += 16
    if v >= 1 << 8:
        v >>= 8
        msb += 8
    if v >= 1 << 4:
        v >>= 4
        msb += 4
    if v >= 1 << 2:
        v >>= 2
        msb += 2
    if v >= 1 << 1:
        msb += 1
    if msb > MAX_EXPONENT:
        return -1
    shift = msb - 5
    return LINEAR_LIMIT + (shift - 1) * 32 + (value >> shift) - 32


@njit(cache=True)
def record_value(words, value):
    """Add one ns value to a histogram viewed as uint64 words. Negative values count as 0."""
    if value < 0:
        value = 0
    index = bucket_index(value)
    if index < 0:
        index = N_BUCKETS - 1
        words[HW_OVERFLOW] += 1
    words[HW_BUCKETS + index] += 1
    words[HW_SUM] += value
    if words[HW_COUNT] == 0 or value < words[HW_MIN]:
        words[HW_MIN] = value
    if value > words[HW_MAX]:
        words[HW_MAX] = value
    words[HW_COUNT] += 1


def percentiles(histogram) -> dict:
    """{"count", "p50", "p90", "p99", "p999", "max"} in ns from one histogram record.

    A percentile is reported as the low edge of its bucket (within 3.1%), as
    HdrHistogram does, except max, which is exact.
    """
    buckets = np.asarray(histogram["buckets"], dtype=np.uint64)
    return percentiles_of_buckets(buckets, int(histogram["max_ns"]))


def percentiles_of_buckets(buckets: np.ndarray, max_ns: int | None = None) -> dict:
    """Percentiles of a bucket array (also of the difference of two snapshots)."""
    total = int(buckets.sum())
    result = {"count": total}
    if total == 0:
        result.update({name: None for name in PERCENTILES})
        result["max"] = None
        return result
    cumulative = np.cumsum(buckets)
    for name, pct in PERCENTILES.items():
        rank = max(1, int(np.ceil(pct / 100.0 * total)))
        index = int(np.searchsorted(cumulative, rank))
        result[name] = bucket_low_value(index)
    last = int(np.flatnonzero(buckets)[-1])
    result["max"] = max_ns if max_ns is not None else bucket_low_value(last)
    return result


def empty_histograms(count: int) -> np.ndarray:
    return np.zeros(count, dtype=HISTOGRAM_DTYPE)
