"""Segment header: offset 0 of every tickpipe segment; written by its creator, read by all.

offset | size | field             | unit / value      | written by | read by | ordering
-------+------+-------------------+-------------------+------------+---------+-------------------------
     0 |    8 | magic             | SEGMENT_MAGIC     | creator    | attach  | first write
     8 |    4 | layout_version    | LAYOUT_VERSION    | creator    | attach  | LAST write, release: the
       |      |                   |                   |            |         | ready flag (0 = initialising)
    12 |    4 | header_size       | bytes             | creator    | attach  |
    16 |    8 | layout_hash       | hash of all dtypes| creator    | attach  |
    24 |    8 | total_size        | bytes             | creator    | attach  | checked against fstat
    32 |    8 | owner_pid         | pid               | creator    | ls      |
    40 |    8 | owner_start_ticks | clock ticks       | creator    | ls      | /proc/PID/stat field 22
    48 |    8 | created_unix_ns   | ns, realtime      | creator    | ls      |
    56 |    8 | page_size         | bytes             | creator    | ls      | read back from smaps
    64 |    4 | backing           | BACKING_*         | creator    | ls      |
    68 |    4 | locked            | 0/1               | creator    | ls      | mlock of the mapping
    72 |    4 | section_count     | count             | creator    | attach  | <= MAX_SECTIONS
    76 |    4 | owner_uid         | uid               | creator    | ls      |
    80 |   32 | engine_name       | ASCII, 0-padded   | creator    | ls      |
   112 |   16 | _reserved         |                   |            |         | zero
   128 | 1024 | sections[32]      | SECTION_DTYPE     | creator    | attach  | before layout_version

Section entry (32 bytes): name (16 ASCII) | offset (8, from segment start) | size (8).
Every section offset is a multiple of 64; ring sections a multiple of 4096.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

SEGMENT_MAGIC = int.from_bytes(b"TICKPIPE", "little")
HEADER_REGION_SIZE = 4096  # the header region is a page; section 0 starts after it
MAX_SECTIONS = 32  # 10 fixed + 3 rings per strategy (4) + the two risk/gateway rings

BACKING_SHM = 1
BACKING_HUGETLBFS = 2
BACKING_NAMES = {BACKING_SHM: "shm", BACKING_HUGETLBFS: "hugetlbfs"}

SECTION_DTYPE = np.dtype(
    [("name", "S16"), ("offset", np.uint64), ("size", np.uint64)], align=True
)
assert SECTION_DTYPE.itemsize == 32

SEGMENT_HEADER_DTYPE = np.dtype(
    [
        ("magic", np.uint64),
        ("layout_version", np.uint32),
        ("header_size", np.uint32),
        ("layout_hash", np.uint64),
        ("total_size", np.uint64),
        ("owner_pid", np.uint64),
        ("owner_start_ticks", np.uint64),
        ("created_unix_ns", np.int64),
        ("page_size", np.uint64),
        ("backing", np.uint32),
        ("locked", np.uint32),
        ("section_count", np.uint32),
        ("owner_uid", np.uint32),
        ("engine_name", "S32"),
        ("_reserved", np.uint8, (16,)),
        ("sections", SECTION_DTYPE, (MAX_SECTIONS,)),
    ],
    align=True,
)

SEGMENT_HEADER_OFFSETS = {
    "magic": 0, "layout_version": 8, "header_size": 12, "layout_hash": 16,
    "total_size": 24, "owner_pid": 32, "owner_start_ticks": 40, "created_unix_ns": 48,
    "page_size": 56, "backing": 64, "locked": 68, "section_count": 72, "owner_uid": 76,
    "engine_name": 80, "_reserved": 112, "sections": 128,
}
SEGMENT_HEADER_SIZE = 1152
assert_layout(SEGMENT_HEADER_DTYPE, SEGMENT_HEADER_OFFSETS, SEGMENT_HEADER_SIZE)

# Named offsets for code that reads single words before trusting the header.
MAGIC_OFFSET = 0
LAYOUT_VERSION_OFFSET = 8
LAYOUT_HASH_OFFSET = 16
TOTAL_SIZE_OFFSET = 24


def check_section_count(count: int) -> None:
    """Raise ValueError naming the bad value if a section count cannot fit the table."""
    if not 0 <= count <= MAX_SECTIONS:
        raise ValueError(f"section count {count} is outside 0..{MAX_SECTIONS}")
