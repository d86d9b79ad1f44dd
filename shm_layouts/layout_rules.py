"""Checks every shm descriptor module runs on itself at import time.

A layout that drifts (a field added, a type widened) must fail the import, not
corrupt a peer process that still uses the old offsets.
"""

import numpy as np

CACHE_LINE = 64


def assert_layout(dtype: np.dtype, offsets: dict[str, int], itemsize: int) -> None:
    """Raise AssertionError unless `dtype` has exactly these offsets and size."""
    if dtype.itemsize != itemsize:
        raise AssertionError(f"{dtype!r}: itemsize {dtype.itemsize}, expected {itemsize}")
    if itemsize % CACHE_LINE:
        raise AssertionError(f"{dtype!r}: itemsize {itemsize} is not a multiple of {CACHE_LINE}")
    actual = {name: dtype.fields[name][1] for name in dtype.names}
    if actual != offsets:
        diff = {k: (actual.get(k), offsets.get(k)) for k in set(actual) | set(offsets)
                if actual.get(k) != offsets.get(k)}
        raise AssertionError(f"{dtype!r}: offsets differ (actual, expected): {diff}")
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        # Natural alignment of every scalar, so C and numba read it in one access.
        base = field_dtype.base
        if base.kind in "iuf" and offset % base.itemsize:
            raise AssertionError(f"{dtype!r}: field {name} at {offset} is not aligned to {base.itemsize}")


def describe(dtype: np.dtype) -> str:
    """Stable text of a dtype's layout, the input of the layout hash."""
    parts = [f"itemsize={dtype.itemsize}"]
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        parts.append(f"{name}:{field_dtype.str}:{field_dtype.shape}@{offset}")
    return ";".join(parts)
