"""The runner (engine/runner.py): a strategy waiting for room on a full intents ring
keeps reading its reports, with any order its on_fill sends refused, so a strategy
and the gateway (which may be waiting for room on the strategy's reports ring) never
wait on each other. A real segment, a user's strategy file, the strategy's real
generated runner in a forked process, the intents ring left full (no risk reads it).
"""

import os
import textwrap
import time

import numpy as np

from forked_worker import forked_loop, ring_position, wait_until, worker_segment
from tickpipe.engine.book import book_write
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import strategy_positions, strategy_state
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.ring import RingProducer
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT, REFUSED_NO_ROOM
from tickpipe.shm_layouts.fill import EXEC_FILL, FILL_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE
from tickpipe.shm_layouts.ring_header import RING_HEAD_OFFSET, RING_TAIL_OFFSET
from tickpipe.shm_layouts.worker_table import W_BUSY_PASSES, W_HEARTBEAT_NS, W_IDLE_PASSES
from tickpipe.workers.strategy.agent import Agent as StrategyAgent

CAPACITY = 8
MID = 1_000_000

STRATEGY = '''
"""Buys one lot at the ask on every quote; on a fill, tries to sell it back."""
import numpy as np
from numba import njit
import tickpipe as tp

STATE = np.dtype([("quotes", np.int64), ("fills", np.int64), ("answer", np.int64),
                  ("_pad", np.int64, (5,))])


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    tp.place(ctx, tp.BUY, 1, quote.ask_px, tp.IOC)


@njit
def on_fill(ctx, state, params, report):
    state.fills += 1
    state.answer = tp.place(ctx, tp.SELL, 1, report.last_px, tp.IOC)
'''


def wait_until_in_a_wait(row_words, what, deadline):
    """Until the forked worker is seen inside one of the runner's waits: its heartbeat
    stamped twice while its pass counts stand still. A pass stamps the heartbeat only as
    it ends, after counting itself (engine/batch.py account_pass); a wait for room stamps
    it after each yield without ending the pass (wait_while_full). The heartbeat is read
    before the passes, so a pass that ends between two looks is always seen ending."""
    def passes():
        return int(row_words[W_BUSY_PASSES]) + int(row_words[W_IDLE_PASSES])
    heartbeat, counted, stamps = int(row_words[W_HEARTBEAT_NS]), passes(), 0
    while stamps < 2:
        assert time.monotonic() < deadline, what
        time.sleep(0.001)
        seen_heartbeat = int(row_words[W_HEARTBEAT_NS])
        seen_passes = passes()
        if seen_passes != counted:
            counted, stamps = seen_passes, 0
        elif seen_heartbeat != heartbeat:
            stamps += 1
        heartbeat = seen_heartbeat


def push_quotes(segment, count):
    block = np.zeros(count, dtype=MARKET_DATA_DTYPE)
    block["bid_px"], block["ask_px"] = MID - 100, MID + 100
    block["bid_qty"], block["ask_qty"] = 10, 10
    block["kind"] = MD_KIND_QUOTE
    block["origin_ns"] = block["publish_ns"] = time.monotonic_ns()
    assert RingProducer(segment, "quotes", MARKET_DATA_DTYPE).try_push(block) == count


def test_a_strategy_waiting_for_room_still_reads_its_reports(tmp_path):
    path = tmp_path / "taker.py"
    path.write_text(textwrap.dedent(STRATEGY))
    (tmp_path / "taker.toml").write_text('[[strategy]]\nname = "taker"\npath = "taker.py"\n'
                                         'symbols = ["SYM0"]\n')
    config = load_config(os.fspath(tmp_path / "taker.toml"), overrides={
        "engine": {"name": f"t-runner-{os.getpid()}", "wait": "yield",
                   "ring_capacity": CAPACITY}})
    with worker_segment(config, "strategy") as (segment, context):
        book_write(context.book, context.book.ctypes.data, 0, MID - 100, MID + 100, 10, 10, 0, 1)
        agent = StrategyAgent(context)
        agent.warm_up()
        state = strategy_state(segment, 0, load_plugin(config["strategies"][0]).state_dtype)
        positions = strategy_positions(segment, 0, config["feed"]["symbols"])
        push_quotes(segment, CAPACITY)
        # the strategy sends until the ring lacks room for one more callback's worst case
        # (MAX_ORDERS_PER_EVENT requests), then waits
        sent = CAPACITY - MAX_ORDERS_PER_EVENT + 1
        with forked_loop(segment, agent):
            deadline = time.monotonic() + 60
            wait_until(lambda: ring_position(segment, "intents", RING_HEAD_OFFSET) == sent,
                       "the strategy did not fill its intents ring", deadline)
            wait_until_in_a_wait(context.row_words,
                                 "the strategy, its intents ring full, is not waiting for room",
                                 deadline)
            # it waits on the next quote: committed through the last one it could answer
            assert ring_position(segment, "quotes", RING_TAIL_OFFSET) == sent
            report = np.zeros(1, FILL_DTYPE)
            report["exec_type"], report["side"], report["symbol_id"] = EXEC_FILL, 1, 0
            report["order_id"], report["last_qty"], report["last_px"] = 1, 1, MID + 100
            report["cum_qty"], report["order_qty"], report["order_px"] = 1, 1, MID + 100
            report["publish_ns"] = time.monotonic_ns()
            assert RingProducer(segment, "fills_strategy", FILL_DTYPE).try_push(report) == 1
            wait_until(lambda: ring_position(segment, "fills_strategy", RING_TAIL_OFFSET) == 1,
                       "the strategy, waiting for room, left its report unread", deadline)
            assert int(state[0]["fills"]) == 1
            assert int(state[0]["answer"]) == -REFUSED_NO_ROOM  # no room: refused, not sent
            assert int(positions[0]["position"]) == 1
            assert int(state[0]["quotes"]) == sent
            assert ring_position(segment, "intents", RING_HEAD_OFFSET) == sent
            # room again (as if risk read every request): the other quotes go on, once each
            start, _ = segment.section("intents")
            np.frombuffer(segment.buf, np.uint64, 1, start + RING_TAIL_OFFSET)[0] = sent
            wait_until(lambda: int(state[0]["quotes"]) == CAPACITY,
                       "the strategy did not go on once there was room", deadline)
            assert ring_position(segment, "quotes", RING_TAIL_OFFSET) == CAPACITY
            assert ring_position(segment, "intents", RING_HEAD_OFFSET) == CAPACITY
