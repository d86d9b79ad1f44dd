"""The engine's segment: which sections it has, the ring topology, and initialising it.

The topology is the roles' declarations (workers/<role>/role.py, engine/role.py): every
ring a role declares, expanded over the instances of a multi-instance role. With the
pipeline's four roles (every arrow its own SPSC ring; a fan-out is one ring per reader):

    feed --quotes--> strategy --intents--> risk --orders--> gateway
    gateway --fills_risk--> risk,  gateway --fills_strategy--> strategy
    feed --md_venue--> gateway (every tick: the simulated venue fills resting orders)
    and per further strategy k (2, 3, ...): feed --quotesk--> strategyk
    --intentsk--> risk, gateway --fills_strategyk--> strategyk
"""

import json
from dataclasses import dataclass

import numpy as np

from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.registry import ROLES, engine_workers, instance_of, role_of
from tickpipe.engine.role import INSTANCE, instance_suffix
from tickpipe.engine.ring_layout import init_ring
from tickpipe.engine.wait_codes import SLEEPING_STRATEGIES
from tickpipe.engine.segment import SectionSpec
from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.depth import DEPTH_DTYPE
from tickpipe.shm_layouts.commit_log import COMMIT_LOG_DTYPE
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.fill import FILL_DTYPE
from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE, HISTOGRAM_ROWS
from tickpipe.shm_layouts.instrument import INSTRUMENT_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.open_order import OPEN_ORDER_DTYPE, ORDER_SLOTS, VENUE_SLOTS
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
from tickpipe.shm_layouts.ring_directory import (
    RECORD_FILL, RECORD_MARKET_DATA, RECORD_ORDER, RECORD_ORDER_INTENT, RING_DIRECTORY_DTYPE,
    MAX_RINGS,
)
from tickpipe.shm_layouts.ring_header import RING_ALIGN, ring_section_size
from tickpipe.shm_layouts.strategy_errors import STRATEGY_ERRORS_DTYPE
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
from tickpipe.shm_layouts.strategy_table import MAX_STRATEGIES, META_BYTES, STRATEGY_ROW_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import DOORBELL_OFFSET, MAX_WORKERS, WORKER_DTYPE


@dataclass(frozen=True)
class RingSpec:
    section: str
    producer: str     # worker names
    consumer: str
    dtype: np.dtype
    record_kind: int
    input_index: int  # the consumer's input slot (its row in the consumer's inputs array)


# The records a role's ring (engine/role.py RoleRing) may hold, by name.
RECORDS = {"market_data": (MARKET_DATA_DTYPE, RECORD_MARKET_DATA),
           "order_intent": (ORDER_INTENT_DTYPE, RECORD_ORDER_INTENT),
           "order": (ORDER_DTYPE, RECORD_ORDER), "fill": (FILL_DTYPE, RECORD_FILL)}


def strategy_worker(k: int) -> str:
    """The worker name of strategy k (table order): strategy, strategy2, strategy3, ..."""
    return "strategy" if k == 0 else f"strategy{k + 1}"


def role_id_of(worker: str) -> int:
    """The role id stored in the worker's row and the ring directory."""
    return ROLES[role_of(worker)].role_id


def role_counters(worker: str) -> dict[str, int]:
    """The worker's counter slots by name (its role's declaration; none for a role this
    process does not know: one TICKPIPE_ROLES names in the engine's environment only)."""
    role = ROLES.get(role_of(worker))
    return role.counters if role is not None else {}


def gate_readers(config: dict) -> dict[str, list[str]]:
    """The roles reading each gated ring through its gate, by section: a role that gates
    every ring (the journal) and one that names its rings (a bridge). The producer of a
    ring here waits for its gate; a ring has one gate, so two readers of one are a
    config mistake (gate_conflict)."""
    sections = [spec.section for spec in engine_rings(config)]
    readers: dict[str, list[str]] = {}
    for role in ROLES.values():
        if role.enabled(config):
            for section in sections if role.gates_rings else role.gates(config):
                readers.setdefault(section, []).append(role.name)
    return readers


def gate_conflict(config: dict) -> str:
    """One line when two running roles would both move one ring's gate, else ""."""
    for section, names in gate_readers(config).items():
        if len(names) > 1:
            return (f"ring {section} has one gate, and {' and '.join(names)} would both "
                    f"read through it: run one of them")
    return ""


def strategy_index(worker: str) -> int:
    return 0 if worker == "strategy" else int(worker.removeprefix("strategy")) - 1


def worker_strategy(worker: str, strategy_names) -> str | None:
    """The [[strategy]] name of strategy k's worker (strategy_names[k], from a list or a
    dict by index); None for the other roles, or a strategy without a name."""
    if role_of(worker) != "strategy":
        return None
    try:
        return strategy_names[strategy_index(worker)] or None
    except (IndexError, KeyError, ValueError):
        return None


