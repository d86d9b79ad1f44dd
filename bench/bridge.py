"""`tickpipe bench bridge`: what carrying a ring between engines costs (issue 23), in one
run of the bench, three parts:

  engines     tick-to-trade of the market maker in one engine (the embedded default at
              --rate), then the same pipeline split over two engines joined by a bridge
              (examples/two-hosts's configs: the feed engine's md_venue sent by its out
              bridge, the trader engine's feed fed by its in bridge), same rate, p50/p99. Both
              engines on this host, so the trader's origin_ns (the feed engine's clock)
              is on the same monotonic clock and its tick-to-trade includes the hop.
  hop         the bridge beside its transport: a batch of --batch 64-byte records put
              on a ring of one segment, carried by the real out bridge and in bridge
              workers (workers/bridge_out/, workers/bridge_in/: their Agents, each in a
              process of its own, over ZeroMQ on 127.0.0.1), taken off a ring of another
              segment; timed by this process, which writes the first ring and reads the
              last (one clock). Beside it, ZeroMQ's bare round trip of the same batch
              (bench/transports.py: a PAIR echo peer in a process of its own), and half
              of it, the bare one-way. Target: the bridge at most 1.2x the bare one-way
              (it adds the two rings and the two processes' Python).
  throughput  the same two workers, the first ring written as fast as it takes records
              for --seconds (the gate policy holding this writer when the bridge is
              behind), every record read off the last ring: records/s, and lost = records
              written that never arrived (0 under the gate). Then the same with two in
              bridges on the one out bridge (two receiving segments, each taking every
              record): records/s written, each receiver's lost = 0.
"""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from tickpipe.bench.stats import machine_info
from tickpipe.bench.transports import percentiles_us
from tickpipe.engine.loopback import free_port

# examples/two-hosts's two configs, written here: the examples are not installed
FEED_ENGINE = ('[[strategy]]\nname = "watch"\nmodule = "tickpipe.workers.strategies.watch"\n'
               '[[bridge]]\ndirection = "out"\nlisten = "tcp://127.0.0.1:{port}"\n')
TRADER_ENGINE = ('[engine]\nseconds = 0\n'  # until the bench stops it, as run-local's: a
                 # trader of the default 10 s stopped mid-stream when the feed engine was
                 # slow to start, and the feed engine's drain waited for it in vain
                 '[feed]\nsource = "bridge"\n'
                 '[[bridge]]\ndirection = "in"\nconnect = "tcp://127.0.0.1:{port}"\n')
READY_S = 600.0   # an engine's or a worker's start (a first run compiles the loops)


class BenchError(Exception):
    pass


# ---- engines: tick-to-trade, one engine against two -----------------------------------

def _tickpipe(*args: str) -> list[str]:
    return [sys.executable, "-m", "tickpipe.cli", *args]


def _report(process: subprocess.Popen, who: str) -> dict:
    out, err = process.communicate(timeout=900)
    if process.returncode != 0 or not out.strip():
        raise BenchError(f"the {who} engine failed ({_ended(process.returncode)}): "
                         f"{_why(err)}")
    report = json.loads(out)
    if report["state"] != "stopped":
        raise BenchError(f"the {who} engine ended {report['state']}: {report['notes'][:2]}")
    return report


def _ended(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit {returncode}"


def _why(err: str) -> str:
    """The engine's own error line when it wrote one (a worker's lines on the same stderr
    may come last), else its last line."""
    lines = err.strip().splitlines() or ["no output"]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines)[-1]


