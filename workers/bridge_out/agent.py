"""The out bridge's worker: each pass, to each in bridge (a peer), what its ring published
past what that peer was sent, in messages of at most [bridge_out] batch records, onto
its ZeroMQ socket; the gate moves as the slowest peer acknowledges them.

Read as the journal reads (workers/journal/agent.py): the producer's `head` says what
is published, the records below it are copied out of their slots, and only once the
in bridge says they are on its ring (an ACK, shm_layouts/bridge_wire.py) is the ring's
`gate` release-stored; the producer counts its room from min(tail, gate), so no slot is
written again before its record has arrived. Two policies for a peer that cannot take a
message now (absent, or its high-water mark reached):

- gate: wait for it. The ring fills up to the gate and its producer waits, as for a
  slow consumer (counted in `held_producer`): nothing is lost between the rings. What
  a connection, a process or ZeroMQ's queues lost on the way the in bridge asks for
  again (a RESEND from the next record it expects), and this worker goes back there
  (`resent`): those records are still behind the gate.
- drop-oldest: pass the message over (its records counted in `dropped`) and go on with
  the newer ones; the producer waits at most for this worker's next pass, never for
  the network, so the gate moves as records are sent, not as they arrive.

Peers: an in bridge says HELLO when its connection comes up (shm_layouts/bridge_wire.py),
with where it stands; from then on it is sent its own stream, from its own position, and
holds the gate (policy gate) until it says BYE at its engine's stop. So several engines
can take one feed engine's market data, each every record; with the gate policy the
slowest holds the producer for all, and one that is gone without a BYE (its engine
killed) holds it until an engine of its name comes back (drop-oldest: its records are
passed over meanwhile).

Restart-safe with no state but the gate: a restarted worker sends again from it to each
peer that says HELLO again (its connection broke with the old process); the in bridge
drops what it already had as duplicates, and asks for what it had not.
"""

import time

import numpy as np
import zmq

from tickpipe.engine.agent import say
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.idle import set_timer_slack
from tickpipe.engine.engine_layout import engine_rings, pipeline_workers, worker_index
from tickpipe.engine.ring_layout import ring_header, ring_words
from tickpipe.shm_layouts.bridge_wire import (
    BRIDGE_HEADER, BRIDGE_HEADER_SIZE, BRIDGE_MAGIC, BRIDGE_WIRE_VERSION, KIND_ACK,
    KIND_BYE, KIND_HELLO, KIND_RECORDS, KIND_RESEND, layout_hash,
)
from tickpipe.shm_layouts.control_block import (
    CONTROL_DTYPE, STOP_ALL_OFFSET, STOP_FEED_OFFSET,
)
from tickpipe.shm_layouts.ring_header import (
    RING_GATE_OFFSET, RING_HEAD_OFFSET, RING_RECORDS_OFFSET, RING_TAIL_OFFSET,
)
from tickpipe.shm_layouts.worker_table import (
    STATE_OFFSET, W_BUSY_PASSES, W_COUNTERS, W_HEARTBEAT_NS, W_IDLE_PASSES, W_PROCESSED,
    WORKER_DTYPE, WORKER_READY, WORKER_RUNNING, WORKER_STARTING,
)
from tickpipe.workers.bridge_out.keys import OUT_KEYS, curve_of
from tickpipe.workers.bridge_out.link import DOWN, UP, Link
from tickpipe.workers.bridge_out.role import (
    OUT_ACKED, OUT_CONNECTED, OUT_CONNECTS, OUT_DISCONNECTS, OUT_DROPPED, OUT_DROPS, OUT_HELD,
    OUT_MESSAGES, OUT_PEERS, OUT_RECORDS, OUT_REFUSED, OUT_RESENT, OUT_UNSENT,
)

EVENTS_EVERY_S = 0.01  # between two looks at the link's events (up, down)
OTHERS_WAIT_S = 10.0   # at stop: how long the other workers may take to leave their loops
LAST_SEND_S = 2.0      # then how long a peer may take to acknowledge the last records,
CLOSE_LINGER_MS = 1000  # and ZeroMQ to write them: within the supervisor's 5 s join of
                        # a background worker (engine/supervisor.py JOIN_TIMEOUT_S)
ACK_WAIT_MS = 5         # at the stop, a wait for an acknowledgement between two looks
REWIND_AGAIN_S = 0.25   # a RESEND of the record last gone back to, sooner: already answered
REJOIN_S = 10.0         # after a restart: how long the gate waits for the peers there were


