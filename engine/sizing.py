"""How many bytes an engine's segment takes, before creating it.

The tuning script sizes huge-page reservations from this, so it must agree
with what engine/segment.py actually maps.
"""

from shm_layouts.ring_header import ring_section_size
from shm_layouts.segment_header import HEADER_REGION_SIZE

HUGE_PAGE_SIZE = 2 * 1024 * 1024

# The default pipeline's rings: quotes, intents, orders, fills->risk, fills->strategy.
DEFAULT_RING_COUNT = 5
DEFAULT_RING_CAPACITY = 1 << 16
RECORD_SIZE = 64
# Worker table, control block, histograms: well under this; checked by the supervisor.
TABLES_BUDGET = 1 << 20


def segment_bytes(ring_capacities: list[int], tables_bytes: int = TABLES_BUDGET) -> int:
    """Bytes of a segment with these rings, rounded up to a 2 MiB huge page."""
    raw = HEADER_REGION_SIZE + tables_bytes + sum(
        ring_section_size(capacity, RECORD_SIZE) for capacity in ring_capacities)
    return round_up_to_huge_page(raw)


def round_up_to_huge_page(size: int) -> int:
    return (size + HUGE_PAGE_SIZE - 1) // HUGE_PAGE_SIZE * HUGE_PAGE_SIZE


def default_segment_bytes() -> int:
    """Bytes of the embedded default engine's segment (what `tickpipe run` maps)."""
    return segment_bytes([DEFAULT_RING_CAPACITY] * DEFAULT_RING_COUNT)
