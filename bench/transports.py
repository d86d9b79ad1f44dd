"""`tickpipe bench transports`: ZeroMQ and Eclipse Zenoh side by side on loopback, for
carrying rings between engines (issue 23): batches of 64-byte records, the size of our
ring records, between two processes.

For each transport, in one run of the bench, against a peer in a process of its own:
  round trip  one batch of B records there and back (the peer echoes it), one at a
              time: p50/p99 over the trips, for B = 1 and B = 64
  throughput  batches of 64 records sent as fast as the transport takes them for some
              seconds, lossless (ZeroMQ PUSH/PULL blocking at its high-water mark;
              Zenoh reliable with CongestionControl.BLOCK): records/s at the peer, and
              lost = records whose sequence number never arrived (each record's first
              8 bytes)
Both ends are Python, as a bridge worker would be. ZeroMQ: PAIR sockets for the round
trip, PUSH/PULL for throughput, over tcp://127.0.0.1. Zenoh: peer mode, a TCP endpoint
on 127.0.0.1, multicast scouting off, put/subscribe on a key per direction.
"""

import multiprocessing
import os
import struct
import time

import numpy as np

from tickpipe.bench.stats import machine_info
from tickpipe.engine.loopback import free_port

RECORD = 64
TRANSPORTS = ("zeromq", "zenoh")


class BenchError(Exception):
    pass


