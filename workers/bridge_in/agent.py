"""The in bridge's worker: the out bridge's messages off the DEALER socket, each checked,
its records onto the feed's input ring, acknowledged.

The socket's routing id is this host's name and the engine's (the out bridge tells its
peers apart by it, and a restarted worker takes its place back). Each time the
connection comes up it says HELLO with where it stands, which makes it one of the out
bridge's peers; at the engine's stop it says BYE, and the out bridge holds nothing more
for it (shm_layouts/bridge_wire.py).

Each message is checked before a record of it is used:

- its layout hash against this engine's (shm_layouts/bridge_wire.py `layout_hash`: the
  records' fields and the instrument list). Another layout is refused: the engine stops
  with one line naming both hashes (tickpipe.FinalError), since a restart cannot help;
- its run: the sending engine's start. A new one means the peer engine restarted, and
  its sequence starts again; said and counted (`peer_runs`);
- its sequence: `first_seq` against the next one expected. Records already received
  are dropped and counted (`duplicates`). A message that comes after one this worker
  never got (lost with a connection, a process or ZeroMQ's queues) is dropped, and the
  out bridge asked to send again from the next one expected (a RESEND, counted in
  `resends`): it still holds them, behind its gate. Only records it no longer holds
  (below the header's `held_from`: acknowledged to an earlier engine of this name, or
  passed over by drop-oldest) are a gap, counted (`gaps`, `gap_records`) and said.

What is on the ring is acknowledged (an ACK, shm_layouts/bridge_wire.py: the next
sequence expected) every ACK_EVERY messages, and once nothing has come for ACK_IDLE_MS;
the out bridge's gate (policy gate) moves on it. Not after every message: an ACK is a
send and a receive of Python on each side, about as much as the message itself (`tickpipe
bench bridge` with one per burst: 0.6-0.7 M records/s flat out, against 1.1-1.7 M).

The ring waits for the feed when it is full (`held`): nothing received is dropped here.

Restart-safe: the sequence's state is kept in the worker's row (role.py, IN_RUN_ID ..
IN_PENDING_COUNT). Before a message's records go on the ring, the first one's sequence
and the ring's head are stored; a worker killed while putting them on learns from the
ring's head, at its restart, how many made it, so the next one expected is exact. What
the killed process had received and not yet put on the ring was not acknowledged: the
restarted worker asks for it again.
"""

import socket as sockets
import time

import numpy as np
import zmq

from tickpipe.engine.agent import say, wait_for_flag
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.ring import H_POSITION, RingProducer, producer_push_words
from tickpipe.engine.role import FinalError
from tickpipe.shm_layouts.bridge_wire import (
    BRIDGE_HEADER, BRIDGE_HEADER_SIZE, BRIDGE_MAGIC, BRIDGE_WIRE_VERSION, KIND_ACK,
    KIND_BYE, KIND_HELLO, KIND_RECORDS, KIND_RESEND, layout_hash,
)
from tickpipe.shm_layouts.control_block import (
    CONTROL_DTYPE, FEED_GO_OFFSET, STOP_ALL_OFFSET, STOP_FEED_OFFSET,
)
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.worker_table import (
    W_BUSY_PASSES, W_COUNTERS, W_HEARTBEAT_NS, W_IDLE_PASSES, W_PROCESSED,
)
from tickpipe.workers.bridge_in.role import (
    IN_CONNECTED, IN_CONNECTS, IN_DISCONNECTS, IN_DUPLICATES, IN_GAP_RECORDS, IN_GAPS, IN_HELD,
    IN_MESSAGES, IN_NEXT_SEQ, IN_PEER_RUNS, IN_PENDING_COUNT, IN_PENDING_FIRST,
    IN_PENDING_HEAD, IN_RECORDS, IN_REFUSED, IN_RESENDS, IN_RUN_ID, IN_UNREADABLE, ROLE,
)
from tickpipe.workers.bridge_out.keys import IN_KEYS, curve_of
from tickpipe.workers.bridge_out.link import DOWN, UP, Link

RECEIVE_POLL_MS = 20   # between looks at the stop flag while nothing arrives
FULL_WAIT_S = 0.0002   # between two looks at a full ring
EVENTS_EVERY_S = 0.01  # between two looks at the link's events (up, down)
ACK_EVERY = 16         # messages at most between two acknowledgements: 1,024 records of
                       # 64-record batches, a quarter of the smallest ring (4,096)
