"""How many bytes an engine's segment takes, before creating it; and how small its
rings may be (smallest_ring_capacity, the bound's argument beside it).

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


# ---- the smallest ring: what one record may need at once ------------------------------
#
# A worker writes a record's outputs only once they all fit (engine/batch.py has_room):
# a record that needs `need` slots of one ring at once can be written only if
# need <= ring_capacity, and it will be, because the runner keeps every ring's reader
# reading (docs/runner.md, "Waiting"): a worker waits only for room on its outputs,
# and while it waits it reads the inputs it drains; a record of a drained input never
# waits (it runs with the room there is, and a send past it is refused). So the
# cycle strategy -> risk -> gateway -> strategy cannot close at any size: the gateway
# waits only on report rings, whose readers (risk, the strategies) never wait while
# reading them. No ring size rules that cycle out instead: each report may make
# MAX_ORDERS_PER_EVENT requests and each request REPORTS_PER_REQUEST reports, so the
# traffic around it can grow with each turn and fill any ring; a bigger ring only made
# it rarer (before the rule, examples/mm.toml flat out closed it in 3 runs of 4 at 8,
# in none of 3 at 16 and 32). The bound is then the largest single need, over every
# place that writes records:
#
#   a strategy's callback (quote, trade, timer)  MAX_ORDERS_PER_EVENT requests: intents
#   the gateway, one request                     REPORTS_PER_REQUEST reports: each report ring
#   risk, one request                            1 order: orders
#   the feed, one tick                           1 quote: each quotes ring, md_venue
#   the gateway, one tick                        a report per working order of the symbol:
#                                                <= max_working_per_symbol(capacity) <= capacity
#   the gateway, a step of the close's sweep     sweep_chunk = min(BATCH, max_working)
#     (or of the session end's)                  <= capacity
#   a strategy's on_fill                         never waits: what does not fit is refused
#
# The last three are capped by the ring capacity itself, so they add nothing to it.

REPORTS_PER_REQUEST = 2  # workers/gateway/agent.py REPORTS_PER_REQUEST (tests/test_ring_bound.py)


def ring_needs() -> list[tuple[int, str]]:
    """(slots, why): the slots of one ring a record needs at once, for every place
    that writes records and is not capped by the ring's capacity."""
    from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT
    return [
        (MAX_ORDERS_PER_EVENT,
         f"a strategy's callback may send {MAX_ORDERS_PER_EVENT} requests "
         "(MAX_ORDERS_PER_EVENT), which must fit in its intents ring at once"),
        (REPORTS_PER_REQUEST, f"a request may make {REPORTS_PER_REQUEST} reports (an ack and a "
                              "fill), which must fit in every report ring at once"),
        (1, "risk writes one order per request"),
        (1, "the feed writes one quote per tick on each ring"),
    ]


def smallest_ring_capacity() -> tuple[int, str]:
    """The smallest safe [engine] ring_capacity (a power of two, at least the ring's
    own minimum) and why: the largest of ring_needs."""
    from tickpipe.shm_layouts.ring_header import MIN_CAPACITY

    need, why = max(ring_needs())
    return max(MIN_CAPACITY, 1 << (need - 1).bit_length()), why
