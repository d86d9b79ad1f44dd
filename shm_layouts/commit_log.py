"""Commit log: one per worker; what makes a batch's effects and its progress one step.

offset | size   | field                  | unit      | written by | read by          | ordering
-------+--------+------------------------+-----------+------------+------------------+-------------------------
     0 |      8 | committed              | batch no. | worker     | worker (restart) | release: THE commit point
     8 |      8 | open_batch             | batch no. | worker     | worker (restart) | release; 0 = none open
    16 |      8 | undo_count             | entries   | worker     | worker (restart) | release, after the entry
    24 |     40 | _reserved0             |           |            |                  |
    64 | 2 x 128| points[2]              | POINT     | worker     | worker (restart) | before `committed`
   320 | 16 x N | undo[UNDO_CAPACITY]    | UNDO      | worker     | worker (restart) | before the change it undoes

POINT (128 bytes): inputs[6] = ring positions consumed through, outputs[10] = ring
positions published through, each as of the end of one batch; points[b & 1] is
batch b's.
UNDO (16 bytes): offset (segment-relative: a restarted worker maps the segment
elsewhere) and the old value of one 8-byte word of shared state the open batch
changed.

The protocol, stated once here (engine/commit.py applies it; docs/commit_protocol.md
argues each crash point): a batch changes shared state only through the undo
log (entry first, then the word); its outputs go into ring slots it has
claimed but not published; the store of `committed` = its number, after its
point, is the commit; only then are its outputs published and its inputs
released. A restarted worker rolls back a batch that was open and not
committed, publishes whatever its committed point says it produced and
releases what it says it consumed, and carries on from there.
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

MAX_INPUTS = 6
MAX_OUTPUTS = 10  # the gateway: risk's reports ring and one per strategy
UNDO_CAPACITY = 4096  # words a batch may change: BATCH records x a few words each, with room

COMMIT_POINT_DTYPE = np.dtype(
    [("inputs", np.uint64, (MAX_INPUTS,)), ("outputs", np.uint64, (MAX_OUTPUTS,))], align=True)
assert_layout(COMMIT_POINT_DTYPE, {"inputs": 0, "outputs": 48}, 128)

UNDO_ENTRY_DTYPE = np.dtype([("offset", np.uint64), ("old", np.uint64)], align=True)
assert UNDO_ENTRY_DTYPE.itemsize == 16  # four to a cache line; the log as a whole is aligned

COMMIT_LOG_DTYPE = np.dtype(
    [("committed", np.uint64), ("open_batch", np.uint64), ("undo_count", np.uint64),
     ("_reserved0", np.uint8, (40,)), ("points", COMMIT_POINT_DTYPE, (2,)),
     ("undo", UNDO_ENTRY_DTYPE, (UNDO_CAPACITY,))], align=True)
COMMIT_LOG_OFFSETS = {"committed": 0, "open_batch": 8, "undo_count": 16, "_reserved0": 24,
                      "points": 64, "undo": 320}
COMMIT_LOG_SIZE = 320 + 16 * UNDO_CAPACITY
assert_layout(COMMIT_LOG_DTYPE, COMMIT_LOG_OFFSETS, COMMIT_LOG_SIZE)

COMMITTED_OFFSET = 0
OPEN_BATCH_OFFSET = 8
UNDO_COUNT_OFFSET = 16
POINTS_OFFSET = 64
POINT_SIZE = 128
POINT_OUTPUTS_OFFSET = 48
UNDO_OFFSET = 320
UNDO_ENTRY_SIZE = 16
