"""A read-only snapshot of an engine's segment, for `tickpipe inspect` and its /metrics.

The inspector maps the segment PROT_READ (engine.segment.attach_segment with
readonly=True validates magic, version, layout hash, ready flag and size
before anything else is read); it never writes, takes no lock and makes no
syscall against the engine. Every figure comes from words the engine already
publishes: the control block, the worker table, the ring headers, the
histograms and the symbol stats. numba-free, so it starts fast.

A snapshot is plain data (`Snapshot.data`, the JSON the CLI prints: keys
engine, workers, rings, latency_ns, risk, strategies, venue) plus what the next
snapshot needs to compute rates and interval percentiles "since the previous refresh".

P&L is realised, unrealised (marked to the book's mids, read with the book's
seqlock) and fees, per symbol and per strategy, in price units x lots and in each
instrument's currency. Orders: each strategy's open orders (its order table's rows
neither free nor final) and counts by status; the venue's working orders, each with
its strategy and queue_ahead (engine/segment_catalog.py).

Per-symbol figures are keyed by instrument name (the "instruments" section), each
with its "symbol_id"; a strategy's per-symbol state is shown by field name from the
strategy table's description of its rows ("strategies" section), never by
importing the strategy's code (engine/segment_catalog.py).

Rates are over a recent window, never averaged over the run: an average since
start-up carries the warm-up (numba compiling, the start barrier) and hides a
stall for as long as the run has lasted. The engine publishes running counts
only (no per-second history in the segment, and none is worth a store on the
hot path), so the inspector keeps its own: each snapshot's counts are a sample,
and a rate is the difference against the oldest sample no older than
RATE_WINDOW_S (at least the previous one). A one-shot view takes one sample,
waits a short sampling interval and reads again (`sampled_snapshot`). Only
without any earlier sample (a first Prometheus scrape) does a rate fall back to
an average, and then from the feed's start barrier, after the warm-up.
"""

import os
import select
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tickpipe.engine.engine_layout import (
    role_counters, role_of, worker_label, worker_strategy,
)
from tickpipe.engine.on_error import errors_data
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.histogram_read import percentiles_by_row
from tickpipe.engine.procinfo import is_alive
from tickpipe.engine.registry import ROLES
from tickpipe.engine.role import call, merge_sections
from tickpipe.engine.segment import Segment, attach_segment
from tickpipe.engine.segment_catalog import (
    Instrument, book_mids, order_table_rows, pnl_fields,
    pnl_totals, read_instruments, read_strategies, strategies_data, strategy_position_rows,
)
from tickpipe.engine.wait_codes import WAIT_NAMES
from tickpipe.shm_layouts.control_block import (
    CONTROL_DTYPE, ENGINE_STATE_NAMES, TRADING_STATE_NAMES,
)
from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE, HOPS
from tickpipe.shm_layouts.ring_directory import RING_DIRECTORY_DTYPE
from tickpipe.shm_layouts.ring_header import (
    RING_GATE_OFFSET, RING_HEAD_OFFSET, RING_HEADER_DTYPE, RING_TAIL_OFFSET,
)
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_STATE_NAMES

# A ring's producer and consumer, and a worker row without a name, by role id.
ROLE_NAMES = {role.role_id: name for name, role in ROLES.items()}

SNAPSHOT_KEYS = ("engine", "workers", "rings", "latency_ns", "risk", "strategies", "venue")

# Rates are over the samples of the last few seconds: long enough to smooth the
# feed's batch-at-a-time publication when --watch refreshes fast, short enough to
# show a stall within a few refreshes.
RATE_WINDOW_S = 3.0
# The one-shot sampling interval: at 20 k ticks/s it spans 4 k records, so a batch
# published just before or after either read moves a rate by ~1%, and `inspect`
# still answers well within a second.
SAMPLE_S = 0.2


@dataclass
class Snapshot:
    data: dict                                 # the JSON view: SNAPSHOT_KEYS
    taken_ns: int                              # CLOCK_MONOTONIC, the engine's heartbeat clock
    histograms: np.ndarray                     # a copy, for the next interval's percentiles
    totals: dict = field(default_factory=dict)  # running counts the next snapshot turns into rates


@dataclass(frozen=True)
class _Ring:
    name: str
    producer: str
    consumer: str
    header: np.ndarray  # the ring header record (read-only view)
    head_address: int
    tail_address: int
    gate_address: int


