"""The out bridge's worker: each pass, what its ring published past what it sent, in
messages of at most [bridge_out] batch records, onto its ZeroMQ socket; the gate moves
as the in bridge acknowledges them.

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

Restart-safe with no state but the gate: a restarted worker sends again from it; the
in bridge drops what it already had as duplicates, and asks for what it had not.
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
    KIND_RECORDS, KIND_RESEND, layout_hash,
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
    OUT_MESSAGES, OUT_RECORDS, OUT_REFUSED, OUT_RESENT, OUT_UNSENT,
)

SEND_POLL_MS = 20    # gate policy, a peer not taking: the heartbeat and the stop between looks
EVENTS_EVERY_S = 0.01  # between two looks at the link's events (up, down)
OTHERS_WAIT_S = 10.0   # at stop: how long the other workers may take to leave their loops
LAST_SEND_S = 2.0      # then how long a peer may take to acknowledge the last records,
CLOSE_LINGER_MS = 1000  # and ZeroMQ to write them: within the supervisor's 5 s join of
                        # a background worker (engine/supervisor.py JOIN_TIMEOUT_S)
ACK_WAIT_MS = 5         # at the stop, a wait for an acknowledgement between two looks
REWIND_AGAIN_S = 0.25   # a RESEND of the record last gone back to, sooner: already answered


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
        # gate <= sent <= head: the gate, what the peer acknowledged (drop-oldest: what
        # was sent); sent, what went on the socket since the last connection came up
        self.gate = self.sent = self.sent_most = lib.tp_load_acquire_u64(self.gate_address)
        self.rewound = (-1, 0.0)  # the last RESEND answered: from which record, when
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
        self.row[W_COUNTERS + OUT_ACKED] = self.gate
        workers_offset, _ = segment.section("workers")
        self.others = [segment.base_address + workers_offset + index * WORKER_DTYPE.itemsize
                       + STATE_OFFSET for index in map(worker_index, pipeline_workers(config))]
        self.link = Link(zmq.DEALER, self.settings["listen"], True, "bridge out",
                         curve_of(self.settings, OUT_KEYS))
        self.events_due = 0.0
        self.hello_due = False
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
        """One message of what is published past what was sent, sent (or, with drop-oldest
        and the ring pressed, passed over), after the acknowledgements that arrived;
        whether anything moved."""
        if time.monotonic() >= self.events_due:  # the link's events: a look every 10 ms
            self._link_events()
        if self.hello_due:
            self._hello()
        moved = self._acks()
        sent = self.sent
        head = lib.tp_load_acquire_u64(self.head_address)
        ready = head - sent
        if ready == 0:
            return moved
        if head - self.gate == self.capacity and \
                lib.tp_load_acquire_u64(self.tail_address) > self.gate:
            self.row[W_COUNTERS + OUT_HELD] += 1  # full up to the gate: its producer waits
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
        if self._send(memoryview(message)[:BRIDGE_HEADER_SIZE + count * self.record_size]):
            again = max(0, min(count, self.sent_most - sent))  # sent before, to a lost peer
            self.row[W_COUNTERS + OUT_RESENT] += again
            self.row[W_COUNTERS + OUT_RECORDS] += count - again
            self.row[W_COUNTERS + OUT_MESSAGES] += 1
        elif self.dropping and not self.last_deadline and (
                ready * 2 >= self.capacity
                or lib.tp_load_acquire_u32(self.context.control_address + STOP_FEED_OFFSET)):
            # the ring half full behind the gate: its producer would soon wait for the
            # network, which this policy never lets it do; nor the engine's drain
            self.row[W_COUNTERS + OUT_DROPPED] += count
            self.row[W_COUNTERS + OUT_DROPS] += 1
        else:
            return moved  # not now (drop-oldest), or past the last deadline: unsent
        if self.sent == sent:  # (a RESEND taken while _send waited has moved it: kept)
            self.sent = sent + count
        self.sent_most = max(self.sent_most, self.sent)
        if self.dropping:  # nothing waits for the peer: the gate follows the sends
            self._move_gate(self.sent)
        self._beat(idle=False)
        return True

    def _acks(self) -> bool:
        """The in bridge's ACKs and RESENDs that arrived; whether the gate moved. Gate
        policy: the gate up to the newest (every record before it is on the peer's ring).
        A RESEND (a message came after one the peer never got) sends again from where
        it asks, if this worker still holds that record. Frames of another run (the peer
        still on this engine's last one) or not of a bridge are passed over."""
        socket = self.link.socket
        newest = resend = -1
        while socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frame = socket.recv(zmq.NOBLOCK, copy=False)
            if len(frame) != BRIDGE_HEADER_SIZE:
                continue
            magic, version, _, _, run, upto, _, kind, _, _ = \
                BRIDGE_HEADER.unpack_from(frame.buffer)
            if magic != BRIDGE_MAGIC or version != BRIDGE_WIRE_VERSION or run != self.run_id:
                continue
            if kind == KIND_ACK or kind == KIND_RESEND:
                newest = max(newest, upto)
            if kind == KIND_RESEND:
                resend = upto
        if newest < 0:
            return False
        # every record below `newest` is on the peer's ring; one the last process sent
        # may be past what this one has sent yet
        head = lib.tp_load_acquire_u64(self.head_address)
        newest = min(newest, head)
        moved = not self.dropping and newest > self.gate
        if moved:
            self._move_gate(newest)
        self.sent = max(self.sent, newest)
        if 0 <= resend < self.sent:
            # sent again from there (step counts them as resent); from the gate when the
            # peer asks for what this worker no longer holds (another engine of its name
            # acknowledged it): the next message's held_from shows it the gap. The peer
            # asks again every 50 ms while the resent records are on their way: a RESEND
            # of the same record within REWIND_AGAIN_S of going back there is one already
            # answered (on a link of a long round trip, not a storm of duplicates)
            resend = max(resend, self.gate)
            now = time.monotonic()
            if resend != self.rewound[0] or now - self.rewound[1] >= REWIND_AGAIN_S:
                self.sent = resend
                self.rewound = (resend, now)
        return moved

    def _move_gate(self, position: int) -> None:
        self.gate = position
        self.row[W_COUNTERS + OUT_ACKED] = position
        lib.tp_store_release_u64(self.gate_address, position)

    def _hello(self) -> None:
        """A message of no records to a peer that just connected: its header alone, so the
        in bridge checks the layout, and learns where the sequence stands (the next record
        this worker sends, the oldest it holds) at once rather than at the next record: it
        asks for what it lacks (a RESEND). Sent when the socket takes it."""
        hello = bytearray(BRIDGE_HEADER_SIZE)
        BRIDGE_HEADER.pack_into(hello, 0, BRIDGE_MAGIC, BRIDGE_WIRE_VERSION, self.record_size,
                                self.layout, self.run_id, self.sent, 0, KIND_RECORDS,
                                lib.tp_monotonic_ns(), self.gate)
        try:
            self.link.socket.send(hello, zmq.NOBLOCK)
            self.hello_due = False
        except zmq.Again:
            pass

    def _send(self, message) -> bool:
        """The message on the socket; False when the peer cannot take it: drop-oldest, now;
        gate, by the last deadline once the engine stops (until then it waits, stamping
        the heartbeat and taking acknowledgements, for as long as the peer takes)."""
        while True:
            try:
                # copied: for a few KiB, cheaper than ZeroMQ tracking our buffer
                self.link.socket.send(message, zmq.NOBLOCK)
                return True
            except zmq.Again:
                deadline = self._last_deadline()
                if deadline and time.monotonic() > deadline:
                    return False
                if self.dropping and not deadline:
                    return False
            self._beat(idle=True)
            self._link_events()
            self._acks()
            self.link.socket.poll(SEND_POLL_MS, zmq.POLLOUT)

    def _last_records(self) -> None:
        """At the stop: the rest sent, and (gate policy) acknowledged, by the last deadline;
        what was not is `unsent`: not known to be on the peer's ring."""
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
            say(f"bridge out: {unsent:,} records of {self.section} not delivered: no peer "
                f"acknowledged them within {LAST_SEND_S:g} s of the stop")
        self._publish_counts()

    def _link_events(self) -> None:
        self.events_due = time.monotonic() + EVENTS_EVERY_S
        words = self.row
        for change in self.link.events():
            words[W_COUNTERS + OUT_CONNECTED] = self.link.peers
            if change == UP:
                words[W_COUNTERS + OUT_CONNECTS] += 1
                self.hello_due = True
                say(f"bridge out: a peer connected on {self.link.address}")
            elif change == DOWN:
                words[W_COUNTERS + OUT_DISCONNECTS] += 1
                say(f"bridge out: the peer on {self.link.address} disconnected")
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
