"""`tickpipe bench fix`: orders over a real FIX 4.4 session on loopback, against
`tickpipe venue fix-sim` in a process of its own (a real QuickFIX acceptor).

The order path measured is the FIX venue process's: an order record is published on a
shared-memory ring (the engine's risk -> gateway `orders` ring, its Python API), read
back with the ring's Python API, made into a NewOrderSingle and handed to QuickFIX,
which writes it to the socket. Stamps (perf_counter_ns, one clock, one process):

  t0 the record published        t1 read off the ring        t2 the message made
  t3 sendToTarget returned (QuickFIX has written the bytes to the socket)
  t4 the venue's ExecutionReport handed to our callback (the round trip)

Two phases, in one run:
  latency     one order at a time (the next when the last is answered): the hops'
              p50/p99: ring (t1-t0), Python (t2-t1: the ring record to a message, our
              order table), QuickFIX + TCP send (t3-t2), and the round trip (t4-t2:
              from the message made, since t3 may come after t4: the venue's answer can
              reach QuickFIX's thread before ours runs again after sendToTarget returns)
  throughput  orders at a fixed rate (paced, 10,000/s by default) for some seconds, as
              IOCs below the bid (each answered by one report, so the venue's book
              never fills): the rate held, session-level rejects, lost = orders
              without their report, the most orders awaiting an answer at once
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from tickpipe.bench.stats import machine_info
from tickpipe.engine.loopback import free_port

SMOKE_LATENCY_ORDERS, SMOKE_SECONDS = 200, 0.5
PX = 1_000_000  # 100.0000


class BenchError(Exception):
    pass


def _percentiles(values_ns) -> dict:
    values = np.asarray(values_ns, dtype=np.float64) / 1000.0
    return {"p50_us": round(float(np.percentile(values, 50)), 2),
            "p99_us": round(float(np.percentile(values, 99)), 2),
            "max_us": round(float(values.max()), 2)}


def _wait_final(session, order_ids: set, timeout_s: float) -> dict:
    """Poll until each order in `order_ids` has its answer; {order id: first report}."""
    answers = {}
    deadline = time.monotonic() + timeout_s
    while order_ids - answers.keys() and time.monotonic() < deadline:
        for report in session.poll():
            oid = report.get("order_id")
            if oid in order_ids and oid not in answers:
                answers[oid] = report
        time.sleep(0)
    return answers


def run_fix_bench(latency_orders: int = 2000, rate: int = 10_000, seconds: float = 2.0,
                  progress=lambda step: None) -> dict:
    try:
        from tickpipe.workers.fix_venue.session import SENT, FixSession, FixVenueError
        from tickpipe.workers.fix_venue.settings import make_settings
    except ImportError as exc:
        raise BenchError(f"{exc}: the FIX bench needs QuickFIX: pip install 'tickpipe[fix]'") \
            from None
    from tickpipe.engine.config import load_config
    from tickpipe.engine.engine_layout import initialise, section_specs
    from tickpipe.engine.placement import place_workers
    from tickpipe.engine.ring import RingConsumer, RingProducer
    from tickpipe.engine.segment import create_segment
    from tickpipe.shm_layouts import ORDER_DTYPE
    from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, TIF_GTC

    port = free_port()
    work = tempfile.mkdtemp(prefix="tickpipe-fix-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKPIPE_FIX_")}
    venue = subprocess.Popen(
        [sys.executable, "-m", "tickpipe.cli.main", "venue", "fix-sim", "--port", str(port),
         "--store", os.path.join(work, "venue"), "--book", "SYM0=100.00/100.01x50/50",
         "--walk-ms", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=env)
    name = f"fixbench-{os.getpid()}"
    config = load_config(overrides={"engine": {"name": name, "ring_capacity": 65536}})
    segment = create_segment(name, section_specs(config), use_hugetlbfs=False)
    session = None
    try:
        initialise(segment, config, place_workers(("feed", "strategy", "risk", "gateway"),
                                                  None, "block"))
        segment.mark_ready()
        producer = RingProducer(segment, "orders", ORDER_DTYPE)
        consumer = RingConsumer(segment, "orders", ORDER_DTYPE)
        session = FixSession(make_settings("initiator", port, "TP", "VENUE",
                                           os.path.join(work, "session"), HeartBtInt=5,
                                           LogonTimeout=30))
        try:
            session.start(timeout_s=90)  # the venue loads its kernels first
        except FixVenueError as exc:
            said = venue.stderr.read()[-500:].strip() if venue.poll() is not None else ""
            raise BenchError(f"{exc}{': the venue said: ' + said if said else ''}") from None
        record = np.zeros(1, dtype=ORDER_DTYPE)
        record["symbol_id"], record["qty"] = 0, 1

        def send(order_id, side, px, order_type):
            """One order through the ring into the session: (t0, t1, t2, t3)."""
            record["order_id"], record["side"], record["limit_px"] = order_id, side, px
            record["order_type"] = order_type
            t0 = time.perf_counter_ns()
            if producer.try_push(record) != 1:
                raise BenchError("the orders ring is full")
            got = consumer.try_pop(1)
            t1 = time.perf_counter_ns()
            r = got[0]
            if session.new(int(r["order_id"]), "SYM0", int(r["side"]), int(r["qty"]),
                           int(r["limit_px"]), int(r["order_type"]), TIF_GTC) != SENT:
                raise BenchError(f"the session refused order {order_id}: {session.state}")
            return t0, t1, session.last_built_ns, session.last_send_ns

        # latency: IOCs below the bid (answered at once: cancelled), one at a time
        hops = {"ring": [], "python": [], "quickfix_send": [], "round_trip": []}
        for i in range(1, latency_orders + 1):
            t0, t1, t2, t3 = send(i, 1, PX - 100 * (1 + i % 5), ORDER_TYPE_IOC)
            answer = _wait_final(session, {i}, 10.0).get(i)
            if answer is None:
                raise BenchError(f"order {i} was not answered within 10 s")
            hops["ring"].append(t1 - t0)
            hops["python"].append(t2 - t1)
            hops["quickfix_send"].append(t3 - t2)
            hops["round_trip"].append(answer["received_ns"] - t2)  # t3 can be after it
        progress(1)
        # throughput: paced IOCs
        first = latency_orders + 1
        total = max(1, int(rate * seconds))
        interval = 1e9 / rate
        sent_ids, answers, most_waiting = set(), {}, 0
        started = time.perf_counter_ns()
        for k in range(total):
            due = started + int(k * interval)
            while time.perf_counter_ns() < due:
                pass
            oid = first + k
            send(oid, 1 if k % 2 == 0 else -1,
                 PX - 500 if k % 2 == 0 else PX + 600, ORDER_TYPE_IOC)
            sent_ids.add(oid)
            if k % 256 == 0:
                for report in session.poll():
                    if report.get("order_id") in sent_ids:
                        answers.setdefault(report["order_id"], report)
                most_waiting = max(most_waiting, len(sent_ids) - len(answers))
        send_s = (time.perf_counter_ns() - started) / 1e9
        answers.update(_wait_final(session, sent_ids - answers.keys(), 30.0))
        answered_s = (time.perf_counter_ns() - started) / 1e9
        progress(2)
        lost = len(sent_ids - answers.keys())
        summary = session.summary()
        return {
            "latency": {"orders": latency_orders,
                        **{hop: _percentiles(v) for hop, v in hops.items()}},
            "throughput": {"orders": total, "target_per_s": rate,
                           "sent_per_s": round(total / send_s),
                           "answered_per_s": round(total / answered_s), "lost": lost,
                           "most_awaiting_answer": most_waiting,
                           "session_rejects": summary["session_rejects"],
                           "business_rejects": summary["business_rejects"],
                           "duplicate_reports": summary["duplicate_reports"]},
            "machine": machine_info(sorted(os.sched_getaffinity(0))),
        }
    finally:
        if session is not None:
            session.stop()
        venue.terminate()
        try:
            venue.wait(10)
        except subprocess.TimeoutExpired:
            venue.kill()
        segment.close()
        try:
            os.unlink(segment.path)
        except FileNotFoundError:
            pass
        shutil.rmtree(work, ignore_errors=True)


def held(throughput: dict) -> bool:
    """The sustained phase kept up: answered within 5 % of the rate asked for."""
    return throughput["answered_per_s"] >= 0.95 * throughput["target_per_s"]


def format_fix_table(report: dict) -> str:
    lat, thr = report["latency"], report["throughput"]
    lines = [f"order path, one order at a time ({lat['orders']:,} orders): p50 / p99 us",
             f"  ring (published -> read, Python API)   {lat['ring']['p50_us']:>8} / {lat['ring']['p99_us']}",
             f"  Python (record -> FIX message)         {lat['python']['p50_us']:>8} / {lat['python']['p99_us']}",
             f"  QuickFIX + TCP send (-> socket)        {lat['quickfix_send']['p50_us']:>8} / {lat['quickfix_send']['p99_us']}",
             f"  round trip to the answer (from made)   {lat['round_trip']['p50_us']:>8} / {lat['round_trip']['p99_us']}",
             f"sustained: {thr['orders']:,} orders at {thr['target_per_s']:,}/s: sent at "
             f"{thr['sent_per_s']:,}/s, answered at {thr['answered_per_s']:,}/s, lost "
             f"{thr['lost']}, session rejects {thr['session_rejects']}, at most "
             f"{thr['most_awaiting_answer']:,} awaiting an answer",
             f"  the rate asked for was {'held' if held(thr) else 'NOT held'} (answered within "
             f"5 % of it) with {'nothing' if thr['lost'] == 0 else thr['lost']} lost"]
    return "\n".join(lines)
