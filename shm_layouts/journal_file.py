"""Journal file: one ring's records on disk, in their own 64-byte layout, behind a header.

A journal run directory holds, per ring, files `<ring>.<index:06d>.tpj`; file
`index` holds ring positions [index x per_file, (index + 1) x per_file), so a
record's place on disk is a function of its ring position alone: a journal
restarted after a kill -9 writes each record again at the same place, and no
record is ever written twice or skipped (workers/journal/agent.py).

offset | size | field          | unit / value        | written by | read by | notes
-------+------+----------------+---------------------+------------+---------+---------------------------
     0 |    8 | magic          | b"TPJOURN1"         | journal    | readers | set when the file is made
     8 |    4 | format_version | JOURNAL_VERSION     | journal    | readers |
    12 |    4 | header_size    | bytes               | journal    | readers | records start here; 4096 x n
    16 |    8 | layout_hash    | shm_layouts hash    | journal    | readers | of the build that wrote it
    24 |    4 | layout_version | LAYOUT_VERSION      | journal    | readers |
    28 |    4 | record_size    | bytes               | journal    | readers | a multiple of 64
    32 |    8 | first_position | ring position       | journal    | readers | of the file's first record
    40 |    8 | per_file       | records             | journal    | readers | room in the file
    48 |    4 | file_index     | index               | journal    | readers |
    52 |    4 | json_len       | bytes               | journal    | readers | the description below
    56 |    8 | _reserved0     |                     |            |         |
    64 |    8 | records        | records             | journal    | readers | committed: written before the
       |      |                |                     |            |         | ring's gate moves past them
    72 |   56 | _reserved1     |                     |            |         |
   128 |  len | description    | UTF-8 JSON          | journal    | readers | ring, record kind and dtype,
       |      |                |                     |            |         | engine, run, instruments, config

A record's first word is its `seq`, the ring position + 1 (shm_layouts/ring_header.py):
record i of a file has seq = first_position + i + 1, which is how a reader proves
the journal holds each record exactly once.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

JOURNAL_MAGIC = b"TPJOURN1"
JOURNAL_VERSION = 1
JOURNAL_SUFFIX = ".tpj"
JOURNAL_PAGE = 4096  # header sizes round up to it, so records start page-aligned

JOURNAL_HEADER_DTYPE = np.dtype(
    [
        ("magic", "S8"), ("format_version", np.uint32), ("header_size", np.uint32),
        ("layout_hash", np.uint64), ("layout_version", np.uint32), ("record_size", np.uint32),
        ("first_position", np.uint64), ("per_file", np.uint64), ("file_index", np.uint32),
        ("json_len", np.uint32), ("_reserved0", np.uint64),
        ("records", np.uint64), ("_reserved1", np.uint8, (56,)),
    ],
    align=True,
)
JOURNAL_HEADER_OFFSETS = {
    "magic": 0, "format_version": 8, "header_size": 12, "layout_hash": 16,
    "layout_version": 24, "record_size": 28, "first_position": 32, "per_file": 40,
    "file_index": 48, "json_len": 52, "_reserved0": 56, "records": 64, "_reserved1": 72,
}
JOURNAL_HEADER_FIXED = 128
assert_layout(JOURNAL_HEADER_DTYPE, JOURNAL_HEADER_OFFSETS, JOURNAL_HEADER_FIXED)
JOURNAL_RECORDS_COUNT_OFFSET = 64


def header_size_for(json_len: int) -> int:
    """Bytes of a header whose description is json_len bytes: a whole number of pages."""
    raw = JOURNAL_HEADER_FIXED + json_len
    return (raw + JOURNAL_PAGE - 1) // JOURNAL_PAGE * JOURNAL_PAGE


def file_name(ring: str, index: int) -> str:
    return f"{ring}.{index:06d}{JOURNAL_SUFFIX}"
