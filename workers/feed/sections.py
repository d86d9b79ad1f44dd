"""The feed's part of the status line and of `tickpipe inspect` (named by its
declaration, workers/feed/role.py), read from the segment alone; and its start note."""

import os

from tickpipe.engine.report import ring_positions
from tickpipe.engine.segment_catalog import book_depth, read_instruments
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.worker_table import FEED_TICKS, WORKER_DTYPE
from tickpipe.workers.feed.role import ROLE


def counts(segment) -> dict:
    """ticks: made by the feed (its committed count); ticks_consumed: those minus the
    quotes still unread in any strategy's ring."""
    ticks = int(segment.view("workers", WORKER_DTYPE)[ROLE.row]["counters"][FEED_TICKS])
    unread = sum(head - tail for section, (head, tail) in ring_positions(segment).items()
                 if section.startswith("quotes"))
    return {"ticks": ticks, "ticks_consumed": ticks - unread}


def inspect_sections(segment) -> dict:
    """The L2 book, where the engine keeps levels below the top ([feed] depth > 1)."""
    n_symbols = int(segment.view("control", CONTROL_DTYPE)[0]["n_symbols"])
    depth = book_depth(segment, read_instruments(segment, n_symbols))
    return {} if depth is None else {"depth": depth}


def prepare(config: dict, say) -> None:
    """Say up front when [feed] depth asks for levels the data does not have."""
    tape, depth = config.get("tape"), config["feed"]["depth"]
    if tape is not None and depth > 1 and not tape.get("depth_rows"):
        data = os.path.basename(config["feed"]["file"])
        say(f"feed: [feed] depth = {depth}, but {data} has no levels below the top: "
            f"the engine keeps the top only (docs/data.md, 'Depth')")