class Peer:
    """One in bridge, by its routing id, and where its stream stands: `sent`, the next
    record to send it; `sent_most`, the furthest it was ever sent (what is sent again
    below it counts as resent); `acked`, every record below it is on its ring (the gate
    policy's gate is the lowest peer's); `rewound`, the last RESEND answered (from which
    record, when); `hello_due`, it is owed a hello (where its stream stands)."""

    __slots__ = ("identity", "name", "sent", "sent_most", "acked", "rewound", "hello_due",
                 "engine_run")

    def __init__(self, identity: bytes, position: int):
        self.identity = identity
        self.name = identity.decode(errors="replace")
        self.sent = self.sent_most = self.acked = position
        self.rewound = (-1, 0.0)
        self.hello_due = True
        self.engine_run = 0  # the receiving engine's start, from its messages (0: not yet)


class Agent:
    def __init__(self, context):
        self.context = context
        config = context.config
        self.settings = config["bridge_out"]
        section = self.settings["ring"]
        spec = next(s for s in engine_rings(config) if s.section == section)
        segment = context.segment
        header = ring_header(segment, section)
        base = segment.base_address + segment.section(section)[0]
        self.section = section
        self.capacity = int(header["capacity"])
        self.mask = int(header["mask"])
        self.head_address = base + RING_HEAD_OFFSET
        self.tail_address = base + RING_TAIL_OFFSET
        self.gate_address = base + RING_GATE_OFFSET
        self.words = ring_words(segment, section)
        assert base + RING_RECORDS_OFFSET == self.words.ctypes.data
        # gate <= each peer's acked <= its sent <= head: the gate, what every peer
        # acknowledged (drop-oldest: was sent or passed over)
        self.gate = lib.tp_load_acquire_u64(self.gate_address)
        self.peers: dict[bytes, Peer] = {}  # by routing id, in the order they came
        self.batch = self.settings["batch"]
        self.dropping = self.settings["policy"] == "drop-oldest"
        self.poll_s = self.settings["poll_us"] / 1e6
        set_timer_slack(1)  # a poll's sleep ends when asked, not 50 us later
        self.record_size = int(header["record_size"])
        self.layout = layout_hash(spec.dtype, config["instruments"])
        self.run_id = int(segment.view("control", CONTROL_DTYPE)[0]["started_unix_ns"])
        # one message's buffer: the header, then up to `batch` records (as words)
        self.message = bytearray(BRIDGE_HEADER_SIZE + self.batch * self.record_size)
        self.body = np.frombuffer(self.message, dtype=np.uint64,
                                  offset=BRIDGE_HEADER_SIZE).reshape(self.batch, -1)
        self.row = context.row_words
        self.row[W_COUNTERS + OUT_CONNECTED] = 0  # after a restart: that link died with it
        # A restarted worker knows no peer until each says HELLO again (its connection
        # broke with the last process): the gate waits for as many as there were, for
        # REJOIN_S at most, so that the first back does not move it past the others'
        self.rejoining = int(self.row[W_COUNTERS + OUT_PEERS])
        self.rejoin_until = time.monotonic() + REJOIN_S
        self.said_layout = self.said_clash = False
        self.row[W_COUNTERS + OUT_ACKED] = self.gate
        workers_offset, _ = segment.section("workers")
        self.others = [segment.base_address + workers_offset + index * WORKER_DTYPE.itemsize
                       + STATE_OFFSET for index in map(worker_index, pipeline_workers(config))]
        self.link = Link(zmq.ROUTER, self.settings["listen"], True, "bridge out",
                         curve_of(self.settings, OUT_KEYS))
        self.events_due = 0.0
        self.stop_seen: float | None = None
        self.last_deadline = 0.0

    def warm_up(self) -> None:
        self._publish_counts()

    def wait_for_start(self) -> bool:
        return True

    def run(self) -> int:
        while True:
            # Once every other worker has left its loop nothing more is published: what is
            # left is sent, by the last deadline.
            if self._last_deadline():
                self._last_records()
                return 0
            if not self.step():
                self._beat(idle=True)
                if self.poll_s:
                    time.sleep(self.poll_s)

    def _last_deadline(self) -> float:
        """0 while the engine runs; at its stop, once the others have left (or after
        OTHERS_WAIT_S), the time by which the last records must be on their way."""
        if self.last_deadline:
            return self.last_deadline
        if not lib.tp_load_acquire_u32(self.context.control_address + STOP_ALL_OFFSET):
            return 0.0
        now = time.monotonic()
        if self.stop_seen is None:
            self.stop_seen = now
        if self._others_running() and now - self.stop_seen < OTHERS_WAIT_S:
            return 0.0
        self.last_deadline = now + LAST_SEND_S
        return self.last_deadline

    def step(self) -> bool:
        """A message to each peer of what is published past what it was sent (or, with
        drop-oldest and its backlog half the ring, passed over), after the messages that
        arrived (acknowledgements, peers coming and going); whether anything moved."""
        if time.monotonic() >= self.events_due:  # the link's events: a look every 10 ms
            self._link_events()
        moved = self._messages()
        head = lib.tp_load_acquire_u64(self.head_address)
        if head - self.gate == self.capacity and \
                lib.tp_load_acquire_u64(self.tail_address) > self.gate:
            self.row[W_COUNTERS + OUT_HELD] += 1  # full up to the gate: its producer waits
        for peer in list(self.peers.values()):
            if peer.hello_due:
                self._hello(peer)
            moved |= self._send_next(peer, head)
        if self.dropping:  # nothing waits for a peer: the gate follows the sends
            moved |= self._follow_sends(head)
        if moved:
            self._beat(idle=False)
        return moved

    def _send_next(self, peer: Peer, head: int) -> bool:
        """The next message of the peer's stream sent; with drop-oldest, passed over when
        the peer cannot take it and half the ring waits for it (its producer would soon
        wait for the network, which this policy never lets it do; nor the engine's drain).
        Whether its stream moved."""
        sent = peer.sent
        ready = head - sent
        if ready <= 0:
            return False
        count = min(ready, self.batch)
        first = sent & self.mask
        before_wrap = min(count, self.capacity - first)
        message = self.message  # the header, then the records as they lie in their slots
        BRIDGE_HEADER.pack_into(message, 0, BRIDGE_MAGIC, BRIDGE_WIRE_VERSION,
                                self.record_size, self.layout, self.run_id, sent, count,
                                KIND_RECORDS, lib.tp_monotonic_ns(), self.gate)
        self.body[:before_wrap] = self.words[first:first + before_wrap]
        if count > before_wrap:
            self.body[before_wrap:count] = self.words[:count - before_wrap]
        if self._send_to(peer.identity,
                         memoryview(message)[:BRIDGE_HEADER_SIZE + count * self.record_size]):
            again = max(0, min(count, peer.sent_most - sent))  # sent before, on a lost link
            self.row[W_COUNTERS + OUT_RESENT] += again
            self.row[W_COUNTERS + OUT_RECORDS] += count - again
            self.row[W_COUNTERS + OUT_MESSAGES] += 1
        elif self._pressed(ready):
            self.row[W_COUNTERS + OUT_DROPPED] += count
            self.row[W_COUNTERS + OUT_DROPS] += 1
        else:
            return False  # not now; or past the last deadline: unsent
        peer.sent = sent + count
        peer.sent_most = max(peer.sent_most, peer.sent)
        return True

    def _pressed(self, waiting: int) -> bool:
        """drop-oldest: whether `waiting` records behind a peer (or behind no peer at all)
        are to be passed over rather than wait: half the ring, or the feed stopping (the
        drain waits for nothing on the network either)."""
        return self.dropping and not self.last_deadline and (
            waiting * 2 >= self.capacity
            or lib.tp_load_acquire_u32(self.context.control_address + STOP_FEED_OFFSET) != 0)

    def _follow_sends(self, head: int) -> bool:
        """drop-oldest: the gate to the slowest peer's stream; with no peer at all, what
        would wait for one passed over when pressed. Whether it moved."""
        if self.peers:
            low = min(peer.sent for peer in self.peers.values())
        else:
            waiting = head - self.gate
            if waiting == 0 or not self._pressed(waiting):
                return False
            count = min(waiting, self.batch)
            self.row[W_COUNTERS + OUT_DROPPED] += count
            self.row[W_COUNTERS + OUT_DROPS] += 1
            low = self.gate + count
        if low <= self.gate:
            return False
        self._move_gate(low)
        return True

    def _messages(self) -> bool:
        """The in bridges' HELLOs, ACKs, RESENDs and BYEs that arrived; whether the gate
        moved (policy gate: up to the lowest peer's acknowledgement). A RESEND (a message
        came after one the peer never got) sends it again from where it asks, if this
        worker still holds that record. Frames not of a bridge are passed over, as are
        acknowledgements of another run (the peer still on this engine's last one)."""
        socket = self.link.socket
        head = lib.tp_load_acquire_u64(self.head_address)
        moved = False
        while socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            parts = socket.recv_multipart(zmq.NOBLOCK, copy=False)
            if len(parts) != 2 or len(parts[1]) != BRIDGE_HEADER_SIZE:
                continue
            identity, frame = parts[0].bytes, parts[1]
            magic, version, _, layout, run, upto, _, kind, _, engine_run = \
                BRIDGE_HEADER.unpack_from(frame.buffer)
            if magic != BRIDGE_MAGIC or version != BRIDGE_WIRE_VERSION:
                continue
            if layout != self.layout:
                # not a peer (it would hold the gate for nothing): it is sent our header
                # alone, on which its engine stops with a line naming both layouts
                self._send_header(identity, self.gate)
                if not self.said_layout:
                    self.said_layout = True
                    say(f"bridge out: {identity.decode(errors='replace')} has another layout "
                        f"(its hash {layout:016x}, this engine's {self.layout:016x}: the "
                        f"[[instrument]] lists or tickpipe versions differ); not a peer")
                continue
            upto = min(upto, head)  # one the last process sent may be past this one's head
            peer = self.peers.get(identity)
            if kind == KIND_BYE:
                if peer is not None:  # its last acknowledgement counts, then it holds none
                    if run == self.run_id:
                        self._acked(peer, upto)
                    moved |= self._advance_gate()
                    del self.peers[identity]
                    self.rejoining = max(0, self.rejoining - 1)
                    self._count_peers()
                    say(f"bridge out: peer {peer.name} left (its engine stopped)")
                continue
            if peer is None:
                # a new peer is sent what this worker holds (the next message's held_from
                # tells it what it missed before); one that knows this run says where it
                # stands in its HELLO or ACK
                peer = self.peers[identity] = Peer(identity, self.gate)
                self._count_peers()
                n = len(self.peers)
                say(f"bridge out: peer {peer.name} joined ({n} peer{'s' if n > 1 else ''})")
            if kind == KIND_HELLO:
                peer.hello_due = True
                if peer.engine_run and engine_run != peer.engine_run:
                    # another engine under this id: a new one of the name (it starts
                    # with nothing), or a second one at once (said when they alternate)
                    peer.acked = peer.sent_most = self.gate
                peer.engine_run = engine_run
                if run == self.run_id:  # it has every record below upto: on from there
                    self._acked(peer, upto)
                    peer.sent = max(upto, self.gate)
                else:  # nothing of this run yet (a new engine): what is held
                    peer.sent = peer.acked = peer.sent_most = self.gate
                continue
            if peer.engine_run and engine_run != peer.engine_run:
                # two engines under one routing id (one host name on two hosts):
                # ZeroMQ hands the id from one to the other; the stale one's word is not
                # taken, or the other's records would be passed over
                if not self.said_clash:
                    self.said_clash = True
                    say(f"bridge out: two engines connect as {peer.name} (one host name, "
                        f"one engine name): give each engine its own [engine] name; "
                        f"their acknowledgements are not taken (said once)")
                continue
            peer.engine_run = engine_run
            if run != self.run_id:
                continue
            if kind == KIND_ACK or kind == KIND_RESEND:
                self._acked(peer, upto)
            if kind == KIND_RESEND and upto < peer.sent:
                # sent again from there (counted as resent); from the gate when the peer
                # asks for what this worker no longer holds: the next message's held_from
                # shows it the gap. The peer asks again every 50 ms while the resent
                # records are on their way: a RESEND of the same record within
                # REWIND_AGAIN_S of going back there is one already answered (on a link of
                # a long round trip, not a storm of duplicates)
                resend = max(upto, self.gate)
                now = time.monotonic()
                if resend != peer.rewound[0] or now - peer.rewound[1] >= REWIND_AGAIN_S:
                    peer.sent = resend
                    peer.rewound = (resend, now)
        return self._advance_gate() or moved

    @staticmethod
    def _acked(peer: Peer, upto: int) -> None:
        """Every record below `upto` is on the peer's ring."""
        peer.acked = max(peer.acked, upto)
        peer.sent = max(peer.sent, upto)

    def _count_peers(self) -> None:
        self.row[W_COUNTERS + OUT_PEERS] = max(len(self.peers), self.rejoining)

    def _advance_gate(self) -> bool:
        """Gate policy: the gate up to the lowest acknowledgement of the peers (none: it
        stays, and the producer waits for a peer); after a restart, not before as many
        peers as there were are back (or REJOIN_S passed). Whether it moved."""
        if self.dropping or not self.peers:
            return False
        if self.rejoining:
            if len(self.peers) < self.rejoining and time.monotonic() < self.rejoin_until:
                return False
            self.rejoining = 0
            self._count_peers()
        low = min(peer.acked for peer in self.peers.values())
        if low <= self.gate:
            return False
        self._move_gate(low)
        return True

    def _move_gate(self, position: int) -> None:
        self.gate = position
        self.row[W_COUNTERS + OUT_ACKED] = position
        lib.tp_store_release_u64(self.gate_address, position)

    def _hello(self, peer: Peer) -> None:
        """A message of no records to a peer that said HELLO: its header alone, so the in
        bridge checks the layout, and learns where its stream stands (the next record it
        is sent, the oldest this worker holds) at once rather than at the next record: it
        asks for what it lacks (a RESEND). Sent when the socket takes it."""
        if self._send_header(peer.identity, peer.sent):
            peer.hello_due = False

    def _send_header(self, identity: bytes, first: int) -> bool:
        """A header of no records (this engine's layout, run, `first` the next record it
        sends, the gate) to the in bridge `identity`; whether the socket took it."""
        hello = bytearray(BRIDGE_HEADER_SIZE)
        BRIDGE_HEADER.pack_into(hello, 0, BRIDGE_MAGIC, BRIDGE_WIRE_VERSION, self.record_size,
                                self.layout, self.run_id, first, 0, KIND_RECORDS,
                                lib.tp_monotonic_ns(), self.gate)
        return self._send_to(identity, hello)

    def _send_to(self, identity: bytes, message) -> bool:
        """The message on the socket to one in bridge; False when it cannot take it now
        (its queue is at the high-water mark, or its connection is gone: ROUTER_MANDATORY)."""
        socket = self.link.socket
        try:
            # copied: for a few KiB, cheaper than ZeroMQ tracking our buffer
            socket.send(identity, zmq.NOBLOCK | zmq.SNDMORE)
            socket.send(message, zmq.NOBLOCK)
            return True
        except zmq.ZMQError:  # zmq.Again (full), or EHOSTUNREACH (no such peer now)
            return False

    def _last_records(self) -> None:
        """At the stop: the rest sent, and (gate policy) acknowledged, by the last deadline;
        what was not is `unsent`: not known to be on every peer's ring."""
        while time.monotonic() <= self.last_deadline:
            if self.step():
                continue
            if self.gate == lib.tp_load_acquire_u64(self.head_address):
                break
            self._link_events()
            self.link.socket.poll(ACK_WAIT_MS, zmq.POLLIN)
        unsent = lib.tp_load_acquire_u64(self.head_address) - self.gate
        self.row[W_COUNTERS + OUT_UNSENT] = unsent
        if unsent:
            say(f"bridge out: {unsent:,} records of {self.section} not delivered: "
                f"{'no peer' if not self.peers else 'not every peer'} acknowledged them "
                f"within {LAST_SEND_S:g} s of the stop")
        self._publish_counts()

    def _link_events(self) -> None:
        self.events_due = time.monotonic() + EVENTS_EVERY_S
        words = self.row
        for change in self.link.events():
            words[W_COUNTERS + OUT_CONNECTED] = self.link.peers
            if change == UP:
                words[W_COUNTERS + OUT_CONNECTS] += 1  # (it says HELLO: then it is a peer)
                say(f"bridge out: a peer connected on {self.link.address}")
            elif change == DOWN:
                words[W_COUNTERS + OUT_DISCONNECTS] += 1
                say(f"bridge out: a peer on {self.link.address} disconnected")
            else:  # a peer's handshake failed: said once, counted each time (it retries)
                words[W_COUNTERS + OUT_REFUSED] += 1
                if words[W_COUNTERS + OUT_REFUSED] == 1:
                    say(f"bridge out: a peer on {self.link.address} was refused: its key "
                        f"is not in client_keys, or it has none (said once; counted)")

    def _beat(self, idle: bool) -> None:
        self.row[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        self.row[W_IDLE_PASSES if idle else W_BUSY_PASSES] += 1
        if not idle:
            self._publish_counts()

    def _publish_counts(self) -> None:
        self.row[W_PROCESSED] = self.gate

    def _others_running(self) -> bool:
        return any(lib.tp_load_acquire_u32(address) in (WORKER_STARTING, WORKER_READY,
                                                         WORKER_RUNNING)
                   for address in self.others)

    def close(self) -> None:
        self.link.close(CLOSE_LINGER_MS)
