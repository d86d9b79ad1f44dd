"""A bridge's message: one ZeroMQ frame, this 64-byte header, then `count` records
exactly as they lie in the sender's ring (64 bytes each for market data). Written by
workers/bridge_out/, read by workers/bridge_in/; and the other way, the in bridge's
acknowledgements (the header alone, `kind` ACK). One frame, not two: each send and
receive call is several microseconds of Python, the 4 KiB copy a fraction of one.

offset | size | field        | unit        | notes
-------+------+--------------+-------------+------------------------------------------
     0 |    4 | magic        |             | BRIDGE_MAGIC: not a bridge's message otherwise
     4 |    2 | version      |             | BRIDGE_WIRE_VERSION: this header's layout
     6 |    2 | record_size  | bytes       | each record's size (the ring's)
     8 |    8 | layout_hash  |             | layout_hash(): records and instruments
    16 |    8 | run_id       | ns, unix    | the sending engine's start: a new one is a new
       |      |              |             | sequence (the peer engine restarted); in an
       |      |              |             | ACK, the run acknowledged
    24 |    8 | first_seq    | count       | RECORDS: the first record's position in the
       |      |              |             | sender's ring (0-based); the next message's
       |      |              |             | follows it. ACK: the next one the in bridge
       |      |              |             | expects (every record before it is on its ring)
    32 |    4 | count        | records     | records after the header (0 in an ACK, and in
       |      |              |             | the hello the out bridge sends a new peer)
    36 |    4 | kind         |             | KIND_RECORDS (out -> in); KIND_ACK,
       |      |              |             | KIND_RESEND, KIND_HELLO or KIND_BYE (in -> out)
    40 |    8 | sent_ns      | ns, mono    | the sender's clock when it sent the message
    48 |    8 | held_from    | count       | RECORDS: the oldest record the out bridge still
       |      |              |             | holds (its gate): it can send again from there.
       |      |              | ns, unix    | in -> out: the receiving engine's start (tells
       |      |              |             | two engines under one routing id apart)
    56 |    8 | _reserved1   |             |

The records keep the sender's `seq` word (its ring's, position + 1); the receiving
ring stamps its own as it publishes. Sequence numbers travel in the header, one per
message, so the receiver checks a whole batch with one comparison.

Peers: an out bridge sends to every in bridge that said HELLO (each connection's first
message, and again after every reconnect: the header alone, its ACK fields saying where
it stands), each its own stream from its own position, until it says BYE (at its
engine's stop). An ACK, RESEND or HELLO names the run it acknowledges: an in bridge that
has received nothing of this run yet says 0 and is sent everything the out bridge holds.

Repair: the out bridge's gate moves on the ACKs (policy gate: up to the slowest peer's),
so every record a peer has not acknowledged is still in the sender's ring. A message that comes after one the
in bridge never got (lost with a connection, a process, ZeroMQ's queues) is dropped and
answered with a RESEND of the next one expected; the out bridge goes back there. Only
what the sender no longer holds (below `held_from`: acknowledged to another engine of
the receiver's name before this one, or passed over by drop-oldest) is a gap.
"""

import hashlib
import struct

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

BRIDGE_MAGIC = 0x52425054  # b"TPBR" little-endian
BRIDGE_WIRE_VERSION = 3  # 2: the kind field, acknowledgements; 3: HELLO and BYE, peers
KIND_RECORDS, KIND_ACK, KIND_RESEND, KIND_HELLO, KIND_BYE = 0, 1, 2, 3, 4

BRIDGE_HEADER_DTYPE = np.dtype(
    [
        ("magic", np.uint32),
        ("version", np.uint16),
        ("record_size", np.uint16),
        ("layout_hash", np.uint64),
        ("run_id", np.int64),
        ("first_seq", np.uint64),
        ("count", np.uint32),
        ("kind", np.uint32),
        ("sent_ns", np.int64),
        ("held_from", np.uint64),
        ("_reserved1", np.uint8, (8,)),
    ],
    align=True,
)

BRIDGE_HEADER_OFFSETS = {
    "magic": 0, "version": 4, "record_size": 6, "layout_hash": 8, "run_id": 16,
    "first_seq": 24, "count": 32, "kind": 36, "sent_ns": 40, "held_from": 48,
    "_reserved1": 56,
}
BRIDGE_HEADER_SIZE = 64
assert_layout(BRIDGE_HEADER_DTYPE, BRIDGE_HEADER_OFFSETS, BRIDGE_HEADER_SIZE)

# The same header as one struct, packed and unpacked in one call each (a numpy record's
# fields cost about a microsecond apiece from Python): the fields in the table's order,
# reserved bytes skipped; checked against the dtype below.
BRIDGE_HEADER = struct.Struct("<IHHQqQIIqQ8x")
assert BRIDGE_HEADER.size == BRIDGE_HEADER_SIZE
assert BRIDGE_HEADER.unpack(np.array([(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, [0] * 8)],
                                     dtype=BRIDGE_HEADER_DTYPE).tobytes()) == \
    (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)


def layout_hash(records: np.dtype, instruments: list[dict]) -> int:
    """What both ends must agree on for a record to mean the same thing on each: the
    records' fields (names, types, offsets), this header's version, and the instruments
    in order (a record names its symbol by index, and its prices are in that symbol's
    ticks). 64 bits of a SHA-256."""
    text = repr((BRIDGE_WIRE_VERSION, records.descr, records.itemsize,
                 [(i["name"], int(i["tick_size"]), int(i["lot_size"]), int(i["multiplier"]))
                  for i in instruments]))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