def worker_label(worker: str, strategy_names) -> str:
    """A worker as people read it: `strategy <name>` for a strategy's worker, by its
    [[strategy]] name, else the worker name. The worker names (strategy, strategy2,
    ...) stay the machine keys: the JSON's "role", the log file, the metrics' role label."""
    name = worker_strategy(worker, strategy_names)
    return worker if name is None else f"strategy {name}"


def _expanded(ring, config: dict) -> list[RingSpec]:
    """A declared ring as the engine's rings: one, or one per instance of the role that
    `{n}` names at one of its ends (engine/role.py)."""
    dtype, kind = RECORDS[ring.records]
    if INSTANCE not in ring.section:
        return [RingSpec(ring.section, ring.producer, ring.consumer, dtype, kind,
                         ring.input_index)]
    ends = [end for end in (ring.producer, ring.consumer) if INSTANCE in end]
    assert len(ends) == 1, ring
    role = ROLES[ends[0].replace(INSTANCE, "")]
    specs = []
    for k in range(role.instances(config)):
        n = instance_suffix(k)
        # a consumer of every instance's ring gives each its own slot
        shift = 0 if INSTANCE in ring.consumer else k
        specs.append(RingSpec(ring.section.replace(INSTANCE, n),
                              ring.producer.replace(INSTANCE, n),
                              ring.consumer.replace(INSTANCE, n), dtype, kind,
                              ring.input_index + shift))
    return specs


def engine_rings(config: dict) -> tuple[RingSpec, ...]:
    """Every ring of an engine of this config, in directory order: the roles' in role_id
    order, each role's as it declares them (a producer's outputs come in that order)."""
    rings = tuple(spec for role in ROLES.values() if role.enabled(config)
                  for ring in role.rings for spec in _expanded(ring, config))
    assert len(rings) <= MAX_RINGS
    return rings


def inputs_of(worker: str, rings) -> list[RingSpec]:
    return sorted((r for r in rings if r.consumer == worker), key=lambda r: r.input_index)


def outputs_of(worker: str, rings) -> list[RingSpec]:
    return [r for r in rings if r.producer == worker]


# The workers of a one-strategy engine's pipeline, in row order: feed, strategy, risk,
# gateway (tests and benches that make a segment of their own place these).
PIPELINE = tuple(role.worker(0) for role in sorted(ROLES.values(), key=lambda role: role.row)
                 if not role.background)


def pipeline_workers(config: dict) -> tuple[str, ...]:
    """The workers placed on the pipeline's cores: every one but the background roles'."""
    return tuple(w for w in engine_workers(config) if not ROLES[role_of(w)].background)


def book_levels(config: dict) -> int:
    """Levels of the L2 book the engine keeps: [feed] depth where the source gives levels
    below the top (the walk quotes them; a tape with depth rows), else 1. Data without
    levels (CSV, Parquet, MBP-1, a journal) or a live stream keeps the top only, as a
    depth = 1 engine: levels that nothing fills are not "an empty book" to the venue."""
    feed = config["feed"]
    if feed["depth"] <= 1 or inputs_of("feed", engine_rings(config)):
        return 1  # a stream from another process's ring (a live source, a bridge): the top
    if feed["source"] == "file":
        tape = config.get("tape") or {}
        return feed["depth"] if tape.get("depth_rows") else 1
    return feed["depth"]


def depth_rows(config: dict) -> int:
    """Rows of the L2 book: one per symbol when it keeps levels below the top, else one
    unused row (a section of its own, so every worker's view of it has one type)."""
    return config["feed"]["symbols"] if book_levels(config) > 1 else 1


def section_specs(config: dict) -> list[SectionSpec]:
    """Sections of an engine with this config, in segment order."""
    n_symbols = config["feed"]["symbols"]
    capacity = config["engine"]["ring_capacity"]
    specs = [
        SectionSpec("control", CONTROL_DTYPE.itemsize),
        SectionSpec("workers", MAX_WORKERS * WORKER_DTYPE.itemsize),
        SectionSpec("ring_dir", MAX_RINGS * RING_DIRECTORY_DTYPE.itemsize),
        SectionSpec("histograms", HISTOGRAM_ROWS * HISTOGRAM_DTYPE.itemsize),
        SectionSpec("book", n_symbols * BOOK_DTYPE.itemsize),
        SectionSpec("depth", depth_rows(config) * DEPTH_DTYPE.itemsize),
        SectionSpec("symbols", n_symbols * SYMBOL_STATS_DTYPE.itemsize),
        SectionSpec("commits", (1 + max(map(worker_index, engine_workers(config))))
                    * COMMIT_LOG_DTYPE.itemsize),
        SectionSpec("instruments", n_symbols * INSTRUMENT_DTYPE.itemsize),
        SectionSpec("strategies", MAX_STRATEGIES * STRATEGY_ROW_DTYPE.itemsize),
        SectionSpec("strat_state", sum(n_symbols * _state_row_size(entry)
                                       for entry in config["strategies"])),
        SectionSpec("strat_pos", len(config["strategies"]) * n_symbols
                    * STRATEGY_POSITION_DTYPE.itemsize),
        SectionSpec("strat_orders", len(config["strategies"]) * ORDER_SLOTS
                    * OPEN_ORDER_DTYPE.itemsize),
        SectionSpec("venue_orders", VENUE_SLOTS * OPEN_ORDER_DTYPE.itemsize),
        SectionSpec("strat_errors", len(config["strategies"]) * STRATEGY_ERRORS_DTYPE.itemsize),
    ]
    specs += [SectionSpec(ring.section, ring_section_size(capacity, ring.dtype.itemsize), RING_ALIGN)
              for ring in engine_rings(config)]
    return specs


