"""A ring section's header and records as numpy views; creating an empty ring. numba-free.

The algorithm (handles, claim/publish, read/release) is in engine/ring.py; the
layout and the publication rule in shm_layouts/ring_header.py.
"""

import numpy as np

from tickpipe.shm_layouts.ring_header import (
    RING_DOORBELL_OFFSET, RING_HEADER_DTYPE, RING_RECORDS_OFFSET, check_record_size,
    check_ring_capacity, ring_section_size,
)


def init_ring(segment, section: str, capacity: int, record_size: int, *, ring_id: int = 0,
              ring_name: str = "", doorbell_offset: int | None = None,
              consumer_may_sleep: bool = False, gated: bool = False) -> None:
    """Write an empty ring's header into `section` (creator only, before mark_ready).

    doorbell_offset: segment-relative offset of the doorbell the consumer sleeps
    on; default is the ring's own. A consumer of several rings gives them all
    one doorbell, so one futex wait covers every input.
    gated: the journal reads this ring too, and the producer waits for it
    (shm_layouts/ring_header.py `gate`).
    """
    check_ring_capacity(capacity)
    check_record_size(record_size)
    offset, size = segment.section(section)
    if ring_section_size(capacity, record_size) > size:
        raise ValueError(f"ring {section!r}: capacity {capacity} x {record_size} B "
                         f"does not fit its {size}-byte section")
    # Zero the records too: a slot whose seq word still said "published" from an
    # earlier use of this section would be read as a record of the new ring.
    segment.buf[offset:offset + ring_section_size(capacity, record_size)] = 0
    header = segment.buf[offset:offset + RING_HEADER_DTYPE.itemsize].view(RING_HEADER_DTYPE)[0]
    header["capacity"] = capacity
    header["record_size"] = record_size
    header["mask"] = capacity - 1
    header["doorbell_offset"] = offset + RING_DOORBELL_OFFSET if doorbell_offset is None \
        else doorbell_offset
    header["consumer_may_sleep"] = int(consumer_may_sleep)
    header["ring_id"] = ring_id
    header["gated"] = int(gated)
    header["name"] = (ring_name or section).encode()[:24]


def ring_header(segment, section: str):
    offset, _ = segment.section(section)
    return segment.buf[offset:offset + RING_HEADER_DTYPE.itemsize].view(RING_HEADER_DTYPE)[0]


def ring_records(segment, section: str, dtype) -> np.ndarray:
    """The records array of a ring (length = capacity), viewed as `dtype`."""
    dtype = np.dtype(dtype)
    header = ring_header(segment, section)
    if dtype.itemsize != int(header["record_size"]):
        raise ValueError(f"ring {section!r} holds {int(header['record_size'])}-byte records, "
                         f"not {dtype.itemsize}-byte {dtype}")
    return segment.view(section, dtype, int(header["capacity"]), RING_RECORDS_OFFSET)


def ring_words(segment, section: str) -> np.ndarray:
    """The records of a ring as a (capacity, record_size // 8) uint64 array, for code
    that moves whole records without caring about their fields."""
    header = ring_header(segment, section)
    capacity, record_size = int(header["capacity"]), int(header["record_size"])
    words = segment.view(section, np.uint64, capacity * record_size // 8, RING_RECORDS_OFFSET)
    return words.reshape(capacity, record_size // 8)