class _Liveness:
    """Is the process (pid, start time) alive? /proc once per process, then a poll of its
    pidfd: a refresh costs a sub-microsecond syscall per process, not a /proc read."""

    def __init__(self):
        self._pidfds: dict[tuple[int, int], int] = {}

    def alive(self, pid: int, start_ticks: int) -> bool:
        key = (pid, start_ticks)
        fd = self._pidfds.get(key)
        if fd is None:
            if not is_alive(pid, start_ticks):
                return False
            try:
                fd = os.pidfd_open(pid)
            except (AttributeError, OSError):
                return True  # no pidfd here: /proc has just said alive
            if not is_alive(pid, start_ticks):  # the pid was reused before pidfd_open
                os.close(fd)
                return False
            self._pidfds[key] = fd
        readable, _, _ = select.select([fd], [], [], 0)  # a pidfd turns readable at exit
        return not readable

    def close(self) -> None:
        for fd in self._pidfds.values():
            os.close(fd)
        self._pidfds.clear()


class Inspector:
    """One engine's segment mapped PROT_READ, with its views built once; `snapshot()` reads.

    The section table, counts and roles are fixed once a segment is ready, so
    they are looked up at attach; each snapshot only reads the live words.
    """

    def __init__(self, segment: Segment):
        self.segment = segment
        self.name = segment.name
        control = segment.view("control", CONTROL_DTYPE)[0]
        self.control = control
        table = segment.view("workers", WORKER_DTYPE)
        self.worker_rows = {
            row["role_name"].decode(errors="replace") or ROLE_NAMES.get(int(row["role_id"]), "?"): row
            for row in table if int(row["role_id"])}
        self.rings = self._ring_views(segment, int(control["n_rings"]))
        self.histograms = segment.view("histograms", HISTOGRAM_DTYPE, len(HOPS))
        self.symbols = segment.view("symbols", SYMBOL_STATS_DTYPE)[:int(control["n_symbols"])]
        self.instruments = read_instruments(segment, len(self.symbols))
        self.strategies = read_strategies(segment)
        self.strategy_positions = strategy_position_rows(segment, len(self.strategies),
                                                         len(self.symbols))
        self.previous: Snapshot | None = None
        self._rate_samples: deque[tuple[int, dict]] = deque()  # (taken_ns, totals), oldest first
        self._liveness = _Liveness()

    @classmethod
    def attach(cls, name: str) -> "Inspector":
        """Map engine `name` PROT_READ after validating it; raises SegmentError."""
        segment = attach_segment(name, readonly=True)
        try:
            return cls(segment)
        except BaseException:
            segment.close()
            raise

    @staticmethod
    def _ring_views(segment, n_rings: int) -> list[_Ring]:
        directory = segment.view("ring_dir", RING_DIRECTORY_DTYPE)
        base = segment.base_address
        rings = []
        for entry in directory[:min(n_rings, len(directory))]:
            section = entry["section"].decode(errors="replace")
            offset, _ = segment.section(section)
            header = segment.buf[offset:offset + RING_HEADER_DTYPE.itemsize].view(RING_HEADER_DTYPE)[0]
            rings.append(_Ring(section, ROLE_NAMES.get(int(entry["producer_role"]), "?"),
                               ROLE_NAMES.get(int(entry["consumer_role"]), "?"), header,
                               base + offset + RING_HEAD_OFFSET, base + offset + RING_TAIL_OFFSET,
                               base + offset + RING_GATE_OFFSET))
        return rings

    def owner_alive(self) -> bool:
        header = self.segment.header
        return self._liveness.alive(int(header["owner_pid"]), int(header["owner_start_ticks"]))

    def snapshot(self) -> Snapshot:
        """Read everything once. Rates are over the recent window of this inspector's
        samples (see the module docstring); interval figures are over the time since the
        previous snapshot, and None on the first."""
        previous = self.previous
        now_ns = time.monotonic_ns()
        now_unix_ns = time.time_ns()
        control = self.control
        owner_alive = self.owner_alive()
        interval_s = (now_ns - previous.taken_ns) / 1e9 if previous is not None else None
        started_ns = int(control["started_unix_ns"])
        run_s = (now_unix_ns - started_ns) / 1e9 if owner_alive and started_ns > 0 else None
        rate = self._rate_basis(now_ns, owner_alive, previous)
        histograms = np.array(self.histograms)
        mids = book_mids(self.segment, len(self.symbols))
        order_tables = {table.index: order_table_rows(self.segment, "strat_orders", table.index)
                        for table in self.strategies}
        totals: dict = {}
        # roles with an input ring, but the source's (the feed's, live): its records are
        # what it published, whatever it reads
        consumers = {ring.consumer for ring in self.rings
                     if not (ring.consumer in ROLES and ROLES[ring.consumer].source)}
        workers = [_worker(role, row, now_ns, rate, totals, self._liveness, self.strategies,
                           role_of(role) in consumers)
                   for role, row in self.worker_rows.items()]
        data = {
            "engine": _engine(self.segment, control, owner_alive, now_unix_ns, interval_s, run_s,
                              workers, rate),
            "workers": workers,
            "rings": [_ring(ring, rate, totals) for ring in self.rings],
            "latency_ns": _latency(histograms, previous.histograms if previous is not None else None),
            "risk": _books(control, self.symbols, self.instruments, self.strategy_positions,
                           mids),
            "strategies": strategies_data(self.strategies, self.instruments,
                                          self.strategy_positions, mids, order_tables),
        }
        for role in ROLES.values():  # each role's own sections (engine/role.py)
            if role.inspect and role.name in self.worker_rows:
                merge_sections(data, call(role.inspect, self.segment), role.name)
        for table in self.strategies:  # on_error: retired, records skipped (engine/on_error.py)
            if table.name in data["strategies"]:
                data["strategies"][table.name]["on_error"] = errors_data(
                    self.segment, table.index, table.meta.get("on_error"), self.instruments)
        self._rate_samples.append((now_ns, totals))
        self.previous = Snapshot(data, now_ns, histograms, totals)
        return self.previous

    def sampled_snapshot(self, sample_s: float = SAMPLE_S) -> Snapshot:
        """A first snapshot whose rates are over the last `sample_s` seconds: one sample,
        a wait, then the snapshot. Its interval figures stay None, as for any first
        snapshot. A dead engine's counts no longer move, so it is read at once."""
        if sample_s > 0 and self.owner_alive():
            self.snapshot()
            self.previous = None  # the sample seeds the rates only, not "the previous refresh"
            time.sleep(sample_s)
        return self.snapshot()

    def _rate_basis(self, now_ns: int, owner_alive: bool,
                    previous: Snapshot | None) -> "_RateBasis":
        """Drop samples older than the window (keeping at least the newest), then pick the
        basis: the oldest sample left, else the feed's start barrier."""
        previous_totals = previous.totals if previous is not None else None
        samples = self._rate_samples
        while len(samples) > 1 and now_ns - samples[0][0] > RATE_WINDOW_S * 1e9:
            samples.popleft()
        if not owner_alive:
            return _RateBasis(previous_totals, None, None, None)  # a dead engine has no rate
        if samples and now_ns > samples[0][0]:
            return _RateBasis(previous_totals, samples[0][1], (now_ns - samples[0][0]) / 1e9, None)
        feed_started_ns = int(self.control["feed_started_ns"])  # CLOCK_MONOTONIC, as now_ns
        since_feed_s = (now_ns - feed_started_ns) / 1e9 if feed_started_ns > 0 else None
        return _RateBasis(previous_totals, None, None, since_feed_s)

    def close(self) -> None:
        self.worker_rows = self.rings = self.histograms = self.symbols = self.control = None
        self.strategies = self.instruments = self.strategy_positions = None
        self._liveness.close()
        self.segment.close()