def _inspect(engine: str) -> dict:
    shown = subprocess.run(_tickpipe("inspect", engine, "--json", "--sample", "0"),
                           capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else {}


def _t2t(report: dict) -> dict:
    t2t = report["tick_to_trade_ns"]
    return {"p50_us": t2t["p50"] / 1000, "p99_us": t2t["p99"] / 1000,
            "orders": report["orders_sent"], "ticks": report["ticks"]}


def _engines(folder: str, rate: int, seconds: float) -> dict:
    tag = os.getpid()
    one = subprocess.Popen(_tickpipe("run", "--json", "--seconds", str(seconds), "--rate",
                                     str(rate), "--name", f"bench-bridge-one-{tag}"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    single = _report(one, "single")
    port = free_port()
    for name, text in (("feed.toml", FEED_ENGINE), ("trader.toml", TRADER_ENGINE)):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text.format(port=port))
    trader_name = f"bench-bridge-trader-{tag}"
    trader = subprocess.Popen(_tickpipe("run", os.path.join(folder, "trader.toml"), "--json",
                                        "--name", trader_name),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the receiver running first: nothing then waits in the sender's queue at its stop
        deadline = time.monotonic() + READY_S
        while trader.poll() is None and time.monotonic() < deadline and \
                _inspect(trader_name).get("engine", {}).get("state") != "running":
            time.sleep(0.2)
        if trader.poll() is not None:
            _report(trader, "trader")  # raises, with the trader's own line
            raise BenchError("the trader engine stopped before the feed engine started")
        try:
            feed = _report(subprocess.Popen(
                _tickpipe("run", os.path.join(folder, "feed.toml"), "--json", "--seconds",
                          str(seconds), "--rate", str(rate), "--name", f"bench-bridge-feed-{tag}"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), "feed")
        except BenchError as feed_failed:
            # what the trader said meanwhile is the likelier cause (the feed engine's gate
            # waits for the trader's in bridge)
            trader.send_signal(signal.SIGINT)
            try:
                _report(trader, "trader")
            except BenchError as trader_failed:
                raise BenchError(f"{feed_failed}; {trader_failed}") from None
            raise
        sent = feed["bridge_out"]["acked"]  # each record once (`records` counts resends too)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and trader.poll() is None and \
                (_inspect(trader_name).get("bridge_in") or {}).get("records", -1) < sent:
            time.sleep(0.2)
        trader.send_signal(signal.SIGINT)
        bridged = _report(trader, "trader")
    finally:
        if trader.poll() is None:
            trader.kill()
    received = bridged["bridge_in"]
    return {"one_engine": _t2t(single), "two_engines": _t2t(bridged),
            "sent": sent, "received": received["records"], "gaps": received["gap_records"],
            "duplicates": received["duplicates"]}


# ---- hop and throughput: the two bridge workers between two segments -------------------

def _segment(name: str, config: dict):
    from tickpipe.engine.engine_layout import engine_workers, initialise, section_specs
    from tickpipe.engine.placement import place_workers
    from tickpipe.engine.segment import create_segment
    segment = create_segment(name, section_specs(config), use_hugetlbfs=False)
    initialise(segment, config, place_workers(engine_workers(config), None, "spin"))
    segment.mark_ready()
    return segment


def _worker(segment_name: str, worker: str, config: dict, ready) -> None:
    """One bridge worker's Agent, as an engine's worker runs it, until its stop flag."""
    from tickpipe.engine.registry import ROLES
    from tickpipe.engine.segment import attach_segment
    from tickpipe.engine.worker_context import build_context
    import importlib
    segment = attach_segment(segment_name)
    agent = importlib.import_module(ROLES[worker].agent).Agent(
        build_context(segment, worker, config))
    agent.warm_up()
    ready.set()
    if agent.wait_for_start():
        agent.run()
    agent.close()


class BridgePair:
    """Two segments (the sender's, with md_venue; the receiver's, with bridge_in) and the
    two bridge workers between them, each in a spawned process; with receivers = n, n
    receiving segments and their in bridges on the one out bridge."""

    def __init__(self, poll_us: int, batch: int, receivers: int = 1):
        from tickpipe.engine.config import load_config
        from tickpipe.engine.ring import RingConsumer, RingProducer
        from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
        port, tag = free_port(), f"{os.getpid()}-{poll_us}-{receivers}"
        address = f"tcp://127.0.0.1:{port}"
        self.names = (f"bench-bridge-out-{tag}",
                      *(f"bench-bridge-in{k}-{tag}" for k in range(receivers)))
        out = load_config(None, {"engine": {"name": self.names[0], "ring_capacity": 4096},
                                 "bridge": [{"direction": "out", "listen": address,
                                             "poll_us": poll_us, "batch": batch}]})
        intos = [load_config(None, {"engine": {"name": name, "ring_capacity": 4096},
                                    "feed": {"source": "bridge"},
                                    "bridge": [{"direction": "in", "connect": address}]})
                 for name in self.names[1:]]
        self.segments = (_segment(self.names[0], out),
                         *(_segment(name, into) for name, into in zip(self.names[1:], intos)))
        context = multiprocessing.get_context("spawn")
        self.processes = []
        for segment_name, worker, config in (*((name, "bridge_in", into) for name, into
                                               in zip(self.names[1:], intos)),
                                             (self.names[0], "bridge_out", out)):
            ready = context.Event()
            process = context.Process(target=_worker, args=(segment_name, worker, config,
                                                            ready), daemon=True)
            process.start()
            if not ready.wait(READY_S):
                self.close()
                raise BenchError(f"the {worker} worker did not start")
            self.processes.append(process)
        for k in range(1, len(self.segments)):
            self._control(k)["feed_go"] = 1
        self.producer = RingProducer(self.segments[0], "md_venue", MARKET_DATA_DTYPE)
        self.gateway = RingConsumer(self.segments[0], "md_venue", MARKET_DATA_DTYPE)
        self.consumers = [RingConsumer(segment, "bridge_in", MARKET_DATA_DTYPE)
                          for segment in self.segments[1:]]
        self.consumer = self.consumers[0]
        self.batch = np.zeros(batch, dtype=MARKET_DATA_DTYPE)
        self.batch["kind"] = 1
        if receivers > 1:  # every in bridge a peer (its HELLO) before the first record
            self._wait_peers(receivers)

    def _wait_peers(self, n: int) -> None:
        from tickpipe.engine.registry import ROLES
        from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
        from tickpipe.workers.bridge_out.role import OUT_PEERS
        row = self.segments[0].view("workers", WORKER_DTYPE)[ROLES["bridge_out"].row]
        deadline = time.monotonic() + READY_S
        while int(row["counters"][OUT_PEERS]) < n:
            if time.monotonic() > deadline:
                raise BenchError(f"{n} in bridges did not all become the out bridge's peers")
            time.sleep(0.01)

    def _control(self, k: int):
        from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
        return self.segments[k].view("control", CONTROL_DTYPE)[0]

    def trip(self) -> int:
        """One batch from the first ring to the last; ns."""
        n = len(self.batch)
        t0 = time.perf_counter_ns()
        put = 0
        while put < n:
            put += self.producer.try_push(self.batch[put:])
        self.gateway.try_pop(n)  # md_venue's own consumer (the gate is the bridge's)
        got = 0
        while got < n:
            got += len(self.consumer.try_pop(n - got))
        return time.perf_counter_ns() - t0

    def stream(self, seconds: float) -> dict:
        """Records written flat out for `seconds`, every one read at each far end
        (received, lost: the slowest receiver's)."""
        from tickpipe.engine.ring import H_POSITION
        written = 0
        received = [0] * len(self.consumers)
        big = np.zeros(1024, dtype=self.batch.dtype)

        def read() -> None:
            self.gateway.try_pop(4096)
            for k, consumer in enumerate(self.consumers):
                received[k] += len(consumer.try_pop(4096))
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while time.perf_counter() < deadline:
            written += self.producer.try_push(big)
            read()
        settle = time.perf_counter() + 10
        while min(received) < written and time.perf_counter() < settle:
            read()
        elapsed = time.perf_counter() - t0
        assert int(self.producer.handle[H_POSITION]) >= written
        return {"written": written, "received": min(received), "lost": written - min(received),
                "receivers": len(received), "records_per_s": round(min(received) / elapsed)}

    def close(self) -> None:
        from tickpipe.engine.segment import unlink_segment
        for k in reversed(range(len(self.segments))):  # the receivers first
            self._control(k)["stop_feed"] = 1
            self._control(k)["stop_all"] = 1
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        for segment, name in zip(self.segments, self.names):
            segment.close()
            unlink_segment(name)


def _hop(poll_us: int, batch: int, trips: int, seconds: float) -> dict:
    pair = BridgePair(poll_us, batch)
    try:
        for _ in range(min(200, trips)):
            pair.trip()
        samples = np.array([pair.trip() for _ in range(trips)], dtype=np.int64)
        return {"poll_us": poll_us, "one_way": percentiles_us(samples),
                "throughput": pair.stream(seconds)}
    finally:
        pair.close()


def _fan_out(batch: int, seconds: float, receivers: int = 2) -> dict:
    """Throughput flat out to `receivers` in bridges on the one out bridge (poll 50 us)."""
    pair = BridgePair(50, batch, receivers)
    try:
        return pair.stream(seconds)
    finally:
        pair.close()


def run_bridge_bench(rate: int, seconds: float, trips: int, batch: int,
                     progress=lambda step: None) -> dict:
    from tickpipe.bench.transports import _round_trips, _with_peer
    try:
        import zmq  # noqa: F401
    except ImportError:
        raise BenchError("the bridge needs pyzmq: pip install 'tickpipe[bridge]'") from None
    with tempfile.TemporaryDirectory(prefix="tickpipe-bench-bridge-") as folder:
        engines = _engines(folder, rate, seconds)
    progress(1)
    bare = _with_peer("zeromq", "echo", lambda client: _round_trips(client, batch, trips))
    hops = [_hop(poll_us, batch, trips, seconds) for poll_us in (50, 0)]
    fan_out = _fan_out(batch, seconds)
    bare_one_way = bare["p50_us"] / 2
    for hop in hops:
        hop["vs_bare_one_way"] = round(hop["one_way"]["p50_us"] / bare_one_way, 2)
    progress(2)
    return {"machine": machine_info(sorted(os.sched_getaffinity(0))), "rate": rate,
            "seconds": seconds, "trips": trips, "batch": batch, "engines": engines,
            "bare_round_trip": bare, "bare_one_way_p50_us": round(bare_one_way, 1),
            "hops": hops, "fan_out": fan_out}


def format_bridge_table(report: dict) -> str:
    engines = report["engines"]
    one, two = engines["one_engine"], engines["two_engines"]
    lines = [f"tick-to-trade at {report['rate']:,} ticks/s for {report['seconds']:g} s "
             f"(the market maker):",
             f"  one engine                     p50 {one['p50_us']:7.1f} us  p99 "
             f"{one['p99_us']:7.1f} us  ({one['orders']:,} orders)",
             f"  two engines, bridged           p50 {two['p50_us']:7.1f} us  p99 "
             f"{two['p99_us']:7.1f} us  ({two['orders']:,} orders; {engines['sent']:,} "
             f"records sent, {engines['received']:,} received, gap {engines['gaps']}, "
             f"duplicates {engines['duplicates']})",
             f"a batch of {report['batch']} records, {report['trips']:,} trips:",
             f"  ZeroMQ bare round trip         p50 {report['bare_round_trip']['p50_us']:7.1f} us"
             f"  p99 {report['bare_round_trip']['p99_us']:7.1f} us  (one way: "
             f"{report['bare_one_way_p50_us']:.1f} us)"]
    for hop in report["hops"]:
        label = f"bridge ring to ring, poll {hop['poll_us']} us"
        lines.append(f"  {label:<33}p50 {hop['one_way']['p50_us']:7.1f} us  p99 "
                     f"{hop['one_way']['p99_us']:7.1f} us  = {hop['vs_bare_one_way']:.2f}x "
                     f"the bare one way (target <= 1.2x)")
    for hop in report["hops"]:
        t = hop["throughput"]
        lines.append(f"  throughput, poll {hop['poll_us']} us: {t['records_per_s']:,} records/s "
                     f"flat out, written {t['written']:,}, received {t['received']:,}, "
                     f"lost {t['lost']}")
    fan = report.get("fan_out")
    if fan:
        lines.append(f"  throughput to {fan['receivers']} peers, poll 50 us: "
                     f"{fan['records_per_s']:,} records/s flat out to each, written "
                     f"{fan['written']:,}, received by the slower {fan['received']:,}, "
                     f"lost {fan['lost']}")
    return "\n".join(lines)
