"""Single-producer/single-consumer ring of fixed-size records in a segment section.

The layout and the publication rule live in shm_layouts/ring_header.py; the two
C functions that apply the rule (tp_ring_publish, tp_ring_count_ready) in
engine/atomics.c. This module is the algorithm around them:

- Each side holds a *handle*: a small process-local int64 array (slots named
  H_* below) with the addresses it needs, its own position and a cached copy of
  what it knows of the other side.
- Each record publishes itself: the producer writes every field but `seq`,
  then producer_publish stores each record's `seq` (release), then the head
  index once per batch. The consumer learns a record is ready from that
  record's own `seq` (one cache line per message) and never reads head in
  steady state; head is for tools, the drain and a restarting producer.
- The producer re-reads the shared tail only when its cached copy says the
  ring is full; the consumer frees slots with one release-store of tail per
  batch.
- When the consumer's wait strategy may sleep, publish rings its doorbell,
  and makes the wake syscall only when the consumer armed it (engine/idle.py).
- A gated ring (the journal reads it too) frees a slot only when both the
  consumer's tail and the journal's gate are past it: the producer's look at
  its reader takes the smaller of the two (`_reader_position`).

Jitted functions return counts and never raise. Records are addressed by the
caller as records[(position + i) & mask]; a producer never writes a record's
`seq` word itself.
"""

import numpy as np
from numba import njit

from tickpipe.engine.atomics import (
    lib, load_acquire_u64, load_relaxed_u64, ring_count_ready, ring_publish, store_relaxed_u64,
    store_release_u64,
)
from tickpipe.engine.ring_layout import (  # noqa: F401  (re-exported)
    init_ring, ring_header, ring_records, ring_words,
)
from tickpipe.shm_layouts.ring_header import (
    RING_FULL_WAITS_OFFSET, RING_GATE_OFFSET, RING_HEAD_OFFSET, RING_HIGH_WATER_OFFSET,
    RING_RECORDS_OFFSET, RING_TAIL_OFFSET,
)

# Handle slots (process-local int64 array; one handle per side per ring).
H_HEAD_ADDR = 0        # address of the shared head (producer index)
H_TAIL_ADDR = 1        # address of the shared tail (consumer index)
H_DOORBELL_ADDR = 2    # address of the consumer's doorbell {u32 armed; u32 wake_seq}
H_MASK = 3             # capacity - 1
H_CAPACITY = 4
H_POSITION = 5         # this side's own index: next position to publish / to read
H_PEER_CACHE = 6       # producer: last value read of the shared tail;
                       # consumer: position up to which records were seen published
H_NOTIFY = 7           # producer: 1 when the consumer may sleep (ring its doorbell)
H_HIGH_WATER = 8       # consumer: local copy of the high-water mark
H_HIGH_WATER_ADDR = 9
H_FULL_WAITS_ADDR = 10
H_FULL_WAITS = 11      # producer: local count of claims that found the ring full
H_RECORDS_ADDR = 12    # address of slot 0; a slot's seq word is its first 8 bytes
H_RECORD_SIZE = 13     # bytes per record (a multiple of 64)
H_GATE_ADDR = 14       # producer: address of the journal's gate; 0 when not gated
HANDLE_SLOTS = 15


def _new_handle(segment, section: str) -> np.ndarray:
    offset, _ = segment.section(section)
    base = segment.base_address + offset
    header = ring_header(segment, section)
    handle = np.zeros(HANDLE_SLOTS, dtype=np.int64)
    handle[H_HEAD_ADDR] = base + RING_HEAD_OFFSET
    handle[H_TAIL_ADDR] = base + RING_TAIL_OFFSET
    handle[H_DOORBELL_ADDR] = segment.base_address + int(header["doorbell_offset"])
    handle[H_MASK] = int(header["mask"])
    handle[H_CAPACITY] = int(header["capacity"])
    handle[H_HIGH_WATER_ADDR] = base + RING_HIGH_WATER_OFFSET
    handle[H_FULL_WAITS_ADDR] = base + RING_FULL_WAITS_OFFSET
    handle[H_RECORDS_ADDR] = base + RING_RECORDS_OFFSET
    handle[H_RECORD_SIZE] = int(header["record_size"])
    handle[H_GATE_ADDR] = base + RING_GATE_OFFSET if int(header["gated"]) else 0
    return handle