def step_aside(inspector: Inspector) -> str:
    """Keep a long-running inspector off the workers' way; returns what it did, for a person.

    It moves to the cores no worker is placed on, when there are any, and lowers
    itself to SCHED_IDLE (else nice 19): it then runs only where a core would
    otherwise idle, and a worker waking on its core preempts it at once. Both
    calls concern this process only; the engine is never touched.
    """
    done = []
    worker_cores = {int(row["core"]) for row in inspector.worker_rows.values()}
    free = os.sched_getaffinity(0) - worker_cores
    if free:
        os.sched_setaffinity(0, free)
        done.append(f"on cores {','.join(map(str, sorted(free)))} (the workers use "
                    f"{','.join(map(str, sorted(worker_cores)))})")
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        done.append("at SCHED_IDLE priority")
    except (AttributeError, OSError):
        os.nice(19)
        done.append("at nice 19")
    return "inspector runs " + " ".join(done)


@dataclass(frozen=True)
class _RateBasis:
    """How a count becomes a rate: against the window's oldest sample (`baseline`, taken
    `window_s` ago), else averaged since the feed started (`since_feed_s`: the first
    snapshot without a sample), else None (a dead engine, or a feed not started yet).
    `previous` holds the previous snapshot's totals, for figures that carry over."""
    previous: dict | None
    baseline: dict | None
    window_s: float | None
    since_feed_s: float | None

    def rate(self, key, total: int) -> float | None:
        if self.baseline is not None and self.window_s and key in self.baseline:
            return round((total - self.baseline[key]) / self.window_s, 1)
        if self.since_feed_s and self.since_feed_s > 0:
            return round(total / self.since_feed_s, 1)
        return None

    def describe(self) -> dict:
        if self.baseline is not None and self.window_s:
            return {"rate_basis": "window", "rate_window_s": round(self.window_s, 3)}
        if self.since_feed_s:
            return {"rate_basis": "since_feed_start", "rate_window_s": round(self.since_feed_s, 3)}
        return {"rate_basis": None, "rate_window_s": None}


