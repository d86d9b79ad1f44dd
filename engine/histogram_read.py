"""Percentiles from the log-linear histograms in the segment (numpy only; for tools).

A percentile is reported as the low edge of its bucket (within 3.1%), as
HdrHistogram does; max is exact.
"""

import numpy as np

from tickpipe.shm_layouts.histogram import N_BUCKETS, bucket_low_value

# Percentiles in per-mille, so ranks are exact integer arithmetic (99.9 / 100 * n in
# floats can land a hair above a whole number and round up one rank too far).
PERCENTILES_PER_MILLE = {"p50": 500, "p90": 900, "p99": 990, "p999": 999}
PERCENTILES = {name: per_mille / 10 for name, per_mille in PERCENTILES_PER_MILLE.items()}
_PER_MILLE = np.array(list(PERCENTILES_PER_MILLE.values()), dtype=np.int64)
BUCKET_LOW_EDGES = np.array([bucket_low_value(i) for i in range(N_BUCKETS)], dtype=np.int64)


def percentiles(histogram) -> dict:
    """{"count", "p50", "p90", "p99", "p999", "max"} in ns from one histogram record."""
    return percentiles_of_buckets(histogram["buckets"], int(histogram["max_ns"]))


def percentiles_of_buckets(buckets: np.ndarray, max_ns: int | None = None) -> dict:
    """Percentiles of one bucket array (also of the difference of two snapshots)."""
    return percentiles_by_row(np.asarray(buckets)[None, :],
                              None if max_ns is None else [max_ns])[0]


def percentiles_by_row(buckets: np.ndarray, max_ns=None) -> list[dict]:
    """Percentiles of every row of a (histograms, buckets) array, in one numpy pass
    (an inspector refresh reads every hop). max is `max_ns[row]` when given (exact),
    else the low edge of the last non-empty bucket."""
    buckets = np.asarray(buckets, dtype=np.int64)
    cumulative = np.cumsum(buckets, axis=1)
    totals = cumulative[:, -1]
    ranks = np.maximum(1, (_PER_MILLE[None, :] * totals[:, None] + 999) // 1000)  # integer ceil
    # Per row and percentile, the first bucket whose cumulative count reaches the rank.
    indices = (cumulative[:, :, None] < ranks[:, None, :]).sum(axis=1)
    lows = BUCKET_LOW_EDGES[np.minimum(indices, N_BUCKETS - 1)].tolist()
    last_nonzero = (buckets.shape[1] - 1 - np.argmax(buckets[:, ::-1] > 0, axis=1)).tolist()
    result = []
    for row, total in enumerate(totals.tolist()):
        if total == 0:
            result.append({"count": 0, **{name: None for name in PERCENTILES}, "max": None})
            continue
        top = int(max_ns[row]) if max_ns is not None else int(BUCKET_LOW_EDGES[last_nonzero[row]])
        result.append({"count": total, **dict(zip(PERCENTILES, lows[row])), "max": top})
    return result
