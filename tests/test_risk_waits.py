"""Risk waiting for room on a full orders ring keeps reading its reports, so risk and
the gateway (which may be waiting for room on risk's reports ring) never wait on each
other. A real segment, risk's real runner in a forked process, the orders ring left
full (no gateway reads it)."""

import os
import time

import numpy as np

from forked_worker import forked_loop, ring_position, wait_until, worker_segment
from tickpipe.engine.config import load_config
from tickpipe.engine.book import book_write
from tickpipe.engine.ring import RingProducer
from tickpipe.shm_layouts.fill import EXEC_FILL, FILL_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_LIMIT
from tickpipe.shm_layouts.ring_header import RING_HEAD_OFFSET, RING_TAIL_OFFSET
from tickpipe.workers.risk.agent import Agent as RiskAgent
from test_runner import wait_until_in_a_wait

CAPACITY = 8
MID = 1_000_000


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
    with worker_segment(config, "risk") as (segment, context):
        book_write(context.book, context.book.ctypes.data, 0, MID - 100, MID + 100, 50, 50, 0, 1)
        agent = RiskAgent(context)
        agent.warm_up()
        intents(context, 1, CAPACITY)  # as many as the orders ring takes
        with forked_loop(segment, agent):  # risk fills the orders ring, then waits for room
            deadline = time.monotonic() + 30
            wait_until(lambda: ring_position(segment, "orders", RING_HEAD_OFFSET) == CAPACITY,
                       "risk did not fill the orders ring", deadline)
            intents(context, CAPACITY + 1, 1)  # one more: risk waits for room to send it
            wait_until(lambda: ring_position(segment, "intents", RING_TAIL_OFFSET) == CAPACITY,
                       "risk did not read the first requests", deadline)
            wait_until_in_a_wait(context.row_words,
                                 "risk, its orders ring full, is not waiting for room", deadline)
            report = np.zeros(1, FILL_DTYPE)
            report["exec_type"], report["side"], report["symbol_id"] = EXEC_FILL, 1, 0
            report["order_id"], report["last_qty"], report["last_px"] = 1, 1, MID
            report["cum_qty"], report["released_qty"], report["closes_order"] = 1, 1, 1
            report["publish_ns"] = time.monotonic_ns()
            assert RingProducer(segment, "fills_risk", FILL_DTYPE).try_push(report) == 1
            wait_until(lambda: ring_position(segment, "fills_risk", RING_TAIL_OFFSET) == 1,
                       "risk, waiting for room, left the report unread", deadline)
            assert int(context.symbols[0]["position"]) == 1
            assert int(context.symbols[0]["open_orders"]) == CAPACITY - 1
            # it still waits: the ninth request is not decided until there is room for it
            assert ring_position(segment, "intents", RING_TAIL_OFFSET) == CAPACITY
            assert ring_position(segment, "orders", RING_HEAD_OFFSET) == CAPACITY