def _batch(first_seq: int, n: int) -> bytes:
    records = np.zeros((n, RECORD // 8), dtype=np.uint64)
    records[:, 0] = np.arange(first_seq, first_seq + n, dtype=np.uint64)
    return records.tobytes()


# ---- ZeroMQ ------------------------------------------------------------------------

def _zmq_peer(mode: str, port: int, ready, results) -> None:
    import zmq
    context = zmq.Context()
    sock = context.socket(zmq.PAIR if mode == "echo" else zmq.PULL)
    sock.bind(f"tcp://127.0.0.1:{port}")
    ready.set()
    if mode == "echo":
        while True:
            message = sock.recv()
            if message == b"end":
                break
            sock.send(message)
    else:
        results.put(_count(iter(sock.recv, b"end")))
    sock.close(linger=0)
    context.term()


class _ZmqClient:
    def __init__(self, mode: str, port: int):
        import zmq
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.PAIR if mode == "echo" else zmq.PUSH)
        self.sock.connect(f"tcp://127.0.0.1:{port}")

    def send(self, payload: bytes) -> None:
        self.sock.send(payload)

    def recv(self) -> bytes:
        return self.sock.recv()

    def close(self) -> None:
        self.sock.send(b"end")
        self.sock.close(linger=5000)
        self.context.term()


# ---- Zenoh -------------------------------------------------------------------------

def _zenoh_config(port: int, listen: bool):
    import zenoh
    config = zenoh.Config()
    config.insert_json5("mode", '"peer"')
    config.insert_json5("scouting/multicast/enabled", "false")
    key = "listen/endpoints" if listen else "connect/endpoints"
    config.insert_json5(key, f'["tcp/127.0.0.1:{port}"]')
    return config


def _zenoh_peer(mode: str, port: int, ready, results) -> None:
    import zenoh
    session = zenoh.open(_zenoh_config(port, listen=True))
    sub = session.declare_subscriber("tickpipe/bench/in")
    pub = session.declare_publisher("tickpipe/bench/out",
                                    congestion_control=zenoh.CongestionControl.BLOCK)
    ready.set()
    if mode == "echo":
        while True:
            payload = sub.recv().payload.to_bytes()
            if payload == b"end":
                break
            pub.put(payload)
    else:
        results.put(_count(iter(lambda: sub.recv().payload.to_bytes(), b"end")))
    session.close()


class _ZenohClient:
    def __init__(self, mode: str, port: int):
        import zenoh
        self.session = zenoh.open(_zenoh_config(port, listen=False))
        self.pub = self.session.declare_publisher(
            "tickpipe/bench/in", congestion_control=zenoh.CongestionControl.BLOCK)
        self.sub = self.session.declare_subscriber("tickpipe/bench/out")
        deadline = time.monotonic() + 10
        while not self.pub.matching_status.matching and time.monotonic() < deadline:
            time.sleep(0.01)  # the peer's subscriber is known: nothing put is dropped

    def send(self, payload: bytes) -> None:
        self.pub.put(payload)

    def recv(self) -> bytes:
        return self.sub.recv().payload.to_bytes()

    def close(self) -> None:
        self.pub.put(b"end")
        time.sleep(0.2)
        self.session.close()


PEERS = {"zeromq": _zmq_peer, "zenoh": _zenoh_peer}
CLIENTS = {"zeromq": _ZmqClient, "zenoh": _ZenohClient}


# ---- the two measurements ------------------------------------------------------------

def _count(batches) -> dict:
    """Records received, and those whose sequence numbers never came (each batch's are
    consecutive: a gap between batches is records lost)."""
    records = lost = 0
    expected = 0
    started = None
    for payload in batches:
        if started is None:
            started = time.perf_counter()
        first = struct.unpack_from("<Q", payload)[0]
        n = len(payload) // RECORD
        lost += max(0, first - expected)
        expected = first + n
        records += n
    seconds = time.perf_counter() - started if started else 0.0
    return {"records": records, "lost": lost, "seconds": seconds}


def _with_peer(transport: str, mode: str, work):
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    ready, results = ctx.Event(), ctx.Queue()
    peer = ctx.Process(target=PEERS[transport], args=(mode, port, ready, results),
                       daemon=True)
    peer.start()
    try:
        if not ready.wait(60):
            raise BenchError(f"{transport}: the peer did not start")
        client = CLIENTS[transport](mode, port)
        try:
            out = work(client)
        finally:
            client.close()
        if mode == "sink":
            out = {**out, **results.get(timeout=60)}
        peer.join(30)
        return out
    finally:
        if peer.is_alive():
            peer.kill()


def _round_trips(client, records: int, trips: int) -> dict:
    payload = _batch(0, records)
    for _ in range(min(200, trips)):  # warm: connections, allocations
        client.send(payload)
        client.recv()
    samples = np.empty(trips, dtype=np.int64)
    for i in range(trips):
        t0 = time.perf_counter_ns()
        client.send(payload)
        client.recv()
        samples[i] = time.perf_counter_ns() - t0
    return percentiles_us(samples)


def percentiles_us(samples_ns: np.ndarray) -> dict:
    return {"p50_us": round(float(np.percentile(samples_ns, 50)) / 1000, 1),
            "p99_us": round(float(np.percentile(samples_ns, 99)) / 1000, 1)}


def _stream(client, batch: int, seconds: float) -> dict:
    seq, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        client.send(_batch(seq, batch))
        seq += batch
    return {"sent": seq}


def run_transports_bench(trips: int = 5000, seconds: float = 3.0, batch: int = 64,
                         progress=lambda step: None) -> dict:
    rows = {}
    for transport in TRANSPORTS:
        try:
            __import__("zmq" if transport == "zeromq" else "zenoh")
        except ImportError:
            raise BenchError(f"{transport}: not installed (pip install 'tickpipe[bridge]')") \
                from None
        row = {}
        for records in (1, batch):
            row[f"rtt_{records}"] = _with_peer(
                transport, "echo", lambda c, n=records: _round_trips(c, n, trips))
        stream = _with_peer(transport, "sink", lambda c: _stream(c, batch, seconds))
        row["records_per_s"] = round(stream["records"] / stream["seconds"]) \
            if stream["seconds"] else 0
        row["sent"], row["received"], row["lost"] = stream["sent"], stream["records"], \
            stream["lost"] + stream["sent"] - stream["records"]
        rows[transport] = row
        progress(len(rows))
    return {"machine": machine_info(sorted(os.sched_getaffinity(0))), "trips": trips,
            "seconds": seconds, "batch": batch, "transports": rows}


def format_transports_table(report: dict) -> str:
    b = report["batch"]
    lines = [f"64-byte records on loopback, two Python processes ({report['trips']:,} round "
             f"trips; {report['seconds']:g} s of {b}-record batches)",
             f"  {'':<10}{'rtt 1 rec p50/p99 us':>22}{f'rtt {b} recs p50/p99 us':>24}"
             f"{'records/s':>14}{'lost':>7}"]
    for name, row in report["transports"].items():
        one, many = row["rtt_1"], row[f"rtt_{b}"]
        lines.append(f"  {name:<10}{one['p50_us']:>12.1f} /{one['p99_us']:>7.1f}"
                     f"{many['p50_us']:>14.1f} /{many['p99_us']:>7.1f}"
                     f"{row['records_per_s']:>14,}{row['lost']:>7}")
    return "\n".join(lines)
