"""Everything a worker process needs from the segment, as arrays its jitted loop takes."""

from dataclasses import dataclass, field

import numpy as np

from tickpipe.engine.commit import make_txn, recover
from tickpipe.engine.engine_layout import (
    commit_log_offset, engine_rings, inputs_of, outputs_of, worker_index,
)
from tickpipe.engine.idle import make_idle_state
from tickpipe.engine.ring import HANDLE_SLOTS, consumer_handle, producer_handle, ring_records
from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.depth import DEPTH_DTYPE
from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE, HISTOGRAM_ROWS
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import DOORBELL_OFFSET, WORKER_DTYPE


@dataclass
class WorkerContext:
    segment: object
    role: str
    config: dict
    index: int
    row: object                 # this worker's row (numpy record in the segment)
    row_words: np.ndarray       # the same row as uint64 words, for jitted loops
    control_address: int
    inputs: np.ndarray          # (n_inputs, HANDLE_SLOTS) consumer handles, doorbell-sharing
    outputs: dict = field(default_factory=dict)   # section -> producer handle
    records: dict = field(default_factory=dict)   # section -> typed records array
    idle_state: np.ndarray = None
    histograms: np.ndarray = None                 # (HISTOGRAM_ROWS, words) uint64
    book: np.ndarray = None
    depth: np.ndarray = None  # the L2 book (one row per symbol when [feed] depth > 1)
    symbols: np.ndarray = None

    txn: np.ndarray = None                        # the batch transaction (engine/commit.py)
    recovered: dict = field(default_factory=dict)  # what recover() did at this start

    def input_handle(self, slot: int) -> np.ndarray:
        return self.inputs[slot]


def build_context(segment, role: str, config: dict) -> WorkerContext:
    """`role` is the worker's name: feed, strategy, strategy2, ..., risk, gateway."""
    index = worker_index(role)
    workers = segment.view("workers", WORKER_DTYPE)
    row = workers[index]
    workers_offset, _ = segment.section("workers")
    row_start = workers_offset + index * WORKER_DTYPE.itemsize
    row_words = segment.buf[row_start:row_start + WORKER_DTYPE.itemsize].view(np.uint64)
    control_offset, _ = segment.section("control")
    rings = engine_rings(config)
    input_specs = inputs_of(role, rings)
    output_specs = outputs_of(role, rings)
    # Before any handle: roll an uncommitted batch back, publish and release what the
    # last commit says, so the handles start exactly at the committed point.
    log_offset = commit_log_offset(segment, role)
    recovered = recover(segment, log_offset, [spec.section for spec in input_specs],
                        [spec.section for spec in output_specs])
    inputs = np.zeros((max(len(input_specs), 1), HANDLE_SLOTS), dtype=np.int64)
    records = {}
    for spec in input_specs:
        inputs[spec.input_index] = consumer_handle(segment, spec.section)
        records[spec.section] = ring_records(segment, spec.section, spec.dtype)
    outputs = {}
    for spec in output_specs:
        outputs[spec.section] = producer_handle(segment, spec.section)
        records[spec.section] = ring_records(segment, spec.section, spec.dtype)
    doorbell = segment.base_address + row_start + DOORBELL_OFFSET
    return WorkerContext(
        segment=segment, role=role, config=config, index=index, row=row, row_words=row_words,
        control_address=segment.base_address + control_offset, inputs=inputs, outputs=outputs,
        records=records, idle_state=make_idle_state(
            int(row["wait"]), doorbell, spin_limit=config["engine"]["backoff_spin"],
            yield_limit=config["engine"]["backoff_yield"]),
        histograms=segment.view("histograms", HISTOGRAM_DTYPE, HISTOGRAM_ROWS).view(np.uint64)
        .reshape(HISTOGRAM_ROWS, -1),
        book=segment.view("book", BOOK_DTYPE), depth=segment.view("depth", DEPTH_DTYPE),
        symbols=segment.view("symbols", SYMBOL_STATS_DTYPE),
        txn=make_txn(segment, log_offset, inputs[:len(input_specs)],
                     [outputs[spec.section] for spec in output_specs]),
        recovered=recovered,
    )
