"""Percentiles from the log-linear histograms in the segment (numpy only; for tools).

A percentile is reported as the low edge of its bucket (within 3.1%), as
HdrHistogram does; max is exact.
"""

import numpy as np

from shm_layouts.histogram import bucket_low_value

# Percentiles in per-mille, so ranks are exact integer arithmetic (99.9 / 100 * n in
# floats can land a hair above a whole number and round up one rank too far).
PERCENTILES_PER_MILLE = {"p50": 500, "p90": 900, "p99": 990, "p999": 999}
PERCENTILES = {name: per_mille / 10 for name, per_mille in PERCENTILES_PER_MILLE.items()}


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
    for name, per_mille in PERCENTILES_PER_MILLE.items():
        rank = max(1, (per_mille * total + 999) // 1000)  # ceil, in integers
        index = int(np.searchsorted(cumulative, rank))
        result[name] = bucket_low_value(index)
    last = int(np.flatnonzero(buckets)[-1])
    result["max"] = max_ns if max_ns is not None else bucket_low_value(last)
    return result

