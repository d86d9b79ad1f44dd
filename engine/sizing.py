"""How many bytes an engine's segment takes, before creating it.

The tuning script sizes huge-page reservations from this, so it must agree
with what engine/segment.py actually maps (tests/test_hugepage_backing.py checks
it against a real hugetlbfs mapping).
"""

from tickpipe.shm_layouts.segment_header import HEADER_REGION_SIZE

HUGE_PAGE_SIZE = 2 * 1024 * 1024


def round_up_to_huge_page(size: int) -> int:
    return (size + HUGE_PAGE_SIZE - 1) // HUGE_PAGE_SIZE * HUGE_PAGE_SIZE


def segment_bytes(config: dict) -> int:
    """Bytes of the segment of an engine with this config, rounded up to a 2 MiB page."""
    from tickpipe.engine.engine_layout import section_specs
    from tickpipe.engine.segment import plan_sections

    _, end = plan_sections(section_specs(config))
    return round_up_to_huge_page(max(end, HEADER_REGION_SIZE))


def default_segment_bytes() -> int:
    """Bytes of the embedded default engine's segment (what `tickpipe run` maps)."""
    from tickpipe.engine.config import load_config

    return segment_bytes(load_config())  # validated: the strategy's state size is known