def _count_ready(handle, position: int, wanted: int) -> int:
    return lib.tp_ring_count_ready(int(handle[H_RECORDS_ADDR]), int(handle[H_MASK]),
                                   int(handle[H_RECORD_SIZE]), position, wanted)


def producer_handle(segment, section: str) -> np.ndarray:
    """Handle for the ring's one producer; resumes after the last published record.

    A producer killed between its seq stores and its head store has published
    records that head does not count yet (the consumer may already have read
    them). The restarted producer starts at head, steps over every slot whose
    seq says it is published, and stores the corrected head, so it never
    overwrites a published record nor leaves a gap.
    """
    handle = _new_handle(segment, section)
    head = lib.tp_load_acquire_u64(int(handle[H_HEAD_ADDR]))
    tail = int(_reader_position(handle))
    published = _count_ready(handle, head, int(handle[H_CAPACITY]) - (head - tail))
    if published:
        lib.tp_store_release_u64(int(handle[H_HEAD_ADDR]), head + published)
    handle[H_POSITION] = head + published
    handle[H_PEER_CACHE] = tail
    handle[H_NOTIFY] = int(ring_header(segment, section)["consumer_may_sleep"])
    handle[H_FULL_WAITS] = lib.tp_load_relaxed_u64(int(handle[H_FULL_WAITS_ADDR]))
    return handle


def consumer_handle(segment, section: str) -> np.ndarray:
    """Handle for the ring's one consumer; resumes at the shared tail (restart-safe:
    slots past the tail were not released, so they still hold what was unread)."""
    handle = _new_handle(segment, section)
    handle[H_POSITION] = lib.tp_load_acquire_u64(int(handle[H_TAIL_ADDR]))
    handle[H_PEER_CACHE] = handle[H_POSITION]
    handle[H_HIGH_WATER] = lib.tp_load_relaxed_u64(int(handle[H_HIGH_WATER_ADDR]))
    return handle


@njit(cache=True)
def _reader_position(handle):
    """Where the slowest reader is: the consumer's tail, or on a gated ring the smaller
    of it and the journal's gate. A slot below it may be written again."""
    tail = np.int64(load_acquire_u64(handle[H_TAIL_ADDR]))
    if handle[H_GATE_ADDR] != 0:
        tail = min(tail, np.int64(load_acquire_u64(handle[H_GATE_ADDR])))
    return tail


@njit(cache=True)
def producer_claim(handle, wanted):
    """Free slots, at most `wanted`, starting at handle[H_POSITION]; 0 when full.

    Never blocks and never writes shared memory except the full_waits counter.
    """
    free = handle[H_CAPACITY] - (handle[H_POSITION] - handle[H_PEER_CACHE])
    if free < wanted:
        handle[H_PEER_CACHE] = _reader_position(handle)
        free = handle[H_CAPACITY] - (handle[H_POSITION] - handle[H_PEER_CACHE])
        if free == 0:
            handle[H_FULL_WAITS] += 1
            store_relaxed_u64(handle[H_FULL_WAITS_ADDR], handle[H_FULL_WAITS])
    return min(free, wanted)


@njit(cache=True)
def producer_publish(handle, count):
    """Publish `count` claimed records whose fields (all but `seq`) are written:
    one seq store per record, one head store per batch, in one C call.

    Returns 1 when it made a wake syscall for a sleeping consumer, else 0.
    """
    position = handle[H_POSITION]
    handle[H_POSITION] = position + count
    doorbell = handle[H_DOORBELL_ADDR] if handle[H_NOTIFY] else 0
    return ring_publish(handle[H_RECORDS_ADDR], handle[H_MASK], handle[H_RECORD_SIZE], position,
                        count, handle[H_HEAD_ADDR], doorbell)


