"""Risk waiting for room on a full orders ring keeps reading its reports, so risk and
the gateway (which may be waiting for room on risk's reports ring) never wait on each
other. A real segment, risk's real loop in a forked process, the orders ring left
full (no gateway reads it)."""

import os
import signal
import time

import numpy as np

from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import ROLES, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.book import book_write
from tickpipe.engine.ring import RingProducer
from tickpipe.engine.segment import create_segment, unlink_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET
from tickpipe.shm_layouts.fill import EXEC_FILL, FILL_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_LIMIT
from tickpipe.shm_layouts.ring_header import RING_HEAD_OFFSET, RING_TAIL_OFFSET
from tickpipe.workers.risk import Agent as RiskAgent

CAPACITY = 8
MID = 1_000_000


def ring_position(segment, section, offset):
    start, _ = segment.section(section)
    return int(np.frombuffer(segment.buf[start + offset:start + offset + 8], np.uint64)[0])


def intents(context, first, count):
    block = np.zeros(count, dtype=context.records["intents"].dtype)
    block["side"], block["qty"], block["order_type"] = 1, 1, ORDER_TYPE_LIMIT
    block["limit_px"] = MID
    block["order_id"] = np.arange(first, first + count)
    block["origin_ns"] = block["publish_ns"] = time.monotonic_ns()
    assert RingProducer(context.segment, "intents", block.dtype).try_push(block) == count


def test_risk_when_the_orders_ring_is_full_then_it_still_applies_reports():
    config = load_config(overrides={
        "engine": {"name": f"t-riskwait-{os.getpid()}", "wait": "yield",
                   "ring_capacity": CAPACITY},
        "risk": {"max_orders_per_s": 1_000_000, "max_position": 10 ** 6}})
    name = config["engine"]["name"]
    unlink_segment(name)
    segment = create_segment(name, section_specs(config), use_hugetlbfs=False)
    pid = 0
    try:
        initialise(segment, config, place_workers(ROLES, None, "yield"))
        segment.mark_ready()
        context = build_context(segment, "risk", config)
        book_write(context.book, context.book.ctypes.data, 0, MID - 100, MID + 100, 50, 50, 0, 1)
        agent = RiskAgent(context)
        agent.warm_up()
        intents(context, 1, CAPACITY)  # as many as the orders ring takes
        pid = os.fork()
        if pid == 0:  # risk: fills the orders ring, then waits for room
            os._exit(agent.loop(-1))
        orders_head = "orders"
        deadline = time.monotonic() + 30
        while ring_position(segment, orders_head, RING_HEAD_OFFSET) < CAPACITY:
            assert time.monotonic() < deadline, "risk did not fill the orders ring"
            time.sleep(0.01)
        intents(context, CAPACITY + 1, 1)  # one more: risk waits for room to send it
        while ring_position(segment, "intents", RING_TAIL_OFFSET) < CAPACITY:
            time.sleep(0.01)
        time.sleep(0.2)
        report = np.zeros(1, FILL_DTYPE)
        report["exec_type"], report["side"], report["symbol_id"] = EXEC_FILL, 1, 0
        report["order_id"], report["last_qty"], report["last_px"] = 1, 1, MID
        report["cum_qty"], report["released_qty"], report["closes_order"] = 1, 1, 1
        report["publish_ns"] = time.monotonic_ns()
        assert RingProducer(segment, "fills_risk", FILL_DTYPE).try_push(report) == 1
        while ring_position(segment, "fills_risk", RING_TAIL_OFFSET) < 1:
            assert time.monotonic() < deadline, "risk, waiting for room, left the report unread"
            time.sleep(0.01)
        assert int(context.symbols[0]["position"]) == 1
        assert int(context.symbols[0]["open_orders"]) == CAPACITY - 1
        # it still waits: the ninth request is not decided until there is room for it
        assert ring_position(segment, "intents", RING_TAIL_OFFSET) == CAPACITY
        assert ring_position(segment, orders_head, RING_HEAD_OFFSET) == CAPACITY
    finally:
        if pid:
            np.frombuffer(segment.buf, np.uint32, 1, segment.section("control")[0]
                          + STOP_ALL_OFFSET)[0] = 1
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = 0
            if os.WIFSIGNALED(status):
                raise AssertionError(f"risk died of {signal.Signals(os.WTERMSIG(status)).name}")
        segment.close()
        unlink_segment(name)
