"""SPSC ring header: the first 1024 bytes of every ring section; records follow it.

offset | size | field              | unit          | written by | read by  | ordering
-------+------+--------------------+---------------+------------+----------+-------------------------------
     0 |    8 | capacity           | records       | creator    | both     | before the segment is ready
     8 |    8 | record_size        | bytes         | creator    | both     | a multiple of 64
    16 |    8 | mask               | capacity-1    | creator    | both     |
    24 |    8 | doorbell_offset    | bytes         | creator    | producer | segment-relative; the doorbell
       |      |                    |               |            |          | the consumer sleeps on
    32 |    4 | consumer_may_sleep | 0/1           | creator    | producer | 1: ring the doorbell on publish
    36 |    4 | ring_id            | index         | creator    | tools    |
    40 |   24 | name               | ASCII         | creator    | tools    |
    64 |    4 | gated              | 0/1           | creator    | producer | 1: a second reader (the journal)
       |      |                    |               |            |          | gates the producer: see `gate`
    68 |   60 | _reserved0         |               |            |          |
   128 |    8 | head               | sequence      | producer   | tools,   | release-store once per batch,
       |      |                    |               |            | drain    | after its seq stores; alone in
       |      |                    |               |            |          | 128..255; consumers never wait on it
   256 |    8 | tail               | sequence      | consumer   | producer | release-store after the records
       |      |                    |               |            |          | are read; alone in 256..383
   384 |    4 | doorbell_armed     | 0/1           | consumer   | producer | seq_cst fences on both sides
       |      |                    |               |            |          | (Dekker with the next slot's seq)
   388 |    4 | doorbell_wake_seq  | count         | producer   | consumer | the futex word
   512 |    8 | high_water         | records       | consumer   | tools    | relaxed; most records found ready
       |      |                    |               |            |          | at once (head - tail on a full batch)
   520 |    8 | full_waits         | count         | producer   | tools    | relaxed; claims that found it full
   640 |    8 | gate               | sequence      | journal    | producer | release-store after the records
       |      |                    |               |            |          | are copied out; alone in 640..767;
       |      |                    |               |            |          | read only when gated
  1024 |  cap | records            | record_size   | producer   | consumer | slot = position & mask; the
       |      |                    |               |            |          | record's first word is its seq

Publication rule (the one rule of the ring): each record publishes itself. Its
first 8 bytes are `seq` = ring position + 1. The producer writes every other
field, then stores `seq` with release ordering; that store is the publication.
The consumer reads slot p only after an acquire load of its `seq` returns
p + 1; a slot from the previous lap holds p + 1 - capacity (a never-written one
0), so it never looks ready. Record and flag share one cache line, so a message
costs one line transfer. The producer stores `head` once per batch after the
batch's seq stores (for tools, the drain and its own restart); the consumer
frees slots with a release-store of `tail` once per batch after it has finished
reading them, and the producer re-reads `tail` only when its cached copy says
the ring is full. head and tail are 64-bit sequence numbers that never wrap in
practice (584 years at 10^9 records/s). Each lives alone in 128 bytes, two
cache lines, against false sharing and the adjacent-line prefetcher. The code
that applies the rule is tp_ring_publish and tp_ring_count_ready
(engine/atomics.c), and nothing else writes or tests a seq word.

A gated ring has a second reader that never consumes: the journal
(workers/journal), which copies every record out and then release-stores `gate`,
as the consumer does `tail`. The producer's free room is then counted from
min(tail, gate), so no slot is overwritten before both have passed it: the
journal is a gating sequence, as in the Disruptor, and cannot fall behind and
skip. The producer reads `gate` only where it reads `tail` (when its cached
copy says the ring is full), so a gated ring costs nothing in steady state.
"""

import operator

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

RING_HEADER_DTYPE = np.dtype(
    [
        ("capacity", np.uint64),
        ("record_size", np.uint64),
        ("mask", np.uint64),
        ("doorbell_offset", np.uint64),
        ("consumer_may_sleep", np.uint32),
        ("ring_id", np.uint32),
        ("name", "S24"),
        ("gated", np.uint32),
        ("_reserved0", np.uint8, (60,)),
        ("head", np.uint64),
        ("_pad_head", np.uint8, (120,)),
        ("tail", np.uint64),
        ("_pad_tail", np.uint8, (120,)),
        ("doorbell_armed", np.uint32),
        ("doorbell_wake_seq", np.uint32),
        ("_pad_doorbell", np.uint8, (120,)),
        ("high_water", np.uint64),
        ("full_waits", np.uint64),
        ("_pad_stats", np.uint8, (112,)),
        ("gate", np.uint64),
        ("_pad_gate", np.uint8, (376,)),
    ],
    align=True,
)

RING_HEADER_OFFSETS = {
    "capacity": 0, "record_size": 8, "mask": 16, "doorbell_offset": 24,
    "consumer_may_sleep": 32, "ring_id": 36, "name": 40, "gated": 64, "_reserved0": 68,
    "head": 128, "_pad_head": 136, "tail": 256, "_pad_tail": 264,
    "doorbell_armed": 384, "doorbell_wake_seq": 388, "_pad_doorbell": 392,
    "high_water": 512, "full_waits": 520, "_pad_stats": 528, "gate": 640, "_pad_gate": 648,
}
RING_HEADER_SIZE = 1024
assert_layout(RING_HEADER_DTYPE, RING_HEADER_OFFSETS, RING_HEADER_SIZE)

RING_HEAD_OFFSET = 128      # producer index, alone in its 128-byte slot
RING_TAIL_OFFSET = 256      # consumer index, alone in its 128-byte slot
RING_DOORBELL_OFFSET = 384  # {u32 armed; u32 wake_seq}: a consumer's doorbell
RING_HIGH_WATER_OFFSET = 512
RING_FULL_WAITS_OFFSET = 520
RING_GATED_OFFSET = 64
RING_GATE_OFFSET = 640      # the journal's index, alone in its 128-byte slot
RING_RECORDS_OFFSET = 1024
RING_ALIGN = 4096

MIN_CAPACITY = 2
MAX_CAPACITY = 1 << 24


def check_ring_capacity(capacity: int) -> None:
    """Raise ValueError naming the bad value unless capacity is a power of two in range."""
    try:
        capacity = operator.index(capacity)  # int or numpy integer; not float, not str
    except TypeError:
        raise ValueError(f"ring capacity {capacity!r} is not an integer") from None
    if capacity < MIN_CAPACITY or capacity > MAX_CAPACITY or capacity & (capacity - 1):
        raise ValueError(
            f"ring capacity {capacity!r} must be a power of two in {MIN_CAPACITY}..{MAX_CAPACITY}")


def check_record_size(record_size: int) -> None:
    """Raise ValueError naming the bad value unless record_size is a positive multiple of 64."""
    if record_size <= 0 or record_size % 64:
        raise ValueError(f"record size {record_size} must be a positive multiple of 64 bytes")


def ring_section_size(capacity: int, record_size: int) -> int:
    """Bytes a ring section takes: header plus records, rounded up to RING_ALIGN."""
    raw = RING_RECORDS_OFFSET + capacity * record_size
    return (raw + RING_ALIGN - 1) // RING_ALIGN * RING_ALIGN
