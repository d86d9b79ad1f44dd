"""The ZeroMQ side both bridges share (bench/transports.py measured ZeroMQ against
Eclipse Zenoh on loopback; ZeroMQ's round trip was 1.6-1.9x shorter at the same
throughput, with no router to run: bench/RESULTS.md, ninth session).

The out bridge's ROUTER socket listens, each in bridge's DEALER socket connects under a
routing id of its own (its host and engine: the same after a restart, so a restarted
worker takes its place back, ROUTER_HANDOVER): records one way, to each peer by its id,
the in bridges' acknowledgements the other (the out bridge's gate moves on the slowest
one's). ROUTER and not PUB/SUB: a send to a peer that cannot take more (its high-water
mark) or is not there fails at once (ROUTER_MANDATORY), so the gate policy holds the
ring's producer for the slowest peer, and drop-oldest knows what it passed over; PUB
drops silently. Not DEALER on both sides: a DEALER deals a second peer every other
message.

Reconnects are ZeroMQ's: the connecting side retries the address every RECONNECT_MS, and
a peer that restarts is taken back without a word from us. What we add is noticing:
the socket monitor's events become the `connected` state, the counts of connects and
disconnects, and a line on stderr each time the link goes up or down.
"""

import socket

import zmq
from zmq.utils.monitor import recv_monitor_message

from tickpipe.engine.role import FinalError

HIGH_WATER_MESSAGES = 64  # queued per peer each way (what a dead link loses is sent again)
RECONNECT_MS, RECONNECT_MAX_MS = 100, 1000
CLOSE_LINGER_MS = 2000    # at the end: how long queued messages may take to leave
# A connection is up once ZeroMQ's handshake with the peer succeeded (with CURVE, its key
# checked), and down at DISCONNECTED. The TCP connection (ACCEPTED on the listening
# side, CONNECTED on the other) names its fd; the handshake's events do not (libzmq
# 4.3 gives 0), so a connection waits, by fd, in `pending` until a handshake succeeds
# (the oldest is taken) or it is disconnected. A connection that never finishes its
# handshake (a peer of the wrong key) is never counted up; but while two are in their
# handshakes at once (a port scanner's and the peer's), the wrong fd may be taken, and
# `connected` is then wrong until the next change.
HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS = 1000, 5000  # ZMTP pings: a peer silent this long is
                                                  # disconnected (a half-open connection)
HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
LINK_EVENTS = (zmq.EVENT_ACCEPTED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED
               | zmq.EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILED)
UP, DOWN, REFUSED = "up", "down", "refused"


def endpoint_problem(address: str, bind: bool) -> str:
    """Why the address cannot be used ("" when it can): its form and port checked here
    (ZeroMQ takes port 99999 and waits forever on it), its host resolved, then, to listen
    on, bound by a socket of this process, closed at once, so that a bad address is one
    line before any worker starts. An address to connect to is not tried: the probe
    would connect to a running out bridge, which would deal it messages that no one
    reads (what is left, ZeroMQ's refusal of the address, stops the worker in one line)."""
    if address.startswith("ipc://") and len(address) > len("ipc://"):
        return _zmq_refuses(address, bind)
    if not address.startswith("tcp://"):
        return "an address is tcp://HOST:PORT (or ipc://PATH between engines on one host)"
    host, colon, port = address[len("tcp://"):].rpartition(":")
    if not colon or not host:
        return "an address is tcp://HOST:PORT"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port {port!r} is not 1-65535"
    if host == "*" and not bind:
        return "connect to the out bridge's host, not '*'"
    if host != "*":
        try:
            socket.getaddrinfo(host.strip("[]"), int(port), proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            return f"host {host!r} does not resolve ({exc.strerror})"
    problem = _zmq_refuses(address, bind)
    if "No such device" in problem or "Cannot assign requested address" in problem:
        return f"no interface of this host has the address {host!r}"
    return problem


def _zmq_refuses(address: str, bind: bool) -> str:
    if not bind:
        return ""
    context = zmq.Context.instance()
    probe = context.socket(zmq.DEALER)
    probe.setsockopt(zmq.LINGER, 0)
    try:
        probe.bind(address)
        return ""
    except zmq.ZMQError as exc:
        return str(exc)
    finally:
        probe.close(0)


class Link:
    """One socket and its monitor. `events()` says what changed since it was last asked:
    a list of UP, DOWN and REFUSED (a handshake that failed: a peer of another key, or
    of none when this side has one)."""

    def __init__(self, kind: int, address: str, bind: bool, name: str,
                 curve: dict | None = None, identity: bytes = b""):
        self.address = address
        self.up: set[int] = set()  # the fds of the connections up
        self.pending: list[int] = []  # connected, handshake not yet done
        self.context = zmq.Context()
        self.authenticator = None
        self.socket = self.context.socket(kind)
        self.socket.setsockopt(zmq.SNDHWM, HIGH_WATER_MESSAGES)
        self.socket.setsockopt(zmq.RCVHWM, HIGH_WATER_MESSAGES)
        self.socket.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        self.socket.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_MAX_MS)
        self.socket.setsockopt(zmq.IMMEDIATE, 1)  # queue only to a peer that is there
        self.socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
        self.socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        if identity:
            self.socket.setsockopt(zmq.ROUTING_ID, identity)
        if kind == zmq.ROUTER:
            self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send no peer takes: an error
            self.socket.setsockopt(zmq.ROUTER_HANDOVER, 1)   # a peer's id to its new connection
        if curve:
            self._curve(curve)
        self.monitor = self.socket.get_monitor_socket(LINK_EVENTS)
        try:
            self.socket.bind(address) if bind else self.socket.connect(address)
        except zmq.ZMQError as exc:
            self.close(0)
            raise FinalError(f"{name}: cannot {'listen on' if bind else 'connect to'} "
                             f"{address}: {exc}") from None

    def _curve(self, curve: dict) -> None:
        """CurveZMQ (workers/bridge_out/keys.py): this side's key pair; a client names the
        server's public key, a server lets in only the public keys of its folder (ZeroMQ's
        authentication handler, a thread of this process)."""
        self.socket.curve_publickey = curve["public"]
        self.socket.curve_secretkey = curve["secret"]
        if "server" in curve:
            self.socket.curve_serverkey = curve["server"]
            return
        from zmq.auth.thread import ThreadAuthenticator
        self.authenticator = ThreadAuthenticator(self.context)
        self.authenticator.start()
        self.authenticator.configure_curve(domain="*", location=curve["clients"])
        self.socket.curve_server = True

    @property
    def peers(self) -> int:
        """Connections up now."""
        return len(self.up)

    def events(self) -> list[str]:
        changes = []
        while self.monitor.poll(0):
            message = recv_monitor_message(self.monitor)
            event, fd = message["event"], message["value"]
            if event in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
                self.pending.append(fd)
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED and self.pending:
                self.up.add(self.pending.pop(0))
                changes.append(UP)
            elif event & HANDSHAKE_FAILED:
                changes.append(REFUSED)
            elif event == zmq.EVENT_DISCONNECTED:
                if fd in self.up:
                    self.up.discard(fd)
                    changes.append(DOWN)
                elif fd in self.pending:
                    self.pending.remove(fd)
        return changes

    def close(self, linger_ms: int = CLOSE_LINGER_MS) -> None:
        self.socket.disable_monitor()
        self.monitor.close(0)
        self.socket.close(linger_ms)
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.term()
