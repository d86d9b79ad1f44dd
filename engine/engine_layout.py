"""The engine's segment: which sections it has, the ring topology, and initialising it.

Topology (every arrow its own SPSC ring; a fan-out is two rings):

    feed --quotes--> strategy --intents--> risk --orders--> gateway
    gateway --fills_risk--> risk,  gateway --fills_strategy--> strategy
"""

import json
from dataclasses import dataclass

import numpy as np

from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.ring_layout import init_ring
from tickpipe.engine.wait_codes import SLEEPING_STRATEGIES
from tickpipe.engine.segment import SectionSpec
from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.commit_log import COMMIT_LOG_DTYPE
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.fill import FILL_DTYPE
from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE, HOPS
from tickpipe.shm_layouts.instrument import INSTRUMENT_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
from tickpipe.shm_layouts.ring_directory import (
    RECORD_FILL, RECORD_MARKET_DATA, RECORD_ORDER, RECORD_ORDER_INTENT, RING_DIRECTORY_DTYPE,
    MAX_RINGS,
)
from tickpipe.shm_layouts.ring_header import RING_ALIGN, ring_section_size
from tickpipe.shm_layouts.strategy_table import MAX_STRATEGIES, META_BYTES, STRATEGY_ROW_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import (
    DOORBELL_OFFSET, MAX_WORKERS, ROLE_IDS, WORKER_DTYPE,
)

ROLES = ("feed", "strategy", "risk", "gateway")


@dataclass(frozen=True)
class RingSpec:
    section: str
    producer: str
    consumer: str
    dtype: np.dtype
    record_kind: int
    input_index: int  # the consumer's input slot (its row in the consumer's inputs array)


RINGS = (
    RingSpec("quotes", "feed", "strategy", MARKET_DATA_DTYPE, RECORD_MARKET_DATA, 0),
    RingSpec("fills_strategy", "gateway", "strategy", FILL_DTYPE, RECORD_FILL, 1),
    RingSpec("intents", "strategy", "risk", ORDER_INTENT_DTYPE, RECORD_ORDER_INTENT, 0),
    RingSpec("fills_risk", "gateway", "risk", FILL_DTYPE, RECORD_FILL, 1),
    RingSpec("orders", "risk", "gateway", ORDER_DTYPE, RECORD_ORDER, 0),
)
RING_BY_SECTION = {ring.section: ring for ring in RINGS}
assert len(RINGS) <= MAX_RINGS


def inputs_of(role: str) -> list[RingSpec]:
    return sorted((r for r in RINGS if r.consumer == role), key=lambda r: r.input_index)


def outputs_of(role: str) -> list[RingSpec]:
    return [r for r in RINGS if r.producer == role]


def section_specs(config: dict) -> list[SectionSpec]:
    """Sections of an engine with this config, in segment order."""
    n_symbols = config["feed"]["symbols"]
    capacity = config["engine"]["ring_capacity"]
    specs = [
        SectionSpec("control", CONTROL_DTYPE.itemsize),
        SectionSpec("workers", MAX_WORKERS * WORKER_DTYPE.itemsize),
        SectionSpec("ring_dir", MAX_RINGS * RING_DIRECTORY_DTYPE.itemsize),
        SectionSpec("histograms", len(HOPS) * HISTOGRAM_DTYPE.itemsize),
        SectionSpec("book", n_symbols * BOOK_DTYPE.itemsize),
        SectionSpec("symbols", n_symbols * SYMBOL_STATS_DTYPE.itemsize),
        SectionSpec("commits", len(ROLES) * COMMIT_LOG_DTYPE.itemsize),
        SectionSpec("instruments", n_symbols * INSTRUMENT_DTYPE.itemsize),
        SectionSpec("strategies", MAX_STRATEGIES * STRATEGY_ROW_DTYPE.itemsize),
        SectionSpec("strat_state", sum(n_symbols * entry["state_row_size"]
                                       for entry in config["strategies"])),
    ]
    specs += [SectionSpec(ring.section, ring_section_size(capacity, ring.dtype.itemsize), RING_ALIGN)
              for ring in RINGS]
    return specs


def worker_index(role: str) -> int:
    return ROLES.index(role)