ACK_IDLE_MS = 1        # ... and one once nothing has come for this long
RESEND_AGAIN_S = 0.05  # a RESEND not answered by then is asked again (it may be lost)
GAP_SAID_EVERY_S = 1.0  # a gap is said at most this often (each is counted)
NO_PEER_SAY_S = 10.0   # no connection this long after the start: said once
FINAL_ACK_LINGER_MS = 200  # at the close, how long the last acknowledgement may take to leave
BYE_WAIT_S = 1.0       # at the close, how long the BYE may wait for the socket to take it
                       # (ZeroMQ reconnects within 1 s: RECONNECT_MAX_MS)
SECTION = ROLE.rings[0].section
RECORD_WORDS = MARKET_DATA_DTYPE.itemsize // 8


class Agent:
    def __init__(self, context):
        self.context = context
        config = context.config
        self.address = config["bridge_in"]["connect"]
        self.ours = layout_hash(MARKET_DATA_DTYPE, config["instruments"])
        self.ring = RingProducer(context.segment, SECTION, MARKET_DATA_DTYPE)
        self.row = context.row_words
        self._recover()
        self.said_unreadable = False
        self.link = Link(zmq.DEALER, self.address, False, "bridge in",
                         curve_of(config["bridge_in"], IN_KEYS),
                         identity=routing_id(config["engine"]["name"]))
        self.hello_due = False  # the connection came up: say where this worker stands
        # this engine's start, in every message to the out bridge: another engine under
        # this routing id (one host name on two hosts) is told apart by it
        self.engine_run = int(context.segment.view("control", CONTROL_DTYPE)[0]
                              ["started_unix_ns"])
        self.ack = bytearray(BRIDGE_HEADER_SIZE)
        self.unacked = 0  # messages taken since the last acknowledgement
        self.asked = (-1, 0.0)  # the last RESEND: from which record, when
        self.missing = False  # a message came ahead of the next one expected
        self.gap_said = -GAP_SAID_EVERY_S
        self.started = time.monotonic()
        self.said_no_peer = False

    def _recover(self) -> None:
        """Where the sequence stands after a restart: a message being put on the ring when
        the last process died counts for what the ring's head says made it."""
        row = self.row
        pending = int(row[W_COUNTERS + IN_PENDING_COUNT])
        if pending:
            done = int(self.ring.handle[H_POSITION]) - int(row[W_COUNTERS + IN_PENDING_HEAD])
            row[W_COUNTERS + IN_NEXT_SEQ] = int(row[W_COUNTERS + IN_PENDING_FIRST]) + \
                max(0, min(done, pending))
            row[W_COUNTERS + IN_PENDING_COUNT] = 0
        row[W_COUNTERS + IN_CONNECTED] = 0  # that link died with the last process
        self._count_records()

    def warm_up(self) -> None:
        pass

    def wait_for_start(self) -> bool:
        return wait_for_flag(self.context.control_address, FEED_GO_OFFSET,
                             lambda: (self._link_events(), self._beat(idle=True)))

    def run(self) -> int:
        socket = self.link.socket
        events_due = 0.0
        while not self.stopping:
            if time.monotonic() >= events_due:  # the monitor's events: a look every 10 ms
                self._link_events()
                events_due = time.monotonic() + EVENTS_EVERY_S
            if self.hello_due and self._acknowledge(KIND_HELLO):
                self.hello_due = False
            if not socket.poll(ACK_IDLE_MS if self.unacked or self.missing
                               else RECEIVE_POLL_MS, zmq.POLLIN):
                if self.missing:  # a RESEND unanswered, and nothing more coming: again
                    self._ask_again(int(self.row[W_COUNTERS + IN_NEXT_SEQ]))
                elif self.unacked:
                    self._acknowledge()
                self._beat(idle=True)
                continue
            # what has arrived, a look at the flags before each message (a sender that
            # never pauses must not keep this worker from its stop)
            while not self.stopping and socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                if not self.receive(socket.recv(copy=False)):
                    return 0
                self.unacked += 1
                if self.unacked >= ACK_EVERY:
                    self._acknowledge()
        return 0

    def _acknowledge(self, kind: int = KIND_ACK) -> bool:
        """Tell the out bridge where the sequence stands: everything before the next one
        expected is on the ring (an ACK); with a RESEND, send again from there; with a
        HELLO, this connection is new; with a BYE, this engine leaves. Not sent when the
        socket cannot take it now (the next one says the same and more); whether it was."""
        row = self.row
        BRIDGE_HEADER.pack_into(self.ack, 0, BRIDGE_MAGIC, BRIDGE_WIRE_VERSION,
                                MARKET_DATA_DTYPE.itemsize, self.ours,
                                int(row[W_COUNTERS + IN_RUN_ID]),
                                int(row[W_COUNTERS + IN_NEXT_SEQ]), 0, kind,
                                lib.tp_monotonic_ns(), self.engine_run)
        try:
            self.link.socket.send(self.ack, zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.unacked = 0
        return True

    def _ask_again(self, expected: int) -> None:
        """A RESEND from `expected`: once per record missing, again only after
        RESEND_AGAIN_S (the messages already on their way also come out of order)."""
        now = time.monotonic()
        if self.asked[0] == expected and now - self.asked[1] < RESEND_AGAIN_S:
            return
        if self._acknowledge(KIND_RESEND):
            self.asked = (expected, now)
            self.row[W_COUNTERS + IN_RESENDS] += 1

    @property
    def stopping(self) -> bool:
        control = self.context.control_address
        return bool(lib.tp_load_acquire_u32(control + STOP_FEED_OFFSET)
                    or lib.tp_load_acquire_u32(control + STOP_ALL_OFFSET))

    def receive(self, frame) -> bool:
        """One message checked and put on the ring; False when the engine stopped while
        the ring was full."""
        row = self.row
        header = self._header(frame)
        if header is None:
            return True
        _, _, _, layout, run, first, count, _, _, held_from = header
        if layout != self.ours:
            raise FinalError(
                f"bridge in: the peer at {self.address} sends records of another layout "
                f"(its hash {layout:016x}, this engine's {self.ours:016x}): the two engines' "
                f"[[instrument]] lists or tickpipe versions differ; refused")
        known = int(row[W_COUNTERS + IN_RUN_ID])
        # any other run is the peer engine's new one (not only a later one: a run is its
        # start on the sender's clock, which may be set back). A dead connection's late
        # message of the run before should not come: with IMMEDIATE, ZeroMQ drops what a
        # connection had queued when it goes
        if run != known:
            if known:
                say(f"bridge in: the peer engine at {self.address} restarted (a new run); "
                    f"its sequence starts again")
            # the sequence reset before the run is stored: a kill between the stores
            # finds the old run and resets it again (and counts the run twice)
            row[W_COUNTERS + IN_NEXT_SEQ] = 0
            row[W_COUNTERS + IN_PEER_RUNS] += 1
            row[W_COUNTERS + IN_RUN_ID] = run
        expected = int(row[W_COUNTERS + IN_NEXT_SEQ])
        if first > expected and held_from > expected:
            # what the sender no longer holds is a gap: counted and passed in two adjacent
            # stores (a kill between them, and only there, counts it again), said after
            upto = min(held_from, first)
            row[W_COUNTERS + IN_GAP_RECORDS] += upto - expected
            row[W_COUNTERS + IN_NEXT_SEQ] = upto
            row[W_COUNTERS + IN_GAPS] += 1
            now = time.monotonic()
            if now - self.gap_said >= GAP_SAID_EVERY_S:  # (drop-oldest may make many)
                self.gap_said = now
                say(f"bridge in: {upto - expected:,} records missing from {self.address} "
                    f"(sequence {expected:,} to {upto - 1:,}): the sender no longer holds "
                    f"them (taken by an earlier engine of this name, or dropped); "
                    f"{int(row[W_COUNTERS + IN_GAPS]):,} gaps so far")
            expected = upto
        if first > expected:
            # a message lost on the way (a connection, a process, ZeroMQ's queues): the
            # sender still holds it; this one is dropped and the rest asked for again
            row[W_COUNTERS + IN_MESSAGES] += 1
            self.missing = True
            self._ask_again(expected)
            self._beat(idle=False)
            return True
        if first + count > expected or first == expected:
            self.missing = False  # it carries the next one expected (or a hello at it)
        skip = min(count, max(0, expected - first))
        row[W_COUNTERS + IN_DUPLICATES] += skip
        row[W_COUNTERS + IN_MESSAGES] += 1
        if skip == count:
            self._beat(idle=False)
            return True
        # the records as words, straight from the frame onto the ring (one jitted call)
        records = np.frombuffer(frame.buffer, dtype=np.uint64, offset=BRIDGE_HEADER_SIZE) \
            .reshape(count, RECORD_WORDS)[skip:]
        row[W_COUNTERS + IN_PENDING_FIRST] = first + skip
        row[W_COUNTERS + IN_PENDING_HEAD] = int(self.ring.handle[H_POSITION])
        row[W_COUNTERS + IN_PENDING_COUNT] = len(records)
        done = self._put(records)
        row[W_COUNTERS + IN_NEXT_SEQ] = first + skip + done
        row[W_COUNTERS + IN_PENDING_COUNT] = 0
        self._count_records()
        self._beat(idle=False)
        return done == len(records)

    def _header(self, frame):
        """The message's header fields (BRIDGE_HEADER's), or None (counted, said once) for
        what is not a bridge's message of this version with records of the ring's size."""
        size = len(frame)
        if size < BRIDGE_HEADER_SIZE:
            problem = f"{size} bytes, shorter than a header"
        else:
            header = BRIDGE_HEADER.unpack_from(frame.buffer)
            magic, version, record_size, _, _, _, count, kind, _, _ = header
            if magic != BRIDGE_MAGIC:
                problem = "not a tickpipe bridge's message"
            elif version != BRIDGE_WIRE_VERSION:
                problem = f"wire version {version}, this engine's is {BRIDGE_WIRE_VERSION}"
            elif kind != KIND_RECORDS:
                problem = f"of kind {kind}, not records (another in bridge's peer?)"
            elif record_size != MARKET_DATA_DTYPE.itemsize or \
                    size != BRIDGE_HEADER_SIZE + count * record_size:
                problem = (f"{size - BRIDGE_HEADER_SIZE} bytes for {count} records of "
                           f"{record_size} bytes; this ring's are {MARKET_DATA_DTYPE.itemsize}")
            else:
                return header
        self.row[W_COUNTERS + IN_UNREADABLE] += 1
        if not self.said_unreadable:
            self.said_unreadable = True
            say(f"bridge in: a message from {self.address} dropped: {problem} (said once; "
                f"counted as unreadable)")
        return None

    def _put(self, records: np.ndarray) -> int:
        """The records on the ring, waiting while it is full; how many are on it (fewer
        only when the engine stopped meanwhile)."""
        done = 0
        held = False
        ring = self.ring
        while done < len(records):
            done += int(producer_push_words(ring.handle, ring.words, records[done:]))
            if done < len(records):
                # the feed reads its input until this worker has left: only the whole
                # engine's stop leaves records unput
                if lib.tp_load_acquire_u32(self.context.control_address + STOP_ALL_OFFSET):
                    break
                if not held:
                    held = True
                    self.row[W_COUNTERS + IN_HELD] += 1
                self._beat(idle=True)
                time.sleep(FULL_WAIT_S)
        return done

    def _count_records(self) -> None:
        # every record ever put on the ring: its head (exact across restarts)
        head = int(self.ring.handle[H_POSITION])
        self.row[W_COUNTERS + IN_RECORDS] = head
        self.row[W_PROCESSED] = head

    def _link_events(self) -> None:
        words = self.row
        if not self.said_no_peer and not self.link.peers and \
                time.monotonic() - self.started > NO_PEER_SAY_S:
            self.said_no_peer = True
            say(f"bridge in: no out bridge has answered at {self.address} in "
                f"{NO_PEER_SAY_S:g} s; still trying (is the address right, the other "
                f"engine running?)")
        for change in self.link.events():
            words[W_COUNTERS + IN_CONNECTED] = self.link.peers > 0
            if change == UP:
                words[W_COUNTERS + IN_CONNECTS] += 1
                self.hello_due = True
                say(f"bridge in: connected to {self.address}")
            elif change == DOWN:
                words[W_COUNTERS + IN_DISCONNECTS] += 1
                if not self.stopping:
                    say(f"bridge in: {self.address} disconnected; ZeroMQ reconnects")
            else:  # the handshake failed: said once, counted at each try (ZeroMQ retries)
                words[W_COUNTERS + IN_REFUSED] += 1
                if words[W_COUNTERS + IN_REFUSED] == 1:
                    say(f"bridge in: {self.address} refused the connection: the keys do "
                        f"not match (server_key is not its key, this engine's is not in its "
                        f"client_keys, or one side has none); ZeroMQ tries again (said once; "
                        f"counted)")

    def _beat(self, idle: bool) -> None:
        self.row[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        self.row[W_IDLE_PASSES if idle else W_BUSY_PASSES] += 1

    def close(self) -> None:
        # where this engine's ring stands, told once more, and that it leaves: the out
        # bridge then holds nothing more for it, and sends a next engine of this name
        # only what this one did not put on its ring. Retried while the socket cannot take
        # it (a full queue, a connection coming back), and said when it never went.
        deadline = time.monotonic() + BYE_WAIT_S
        while not self._acknowledge(KIND_BYE):
            self._link_events()
            if time.monotonic() > deadline:
                say(f"bridge in: could not tell {self.address} that this engine leaves (no "
                    f"connection); if that engine still runs, with policy gate it holds its "
                    f"feed for this one until an engine of this name connects again")
                break
            self.link.socket.poll(50, zmq.POLLOUT)
        self.link.close(FINAL_ACK_LINGER_MS)


def routing_id(engine: str) -> bytes:
    """This in bridge's name to the out bridge: host and engine (two engines of one host
    have two names; the same engine restarted, the same). At most ZeroMQ's 255 bytes."""
    return f"{sockets.gethostname()}/{engine}".encode()[:255]
