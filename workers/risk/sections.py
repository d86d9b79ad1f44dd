"""Risk's part of the final report, the status line and `tickpipe inspect` (named by its
declaration, workers/risk/role.py): its counters, read from the segment alone."""

from tickpipe.shm_layouts.control_block import REJECT_NAMES
from tickpipe.shm_layouts.worker_table import (
    RISK_FILLS_READ, RISK_INTENTS_READ, RISK_ORDERS_SENT, RISK_REJECT_BASE, WORKER_DTYPE,
)
from tickpipe.workers.risk.role import ROLE


def _counters(segment):
    return segment.view("workers", WORKER_DTYPE)[ROLE.row]["counters"]


def _rejects(counters) -> dict:
    return {name: int(counters[RISK_REJECT_BASE + code]) for code, name in REJECT_NAMES.items()}


def counts(segment) -> dict:
    """orders_sent: the requests risk passed (its committed count: the orders ring also
    carries the ones it denied, each to be answered by the gateway); rejected: its
    denials by reason."""
    counters = _counters(segment)
    return {"orders_sent": int(counters[RISK_ORDERS_SENT]), "rejected": _rejects(counters)}


def inspect_sections(segment) -> dict:
    """Its counts in the "risk" section (the engine's books: engine/snapshot.py)."""
    counters = _counters(segment)
    return {"risk": {"intents_read": int(counters[RISK_INTENTS_READ]),
                     "orders_sent": int(counters[RISK_ORDERS_SENT]),
                     "fills_read": int(counters[RISK_FILLS_READ]),
                     "rejects": _rejects(counters)}}
