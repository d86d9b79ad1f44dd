"""Single-producer/single-consumer ring of fixed-size records in a segment section.

The layout and the publication rule live in shm_layouts/ring_header.py. This
module is the algorithm:

- Each side holds a *handle*: a small process-local int64 array (slots named
  H_* below) with the addresses of the shared indices, its own position and a
  cached copy of the peer's index. The shared peer index is re-read only when
  the cache says the ring is full (producer) or empty (consumer), so a side in
  a steady stream touches the other side's cache line once per lap, not once
  per record.
- Batches on both sides: claim n / write / publish n, read n / release n; one
  index store per batch.
- The producer's publish is a release-store of head; when the consumer's wait
  strategy may sleep, it is a seq_cst store followed by a check of the
  consumer's doorbell (engine/idle.py), and the wake syscall happens only when
  the consumer armed it.

Jitted functions return counts and never raise. Records are addressed by the
caller as records[(position + i) & mask].
"""

import numpy as np
from numba import njit

from engine.atomics import (
    lib, load_acquire_u64, store_index_and_notify, store_relaxed_u64, store_release_u64,
)
from engine.ring_layout import (  # noqa: F401  (re-exported)
    init_ring, ring_header, ring_records, ring_words,
)
from shm_layouts.ring_header import (
    RING_FULL_WAITS_OFFSET, RING_HEAD_OFFSET, RING_HIGH_WATER_OFFSET, RING_TAIL_OFFSET,
)

# Handle slots (process-local int64 array; one handle per side per ring).
H_HEAD_ADDR = 0        # address of the shared head (producer index)
H_TAIL_ADDR = 1        # address of the shared tail (consumer index)
H_DOORBELL_ADDR = 2    # address of the consumer's doorbell {u32 armed; u32 wake_seq}
H_MASK = 3             # capacity - 1
H_CAPACITY = 4
H_POSITION = 5         # this side's own index: next seq to publish / to read
H_PEER_CACHE = 6       # last value read of the other side's index
H_NOTIFY = 7           # producer: 1 when the consumer may sleep (ring its doorbell)
H_HIGH_WATER = 8       # consumer: local copy of the high-water mark
H_HIGH_WATER_ADDR = 9
H_FULL_WAITS_ADDR = 10
H_FULL_WAITS = 11      # producer: local count of claims that found the ring full
HANDLE_SLOTS = 12


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
    return handle


def producer_handle(segment, section: str) -> np.ndarray:
    """Handle for the ring's one producer; resumes at the shared head (restart-safe)."""
    handle = _new_handle(segment, section)
    handle[H_POSITION] = lib.tp_load_acquire_u64(int(handle[H_HEAD_ADDR]))
    handle[H_PEER_CACHE] = lib.tp_load_acquire_u64(int(handle[H_TAIL_ADDR]))
    handle[H_NOTIFY] = int(ring_header(segment, section)["consumer_may_sleep"])
    handle[H_FULL_WAITS] = lib.tp_load_relaxed_u64(int(handle[H_FULL_WAITS_ADDR]))
    return handle


def consumer_handle(segment, section: str) -> np.ndarray:
    """Handle for the ring's one consumer; resumes at the shared tail (restart-safe)."""
    handle = _new_handle(segment, section)
    handle[H_POSITION] = lib.tp_load_acquire_u64(int(handle[H_TAIL_ADDR]))
    handle[H_PEER_CACHE] = lib.tp_load_acquire_u64(int(handle[H_HEAD_ADDR]))
    handle[H_HIGH_WATER] = lib.tp_load_relaxed_u64(int(handle[H_HIGH_WATER_ADDR]))
    return handle


@njit(cache=True)
def producer_claim(handle, wanted):
    """Free slots, at most `wanted`, starting at handle[H_POSITION]; 0 when full.

    Never blocks and never writes shared memory except the full_waits counter.
    """
    free = handle[H_CAPACITY] - (handle[H_POSITION] - handle[H_PEER_CACHE])
    if free < wanted:
        handle[H_PEER_CACHE] = load_acquire_u64(handle[H_TAIL_ADDR])
        free = handle[H_CAPACITY] - (handle[H_POSITION] - handle[H_PEER_CACHE])
        if free == 0:
            handle[H_FULL_WAITS] += 1
            store_relaxed_u64(handle[H_FULL_WAITS_ADDR], handle[H_FULL_WAITS])
    return min(free, wanted)


@njit(cache=True)
def producer_publish(handle, count):
    """Make `count` claimed, fully written records visible: one index store.

    Returns 1 when it made a wake syscall for a sleeping consumer, else 0.
    """
    position = handle[H_POSITION] + count
    handle[H_POSITION] = position
    if handle[H_NOTIFY]:
        return store_index_and_notify(handle[H_HEAD_ADDR], position, handle[H_DOORBELL_ADDR])
    store_release_u64(handle[H_HEAD_ADDR], position)
    return 0


@njit(cache=True)
def consumer_available(handle, wanted):
    """Records ready to read, at most `wanted`, starting at handle[H_POSITION]; 0 when empty."""
    ready = handle[H_PEER_CACHE] - handle[H_POSITION]
    if ready == 0:
        head = load_acquire_u64(handle[H_HEAD_ADDR])
        handle[H_PEER_CACHE] = head
        ready = head - handle[H_POSITION]
        if ready > handle[H_HIGH_WATER]:
            handle[H_HIGH_WATER] = ready
            store_relaxed_u64(handle[H_HIGH_WATER_ADDR], ready)
    return min(ready, wanted)


@njit(cache=True)
def consumer_release(handle, count):
    """Give `count` read slots back to the producer: one index store."""
    position = handle[H_POSITION] + count
    handle[H_POSITION] = position
    store_release_u64(handle[H_TAIL_ADDR], position)


@njit(cache=True)
def consumer_has_data(handle):
    """1 when the shared head is past this consumer's position (fresh read), else 0."""
    return 1 if load_acquire_u64(handle[H_HEAD_ADDR]) != handle[H_POSITION] else 0


class RingProducer:
    """Python face of a ring's producer side (tools and tests; ~1 us a call)."""

    def __init__(self, segment, section: str, dtype):
        self.handle = producer_handle(segment, section)
        self.records = ring_records(segment, section, dtype)

    def try_push(self, batch: np.ndarray) -> int:
        """Copy as many of `batch` as fit and publish them; returns how many."""
        if len(batch) == 0:
            return 0
        count = int(producer_claim(self.handle, len(batch)))
        if count:
            start = int(self.handle[H_POSITION])
            slots = (start + np.arange(count)) & int(self.handle[H_MASK])
            self.records[slots] = batch[:count]
            producer_publish(self.handle, count)
        return count


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
        start = int(self.handle[H_POSITION])
        slots = (start + np.arange(count)) & int(self.handle[H_MASK])
        out = self.records[slots].copy()
        if count:
            consumer_release(self.handle, count)
        return out