def commit_log_offset(segment, role: str) -> int:
    """Segment offset of `role`'s commit log (engine/commit.py)."""
    return segment.section("commits")[0] + worker_index(role) * COMMIT_LOG_DTYPE.itemsize


def strategy_state(segment, index: int, dtype) -> np.ndarray:
    """The per-symbol state rows of strategy `index`, viewed as its (padded) dtype."""
    row = segment.view("strategies", STRATEGY_ROW_DTYPE)[index]
    start = int(row["state_offset"]) - segment.section("strat_state")[0]
    return segment.view("strat_state", dtype, int(row["n_symbols"]), start)


def _describe_strategies(segment, config: dict) -> None:
    """The strategy table: where each strategy's state rows are and what is in them."""
    rows = segment.view("strategies", STRATEGY_ROW_DTYPE)
    n_symbols = config["feed"]["symbols"]
    offset = segment.section("strat_state")[0]
    for index, entry in enumerate(config["strategies"]):
        dtype = load_plugin(entry).state_dtype
        meta = json.dumps({
            "source": entry.get("module") or entry.get("path"), "params": entry["params"],
            "symbols": entry["symbols"], "timer_ms": entry["timer_ms"],
            "fields": [[name, dtype.fields[name][0].str, list(dtype.fields[name][0].shape),
                        dtype.fields[name][1]] for name in dtype.names]}).encode()
        if len(meta) > META_BYTES:  # a state of very many fields: keep the first ones
            meta = json.dumps({"source": entry.get("module") or entry.get("path"),
                               "fields": [], "truncated": True}).encode()
        row = rows[index]
        row["name"] = entry["name"].encode()
        row["state_offset"] = offset
        row["row_size"] = dtype.itemsize
        row["n_symbols"] = n_symbols
        row["meta_len"] = len(meta)
        row["meta"] = meta
        offset += n_symbols * dtype.itemsize


def initialise(segment, config: dict, placement) -> None:
    """Write the control block, worker table, ring directory and rings (before mark_ready)."""
    from tickpipe.shm_layouts.control_block import ENGINE_STARTING, check_trading_state

    control = segment.view("control", CONTROL_DTYPE)[0]
    control["engine_state"] = ENGINE_STARTING
    control["trading_state"] = check_trading_state(config["risk"]["trading_state"])
    control["n_symbols"] = config["feed"]["symbols"]
    control["rate"] = config["engine"]["rate"]
    control["n_workers"] = len(ROLES)
    control["n_rings"] = len(RINGS)

    workers = segment.view("workers", WORKER_DTYPE)
    workers_offset, _ = segment.section("workers")
    for index, role in enumerate(ROLES):
        row = workers[index]
        row["role_id"] = ROLE_IDS[role]
        row["role_name"] = role.encode()
        row["core"] = placement.cores[role]
        row["wait"] = placement.wait_codes[role]

    instruments = segment.view("instruments", INSTRUMENT_DTYPE)
    for row, instrument in zip(instruments, config["instruments"]):
        row["name"] = instrument["name"].encode()
        row["currency"] = instrument["currency"].encode()
        row["tick_size"] = instrument["tick_size"]
        row["lot_size"] = instrument["lot_size"]
        row["multiplier"] = instrument["multiplier"]
    _describe_strategies(segment, config)

    directory = segment.view("ring_dir", RING_DIRECTORY_DTYPE)
    capacity = config["engine"]["ring_capacity"]
    for index, ring in enumerate(RINGS):
        consumer = worker_index(ring.consumer)
        doorbell = workers_offset + consumer * WORKER_DTYPE.itemsize + DOORBELL_OFFSET
        init_ring(segment, ring.section, capacity, ring.dtype.itemsize, ring_id=index,
                  doorbell_offset=doorbell,
                  consumer_may_sleep=placement.wait_codes[ring.consumer] in SLEEPING_STRATEGIES)
        entry = directory[index]
        entry["section"] = ring.section.encode()
        entry["producer_role"] = ROLE_IDS[ring.producer]
        entry["consumer_role"] = ROLE_IDS[ring.consumer]
        entry["record_kind"] = ring.record_kind
        entry["input_index"] = ring.input_index
