"""The gateway's part of the final report, the status line and `tickpipe inspect` (named
by its declaration, workers/gateway/role.py), read from the segment alone; and what the
drain waits for: no order working at the venue."""

from tickpipe.engine.engine_layout import venue_orders
from tickpipe.engine.report import ring_positions
from tickpipe.engine.segment_catalog import (
    order_table_rows, orders_data, read_instruments, read_strategies, strategy_names,
)
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.fill import VENUE_REASON_NAMES
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_FILLS, GATEWAY_KILL_CANCELS, GATEWAY_PARTIALS, GATEWAY_REJECTS, GATEWAY_RISK_REJECTS,
    GATEWAY_VENUE_REJECT_BASE, WORKER_DTYPE,
)
from tickpipe.workers.gateway.role import ROLE


def _counters(segment):
    return segment.view("workers", WORKER_DTYPE)[ROLE.row]["counters"]


def _venue_rejects(counters) -> dict:
    return {name: int(counters[GATEWAY_VENUE_REJECT_BASE + code])
            for code, name in VENUE_REASON_NAMES.items()}


def _fills(counters) -> int:
    return int(counters[GATEWAY_FILLS]) + int(counters[GATEWAY_PARTIALS])


def counts(segment) -> dict:
    """orders_at_venue: the requests the gateway has read, less the denials among them;
    venue_rejected: the venue's rejects by reason; fills: full and partial."""
    counters = _counters(segment)
    orders_read = ring_positions(segment)["orders"][1]
    return {"orders_at_venue": orders_read - int(counters[GATEWAY_RISK_REJECTS]),
            "venue_rejected": _venue_rejects(counters), "fills": _fills(counters)}


def report_sections(segment, config: dict) -> dict:
    """The venue's orders still working and what the kill switch cancelled over the run
    (the closing of a run that stops cancels what still works the same way)."""
    table = orders_data(order_table_rows(segment, "venue_orders"), instruments=[])
    return {"venue": {"working": table["open_count"], "by_status": table["by_status"],
                      "kill_switch_cancels": int(_counters(segment)[GATEWAY_KILL_CANCELS])}}


def inspect_sections(segment) -> dict:
    """The simulated venue's book of our orders: the working ones (every strategy's, by
    symbol, best price first), how many rows of its table have each status, and the
    orders the kill switch has cancelled; its rejects and fills in "risk" (the books)."""
    counters = _counters(segment)
    n_symbols = int(segment.view("control", CONTROL_DTYPE)[0]["n_symbols"])
    table = orders_data(order_table_rows(segment, "venue_orders"),
                        read_instruments(segment, n_symbols),
                        strategy_names(read_strategies(segment)), venue=True)
    return {"venue": {"working": table["open_count"], "by_status": table["by_status"],
                      "reject_reasons": table["reject_reasons"],
                      "kill_switch_cancels": int(counters[GATEWAY_KILL_CANCELS]),
                      "resting": table["open"]},
            "risk": {"exchange_rejects": int(counters[GATEWAY_REJECTS]),
                     "venue_rejects": _venue_rejects(counters), "fills": _fills(counters)}}


def venue_empty(segment) -> bool:
    """No order works at the venue, and (a venue of its own process) no cancel or replace
    waits for its answer: one coming after the gateway stopped would be left unread."""
    if int(segment.view("symbols", SYMBOL_STATS_DTYPE)["venue_resting"].sum()) != 0:
        return False
    return int(venue_orders(segment)["requests_out"].sum()) == 0
