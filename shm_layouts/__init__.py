"""numpy record dtypes and layout descriptors of every shm region.

This package imports nothing else of tickpipe. Each module describes one region:
its dtype, an offset table in the docstring, named offset constants and a
check_* function. Everything here is asserted at import.
"""

import hashlib

from shm_layouts.fill import FILL_DTYPE
from shm_layouts.layout_rules import describe
from shm_layouts.market_data import MARKET_DATA_DTYPE
from shm_layouts.order import ORDER_DTYPE
from shm_layouts.order_intent import ORDER_INTENT_DTYPE
from shm_layouts.ring_header import RING_HEADER_DTYPE
from shm_layouts.segment_header import SEGMENT_HEADER_DTYPE

# Bump when a layout changes meaning without changing shape (the hash catches shape).
LAYOUT_VERSION = 1

# Every dtype that lives in shared memory; the layout hash covers all of them,
# so two builds that disagree on any offset refuse to attach to each other.
SHM_DTYPES = {
    "segment_header": SEGMENT_HEADER_DTYPE,
    "ring_header": RING_HEADER_DTYPE,
    "market_data": MARKET_DATA_DTYPE,
    "order_intent": ORDER_INTENT_DTYPE,
    "order": ORDER_DTYPE,
    "fill": FILL_DTYPE,
}


def register_dtype(name: str, dtype) -> None:
    """Add a region's dtype to the layout hash (called by region modules at import)."""
    if name in SHM_DTYPES and SHM_DTYPES[name] != dtype:
        raise AssertionError(f"shm dtype {name!r} registered twice with different layouts")
    SHM_DTYPES[name] = dtype


def layout_hash() -> int:
    """64-bit hash of LAYOUT_VERSION and every registered dtype's layout."""
    text = f"v{LAYOUT_VERSION}|" + "|".join(
        f"{name}={describe(SHM_DTYPES[name])}" for name in sorted(SHM_DTYPES))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
