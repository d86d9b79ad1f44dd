"""Exactly once across kill -9: a worker killed at each point of a batch, then restarted.

The killed worker is a real process that attaches to a real engine segment, does
part of a risk batch through the same functions the risk loop uses, and SIGKILLs
itself at the point the test names. The restart is build_context, as a
restarted worker's: it must leave every effect either applied once or not at all.
"""

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ringtest_loops as loops
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.ring import RingConsumer, RingProducer, ring_header
from tickpipe.engine.segment import create_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE

# One risk batch by hand: take intent 1, open 10 lots on symbol 3, write order 1,
# then stop dead at `point`: "before-commit", "before-publish", "before-release", or
# "after-all".
RISK_BATCH = textwrap.dedent("""
    import os, signal, sys
    from tickpipe.engine.commit import txn_add, txn_commit, txn_consumed, txn_produced
    from tickpipe.engine.config import load_config
    from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_release, producer_publish
    from tickpipe.engine.segment import attach_segment
    from tickpipe.engine.worker_context import build_context
    from tickpipe.workers.positions import stats_field
    from tickpipe.workers.risk.agent import OPEN_BUY_QTY
    point = sys.argv[2]
    segment = attach_segment(sys.argv[1])
    context = build_context(segment, "risk", load_config(overrides={"engine": {"name": sys.argv[1]}}))
    intents, orders, txn = context.inputs[1], context.outputs["orders"], context.txn  # slot 1: strategy 0's
    txn_add(txn, stats_field(context.symbols, 3, OPEN_BUY_QTY), 10)
    order = context.records["orders"][int(orders[H_POSITION]) & int(orders[H_MASK])]
    order["qty"], order["symbol_id"], order["order_id"] = 10, 3, 77
    txn_consumed(txn, 1, int(intents[H_POSITION]) + 1)
    txn_produced(txn, 0, int(orders[H_POSITION]) + 1)
    if point != "before-commit":
        txn_commit(txn)
        if point != "before-publish":
            producer_publish(orders, 1)
            if point != "before-release":
                consumer_release(intents, 1)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture
def engine_segment(segments):
    name = segments.name()
    config = load_config(overrides={"engine": {"name": name, "ring_capacity": 64}})
    segment = segments.keep(create_segment(name, section_specs(config), use_hugetlbfs=False))
    initialise(segment, config, place_workers(PIPELINE, None, "block"))
    segment.mark_ready()
    intent = np.zeros(1, dtype=ORDER_INTENT_DTYPE)
    intent["symbol_id"], intent["side"], intent["qty"] = 3, 1, 10
    assert RingProducer(segment, "intents", ORDER_INTENT_DTYPE).try_push(intent) == 1
    return segment, config


def kill_risk_at(segment, point: str) -> None:
    done = subprocess.run([sys.executable, "-c", RISK_BATCH, segment.name, point],
                          capture_output=True, text=True, timeout=loops.SIDE_TIMEOUT_S)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout == "ready\n"


def after_restart(segment, config):
    """Restart risk (build_context recovers), then what each stage sees."""
    context = build_context(segment, "risk", config)
    orders = RingConsumer(segment, "orders", ORDER_DTYPE).try_pop(64)
    return {"open_buy_qty": int(context.symbols[3]["open_buy_qty"]),
            "orders": orders["order_id"].tolist(),
            "intents_left": int(ring_header(segment, "intents")["head"])
            - int(ring_header(segment, "intents")["tail"]),
            "recovered": context.recovered}


def test_restart_when_killed_before_the_commit_then_the_batch_is_undone_and_nothing_emitted(
        engine_segment):
    segment, config = engine_segment
    kill_risk_at(segment, "before-commit")
    seen = after_restart(segment, config)
    assert seen["open_buy_qty"] == 0          # rolled back
    assert seen["orders"] == []               # never published
    assert seen["intents_left"] == 1          # to be decided again, once
    assert seen["recovered"]["rolled_back"] == 1


@pytest.mark.parametrize("point", ["before-publish", "before-release", "after-all"])
def test_restart_when_killed_after_the_commit_then_every_effect_and_output_is_there_once(
        engine_segment, point):
    segment, config = engine_segment
    kill_risk_at(segment, point)
    seen = after_restart(segment, config)
    assert seen["open_buy_qty"] == 10         # kept, not applied twice
    assert seen["orders"] == [77]             # emitted once: published by the restart if need be
    assert seen["intents_left"] == 0          # consumed once
    assert seen["recovered"]["rolled_back"] == 0
    assert seen["recovered"]["published"] == {"orders": int(point == "before-publish")}
    assert seen["recovered"]["released"] == {
        "intents": int(point in ("before-publish", "before-release")), "fills_risk": 0}


def test_restart_twice_when_nothing_happened_in_between_then_the_second_changes_nothing(
        engine_segment):
    segment, config = engine_segment
    kill_risk_at(segment, "before-publish")
    after_restart(segment, config)
    again = build_context(segment, "risk", config).recovered
    assert again == {"rolled_back": 0, "published": {"orders": 0},
                     "released": {"intents": 0, "fills_risk": 0}}


# The strategy's state rows: a batch's changes stored in one go (txn_store_changes),
# then killed before its commit, or after it.
STATE_BATCH = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from tickpipe.engine.commit import txn_commit, txn_store_changes, undo_words
    from tickpipe.engine.config import load_config
    from tickpipe.engine.engine_layout import strategy_state
    from tickpipe.engine.plugin import load_plugin
    from tickpipe.engine.segment import attach_segment
    from tickpipe.engine.worker_context import build_context
    segment = attach_segment(sys.argv[1])
    config = load_config(overrides={"engine": {"name": sys.argv[1]}})
    context = build_context(segment, "strategy", config)
    rows = strategy_state(segment, 0, load_plugin(config["strategies"][0]).state_dtype)
    words = rows.view(np.uint64).reshape(len(rows), -1)
    target = words[2].copy()
    target[0] += 5          # filled
    target[3] = 12345       # total_sq's bits
    txn_store_changes(context.txn, undo_words(context.txn),
                      words.ctypes.data + 2 * words.shape[1] * 8, words[2], target)
    if sys.argv[2] == "after-commit":
        txn_commit(context.txn)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("point, kept", [("before-commit", False), ("after-commit", True)])
def test_restart_when_a_strategy_state_row_changed_then_it_is_as_of_the_last_commit(
        engine_segment, point, kept):
    from tickpipe.engine.engine_layout import strategy_state
    from tickpipe.engine.plugin import load_plugin
    segment, config = engine_segment
    dtype = load_plugin(config["strategies"][0]).state_dtype
    rows = strategy_state(segment, 0, dtype)
    rows[2]["filled"] = 7
    before = rows.view(np.uint64).reshape(len(rows), -1)[2].copy()
    done = subprocess.run([sys.executable, "-c", STATE_BATCH, segment.name, point],
                          capture_output=True, text=True, timeout=loops.SIDE_TIMEOUT_S)
    assert done.returncode == -signal.SIGKILL, done.stderr
    changed = rows.view(np.uint64).reshape(len(rows), -1)[2].copy()
    assert changed[0] == 12 and changed[3] == 12345  # stored in place before the kill
    context = build_context(segment, "strategy", config)  # the restart: recover
    after = rows.view(np.uint64).reshape(len(rows), -1)[2]
    if kept:
        assert after.tolist() == changed.tolist()
        assert context.recovered["rolled_back"] == 0
    else:
        assert after.tolist() == before.tolist()
        assert context.recovered["rolled_back"] == 2