def _state_row_size(entry: dict) -> int:
    """Bytes of one state row of the strategy (validate stores it; a raw default has not)."""
    return entry.get("state_row_size") or load_plugin(entry).state_dtype.itemsize


def worker_index(worker: str) -> int:
    """The worker's row in the worker table (and its commit log's index): where its
    role's declaration puts its instance."""
    return ROLES[role_of(worker)].rows[instance_of(worker)]


def commit_log_offset(segment, worker: str) -> int:
    """Segment offset of the worker's commit log (engine/commit.py)."""
    return segment.section("commits")[0] + worker_index(worker) * COMMIT_LOG_DTYPE.itemsize


def strategy_positions(segment, k: int, n_symbols: int) -> np.ndarray:
    """Strategy k's per-symbol rows of the "strat_pos" section."""
    return segment.view("strat_pos", STRATEGY_POSITION_DTYPE, n_symbols,
                        k * n_symbols * STRATEGY_POSITION_DTYPE.itemsize)


def strategy_orders(segment, k: int) -> np.ndarray:
    """Strategy k's order table (shm_layouts/open_order.py): ORDER_SLOTS rows."""
    return segment.view("strat_orders", OPEN_ORDER_DTYPE, ORDER_SLOTS,
                        k * ORDER_SLOTS * OPEN_ORDER_DTYPE.itemsize)


def strategy_errors(segment, k: int) -> np.ndarray:
    """Strategy k's row of the "strat_errors" section (shm_layouts/strategy_errors.py), as a
    one-row view."""
    return segment.view("strat_errors", STRATEGY_ERRORS_DTYPE, 1,
                        k * STRATEGY_ERRORS_DTYPE.itemsize)


def venue_orders(segment) -> np.ndarray:
    """The simulated venue's table of our resting orders: VENUE_SLOTS rows."""
    return segment.view("venue_orders", OPEN_ORDER_DTYPE, VENUE_SLOTS)


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
            "on_error": entry.get("on_error", "stop"),
            # an array field as its element type and shape: [name, "<f8", [64], offset]
            "fields": [[name, dtype.fields[name][0].base.str, list(dtype.fields[name][0].shape),
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
    workers_names = engine_workers(config)
    rings = engine_rings(config)
    control["n_workers"] = len(workers_names)
    control["n_rings"] = len(rings)

    workers = segment.view("workers", WORKER_DTYPE)
    workers_offset, _ = segment.section("workers")
    for worker in workers_names:
        row = workers[worker_index(worker)]
        row["role_id"] = role_id_of(worker)
        row["role_name"] = worker.encode()
        row["core"] = placement.cores[worker]
        row["wait"] = placement.wait_codes[worker]

    instruments = segment.view("instruments", INSTRUMENT_DTYPE)
    for row, instrument in zip(instruments, config["instruments"]):
        row["name"] = instrument["name"].encode()
        row["currency"] = instrument["currency"].encode()
        row["tick_size"] = instrument["tick_size"]
        row["lot_size"] = instrument["lot_size"]
        row["multiplier"] = instrument["multiplier"]
    _describe_strategies(segment, config)
    # every row says how many levels the engine keeps (1: the top only, in "book"), so a
    # reader knows before the feed's first write; the feed writes the levels
    segment.view("depth", DEPTH_DTYPE)["levels"] = book_levels(config)

    directory = segment.view("ring_dir", RING_DIRECTORY_DTYPE)
    capacity = config["engine"]["ring_capacity"]
    gated = gate_readers(config)
    for index, ring in enumerate(rings):
        consumer = worker_index(ring.consumer)
        doorbell = workers_offset + consumer * WORKER_DTYPE.itemsize + DOORBELL_OFFSET
        init_ring(segment, ring.section, capacity, ring.dtype.itemsize, ring_id=index,
                  doorbell_offset=doorbell,
                  consumer_may_sleep=placement.wait_codes[ring.consumer] in SLEEPING_STRATEGIES,
                  gated=ring.section in gated)
        entry = directory[index]
        entry["section"] = ring.section.encode()
        entry["producer_role"] = role_id_of(ring.producer)
        entry["consumer_role"] = role_id_of(ring.consumer)
        entry["record_kind"] = ring.record_kind
        entry["input_index"] = ring.input_index