def _engine(segment, control, owner_alive, now_unix_ns, interval_s, run_s, workers,
            rate: _RateBasis) -> dict:
    header = segment.header
    created_ns = int(header["created_unix_ns"])
    return {
        "name": segment.name,
        "state": ENGINE_STATE_NAMES.get(int(control["engine_state"]), "?"),
        "trading_state": TRADING_STATE_NAMES.get(int(control["trading_state"]), "?"),
        "alive": owner_alive,
        "owner": {"pid": int(header["owner_pid"]), "uid": int(header["owner_uid"]),
                  "alive": owner_alive},
        "uptime_s": None if run_s is None else round(run_s, 3),
        "age_s": round((now_unix_ns - created_ns) / 1e9, 3),
        "created_unix_ns": created_ns,
        "path": segment.path,
        "size": segment.size,
        "backing": segment.backing,
        "page_size": segment.page_size,
        "locked": segment.locked,
        "workers_mem_locked": bool(workers) and all(w["mem_locked"] for w in workers),
        "rate_offered": int(control["rate"]),
        "symbols": int(control["n_symbols"]),
        "interval_s": None if interval_s is None else round(interval_s, 3),
        **rate.describe(),
    }


_WORKER_FIELDS = WORKER_DTYPE.names


def _worker(role: str, row, now_ns: int, rate: _RateBasis, totals: dict,
            liveness: _Liveness, strategies=(), consumes: bool = True) -> dict:
    """"role": the worker name, the key (strategy, strategy2, ...); "name": as people read
    it (`strategy <name>` for a strategy's); "strategy": its [[strategy]] name, or None."""
    w = dict(zip(_WORKER_FIELDS, row.item()))  # one read of the row, as Python ints
    strategy_names = {table.index: table.name for table in strategies}
    # A source (the feed) has no input: its records are what it published.
    records = w["processed"] if consumes else w["published"]
    busy, idle = w["busy_passes"], w["idle_passes"]
    totals[("records", role)] = records
    totals[("passes", role)] = (busy, idle)
    heartbeat = w["heartbeat_ns"]
    counters = w["counters"].tolist()
    return {
        "role": role, "name": worker_label(role, strategy_names),
        "strategy": worker_strategy(role, strategy_names),
        "pid": w["pid"], "core": w["core"],
        "state": WORKER_STATE_NAMES.get(w["state"], "?"),
        "alive": liveness.alive(w["pid"], w["start_ticks"]),
        "heartbeat_age_s": round(max(0, now_ns - heartbeat) / 1e9, 4) if heartbeat else None,
        "records": records, "processed": w["processed"], "published": w["published"],
        "rate_per_s": rate.rate(("records", role), records),
        "restarts": w["restarts"], "errors": w["errors"],
        "wait": WAIT_NAMES.get(w["wait"], "?"),
        "idle_share": _idle_share(busy, idle, rate.baseline, role),
        "idle_share_run": _share(idle, busy + idle),
        "sleeps": w["sleeps"],
        "sched_fifo": bool(w["sched_fifo"]), "mem_locked": bool(w["mem_locked"]),
        "counters": {name: counters[slot]
                     for name, slot in role_counters(role).items()},
    }