@njit(cache=True)
def producer_push_words(handle, slots, source):
    """Claim, copy and publish as many rows of `source` (records as uint64 words) as fit,
    in one call: every word but the first (seq), which publish stores. Returns how many.
    One call from Python instead of three (each a few microseconds of dispatch): the
    Python face's try_push, and through it the bridges' and the live source's records."""
    count = producer_claim(handle, source.shape[0])
    mask = handle[H_MASK]
    position = handle[H_POSITION]
    for i in range(count):
        slot = (position + i) & mask
        for w in range(1, source.shape[1]):
            slots[slot, w] = source[i, w]
    if count:
        producer_publish(handle, count)
    return count


@njit(cache=True)
def consumer_available(handle, wanted):
    """Records published and ready to read, at most `wanted`, starting at
    handle[H_POSITION]; 0 when empty. Reads the records' own seq words, never head.

    Keeps the high-water mark: the most records it ever found ready at once, and
    when it finds a full batch (`wanted` > 1, the consumer is behind) the true
    backlog from head; a consumer keeping up never touches head's line.
    """
    position = handle[H_POSITION]
    known = handle[H_PEER_CACHE] - position
    if known > 0:
        return min(known, wanted)
    ready = np.int64(ring_count_ready(handle[H_RECORDS_ADDR], handle[H_MASK],
                                      handle[H_RECORD_SIZE], position, wanted))
    handle[H_PEER_CACHE] = position + ready
    if ready > handle[H_HIGH_WATER]:
        backlog = ready
        if ready == wanted and wanted > 1:
            backlog = max(ready, np.int64(load_relaxed_u64(handle[H_HEAD_ADDR])) - position)
        handle[H_HIGH_WATER] = backlog
        store_relaxed_u64(handle[H_HIGH_WATER_ADDR], backlog)
    return ready


@njit(cache=True)
def consumer_release(handle, count):
    """Give `count` read slots back to the producer: one index store."""
    position = handle[H_POSITION] + count
    handle[H_POSITION] = position
    store_release_u64(handle[H_TAIL_ADDR], position)


@njit(cache=True)
def consumer_has_data(handle):
    """1 when the next record is published (a fresh acquire load of its seq), else 0."""
    position = handle[H_POSITION]
    seq_address = handle[H_RECORDS_ADDR] + (position & handle[H_MASK]) * handle[H_RECORD_SIZE]
    return 1 if np.int64(load_acquire_u64(seq_address)) == position + 1 else 0


class RingProducer:
    """Python face of a ring's producer side (tools and tests; ~1 us a call)."""

    def __init__(self, segment, section: str, dtype):
        self.handle = producer_handle(segment, section)
        self.records = ring_records(segment, section, dtype)
        self.words = ring_words(segment, section)

    def try_push(self, batch: np.ndarray) -> int:
        """Copy as many of `batch` as fit and publish them; returns how many.

        The ring stamps each record's `seq` (its position + 1) as it publishes
        it; whatever `batch` holds there is ignored.
        """
        if len(batch) == 0:
            return 0
        source = np.ascontiguousarray(batch, dtype=self.records.dtype)
        return int(producer_push_words(self.handle, self.words,
                                       source.view(np.uint64).reshape(len(source), -1)))


class RingConsumer:
    """Python face of a ring's consumer side (tools and tests)."""

    def __init__(self, segment, section: str, dtype):
        self.handle = consumer_handle(segment, section)
        self.records = ring_records(segment, section, dtype)

    def try_pop(self, max_count: int) -> np.ndarray:
        """Copy out up to `max_count` records and release them; empty array when none."""
        if max_count <= 0:
            return self.records[:0].copy()  # never hand a negative count to the release
        count = int(consumer_available(self.handle, max_count))
        first = int(self.handle[H_POSITION]) & int(self.handle[H_MASK])
        before_wrap = min(count, int(self.handle[H_CAPACITY]) - first)
        out = self.records[first:first + before_wrap].copy()  # slices, not a gather
        if count > before_wrap:
            out = np.concatenate((out, self.records[:count - before_wrap]))
        if count:
            consumer_release(self.handle, count)
        return out
