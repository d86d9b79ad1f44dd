"""The probe's figures and hooks, read from the segment alone."""

import os

from tickpipe.engine.role import RoleError
from tickpipe.shm_layouts.worker_table import FEED_TICKS, WORKER_DTYPE
from role_probe.role import PROBE_PASSES, PROBE_SEEN_TICKS, ROLE


def _row(segment):
    return segment.view("workers", WORKER_DTYPE)[ROLE.row]


def counts(segment) -> dict:
    return {"probe_passes": int(_row(segment)["counters"][PROBE_PASSES])}


def report_sections(segment, config: dict) -> dict:
    seen = int(_row(segment)["counters"][PROBE_SEEN_TICKS])
    feed_ticks = int(segment.view("workers", WORKER_DTYPE)[0]["counters"][FEED_TICKS])
    label = (config.get("probe") or {}).get("label", "?")
    return {"probe": {"label": label, "seen_ticks": seen, "feed_ticks": feed_ticks,
                      "summary": f"probe {label}: saw {seen:,} ticks"}}


def inspect_sections(segment) -> dict:
    seen = int(_row(segment)["counters"][PROBE_SEEN_TICKS])
    return {"probe": {"seen_ticks": seen, "summary": f"probe: {seen:,} ticks seen so far"}}


def prepare(config: dict, say) -> str:
    if config["probe"]["label"] == "refuse":
        raise RoleError("probe: refused to start (label = 'refuse')")
    say(f"probe {config['probe']['label']}: prepared")
    return f"prepared {config['probe']['label']}"


def warm(config: dict, say, prepared: str) -> None:
    say(f"probe: warm, given {prepared!r}")


def drained(segment) -> bool:
    """The drain waits until the probe has seen every tick the feed made."""
    feed_ticks = int(segment.view("workers", WORKER_DTYPE)[0]["counters"][FEED_TICKS])
    return int(_row(segment)["counters"][PROBE_SEEN_TICKS]) >= feed_ticks