def _idle_share(busy: int, idle: int, baseline: dict | None, role: str) -> float | None:
    """Share of the worker's loop passes that found no work, over the rate window (over
    the run without one). A pass, not a nanosecond: a proxy for idle time."""
    if baseline is not None and ("passes", role) in baseline:
        busy0, idle0 = baseline[("passes", role)]
        return _share(idle - idle0, (busy - busy0) + (idle - idle0))
    return _share(idle, busy + idle)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _ring(ring: _Ring, rate: _RateBasis, totals: dict) -> dict:
    # tail and gate first, then head (acquire loads): head only grows, so head >= tail and
    # head >= gate always (the gate read after the head could be past it: a CI failure)
    tail = lib.tp_load_acquire_u64(ring.tail_address)
    gated = int(ring.header["gated"])
    gate = lib.tp_load_acquire_u64(ring.gate_address) if gated else 0
    head = lib.tp_load_acquire_u64(ring.head_address)
    capacity = int(ring.header["capacity"])
    # The consumer updates its mark only when it re-reads head, so a backlog seen here
    # can be larger: report the largest either side has seen.
    high_water = max(int(ring.header["high_water"]), head - tail,
                     (rate.previous or {}).get(("high_water", ring.name), 0))
    totals[("head", ring.name)] = head
    totals[("high_water", ring.name)] = high_water
    return {
        "name": ring.name, "producer": ring.producer, "consumer": ring.consumer,
        "capacity": capacity, "head": head, "tail": tail, "occupancy": head - tail,
        "fill_share": _share(head - tail, capacity),
        "high_water": high_water,
        "full_waits": int(ring.header["full_waits"]),
        "rate_per_s": rate.rate(("head", ring.name), head),
        # gated: the journal's position, and how far behind the head it is
        **({"gate": gate, "journal_lag": head - gate} if gated else {}),
    }


def _latency(histograms: np.ndarray, previous: np.ndarray | None) -> dict:
    """Per hop: percentiles over the whole run, and over the interval since `previous`."""
    buckets = histograms["buckets"].astype(np.int64)
    run = percentiles_by_row(buckets, histograms["max_ns"])
    interval = [None] * len(HOPS)
    if previous is not None:
        interval = percentiles_by_row(np.clip(buckets - previous["buckets"].astype(np.int64), 0, None))
    return {hop: {"run": run[index], "interval": interval[index]} for index, hop in enumerate(HOPS)}


def _books(control, symbols: np.ndarray, instruments: list["Instrument"],
           strategy_positions: np.ndarray | None, mids: list) -> dict:
    """The engine's books: the trading state and, per symbol, what an outside
    reconciliation needs (bench chaos): risk's position and open quantities, the venue's
    net position and orders, and the position the strategies keep from their own copies
    of the reports. The roles add their counters to this section (risk's intents, orders
    and rejects; the gateway's fills and the venue's rejects: workers/*/sections.py). One
    copy of the rows, so that a symbol's figures (and its P&L in currency) are of one read."""
    stats = np.array(symbols)
    # the strategies' own positions (from their reports), summed: one figure per symbol
    held = None if strategy_positions is None else \
        np.array(strategy_positions["position"]).sum(axis=0)
    positions = {}
    for index, row in enumerate(stats):
        instrument = instruments[index]
        position = int(row["position"])
        positions[instrument.name] = {
            "symbol_id": index,
            "position": position,
            **pnl_fields(instrument, position, int(row["cost_basis"]), int(row["realised_pnl"]),
                         int(row["fees"]), mids[index]),
            "cash": int(row["cash"]), "venue_cash": int(row["venue_cash"]),
            "filled_qty": int(row["filled_qty"]),
            "orders_sent": int(row["orders_sent"]),
            "open_buy_qty": int(row["open_buy_qty"]),
            "open_sell_qty": int(row["open_sell_qty"]),
            "venue_net_qty": int(row["venue_net_qty"]),
            "venue_orders": int(row["venue_orders"]),
            "open_orders": int(row["open_orders"]),
            "venue_resting": int(row["venue_resting"]),
            **({} if held is None else {"strategy_position": int(held[index])})}
    return {
        "trading_state": TRADING_STATE_NAMES.get(int(control["trading_state"]), "?"),
        "trading_state_changes": int(control["trading_state_changes"]),
        "realised_pnl": sum(p["realised_pnl"] for p in positions.values()),
        **pnl_totals(positions.values()),
        "open_orders": sum(p["open_orders"] for p in positions.values()),
        "positions": positions,
    }
