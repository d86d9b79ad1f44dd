"""Record into the log-linear latency histograms in the segment (jitted writers).

One writer per histogram, plain stores, no lock, no syscall. Reading is in
engine/histogram_read.py, which tools import without numba.
"""

import numpy as np
from numba import njit

from tickpipe.shm_layouts.histogram import (
    HW_BUCKETS, HW_COUNT, HW_MAX, HW_MIN, HW_OVERFLOW, HW_SUM, LINEAR_LIMIT, MAX_EXPONENT,
    N_BUCKETS,
)


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
    exact = np.uint64(value)  # uint64 against the uint64 words: no detour through float64
    words[HW_SUM] += exact
    if words[HW_COUNT] == 0 or exact < words[HW_MIN]:
        words[HW_MIN] = exact
    if exact > words[HW_MAX]:
        words[HW_MAX] = exact
    words[HW_COUNT] += 1

