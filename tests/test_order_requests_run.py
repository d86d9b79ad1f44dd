"""Requests a user strategy gets wrong, end to end: each is answered by one REJECTED
report whose reason the strategy sees and `tickpipe inspect` spells, and nothing else
changes; and the lifecycle of a resting order (rest, replace, cancel) as the
strategy's own order table records it.

One real engine runs a small plug-in of a user's own (written below; its file is kept
from one session to the next so that numba's cache holds it: strategy_file) that, on
its first quotes, sends: a limit order off the tick grid, a cancel and a replace of an
order that never existed, a replace of a resting order to qty 0, a DAY order after the
session ended ([venue] session_s), an order risk denies (max_qty), a DAY order that
rests until the session ends, and a resting order it then replaces and cancels; with
an order-entry latency ([venue] latency_us). Its state records each answer's exec type
and reason; the engine is stopped once every request has its answer.
"""

import hashlib
import json
import os
import shutil
import tempfile
import textwrap

import numpy as np
import pytest

from engine_runs import EngineProcess, unique_name
from tickpipe.engine.engine_layout import strategy_orders, strategy_state
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.segment import attach_segment, unlink_segment
from tickpipe.shm_layouts.control_block import REJECT_BAD_QTY, REJECT_MAX_QTY, REJECT_OFF_TICK
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_NEW, EXEC_REJECTED, EXEC_REPLACED, RISK_REASON_BASE,
    VENUE_REASON_BASE, VENUE_SESSION_CLOSED, VENUE_UNKNOWN_ORDER, reason_name,
)
from tickpipe.shm_layouts.open_order import STATUS_CANCELED, STATUS_EXPIRED, STATUS_REJECTED
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE

pytestmark = pytest.mark.slow

STRATEGY = '''
"""Sends one of each request a user gets wrong, then rests, replaces and cancels an order."""
import numpy as np
from numba import njit
import tickpipe as tp

STATE = np.dtype([("step", np.int64), ("resting", np.int64), ("off_tick", np.int64),
                  ("day", np.int64), ("start_ns", np.int64), ("too_big", np.int64),
                  ("day_early", np.int64), ("answers", np.int64, (10, 3))])
# answers[k] = (exec_type, reject_reason, ord_status) of the report answering request k
UNKNOWN_A = (1 << 40) + 12345
UNKNOWN_B = (1 << 40) + 54321


@njit
def note(state, k, report):
    state.answers[k, 0] = report.exec_type
    state.answers[k, 1] = report.reject_reason
    state.answers[k, 2] = report.ord_status


@njit
def on_quote(ctx, state, params, quote):
    if state.step != 0:
        return
    tick = tp.tick_size(ctx)
    far_below = quote.bid_px - 20 * tick            # rests: nobody sells down there
    state.off_tick = tp.place(ctx, tp.BUY, 5, far_below + tick // 2, tp.GTC)  # 0: off the grid
    tp.cancel(ctx, UNKNOWN_A)                                                 # 1: unknown
    tp.replace(ctx, UNKNOWN_B, 5, far_below)                                  # 2: unknown
    state.resting = tp.place(ctx, tp.BUY, 5, far_below, tp.GTC)               # 3: rests (NEW)
    state.start_ns = quote.origin_ns
    state.step = 1


@njit
def on_timer(ctx, state, params, now_ns):
    if state.step == 0:
        return
    status = tp.order_status(ctx, state.resting)
    price = tp.order_price(ctx, state.resting)
    if state.step == 1 and status == tp.STATUS_NEW:
        tp.replace(ctx, state.resting, 0, price)                              # 4: qty 0 (risk)
        state.too_big = tp.place(ctx, tp.BUY, 1000, price, tp.GTC)            # 8: risk: max_qty
        state.step = 2
    elif state.step == 2 and status == tp.STATUS_NEW:
        state.day_early = tp.place(ctx, tp.BUY, 5, price, tp.DAY)             # 9: expires
        state.step = 3
    elif state.step == 3 and status == tp.STATUS_NEW:
        tp.replace(ctx, state.resting, 8, price)                              # 6: replaced
        state.step = 4
    elif state.step == 4 and status == tp.STATUS_REPLACED:
        tp.cancel(ctx, state.resting)                                         # 7: canceled
        state.step = 5
    elif state.step == 5 and tp.is_final(status) and state.day == 0 and \
            now_ns - state.start_ns > 1_500_000_000:  # the session ended at 0.5 s
        state.day = tp.place(ctx, tp.BUY, 5, price, tp.DAY)                   # 5: session over


@njit
def on_fill(ctx, state, params, report):
    order_id = np.int64(report.order_id)
    if order_id == state.off_tick:
        note(state, 0, report)
    elif order_id == UNKNOWN_A:
        note(state, 1, report)
    elif order_id == UNKNOWN_B:
        note(state, 2, report)
    elif order_id == state.day:
        note(state, 5, report)
    elif order_id == state.too_big:
        note(state, 8, report)
    elif order_id == state.day_early and report.exec_type == tp.EXEC_EXPIRED:
        note(state, 9, report)
    elif order_id == state.resting:
        kind = report.exec_type
        if kind == tp.EXEC_NEW:
            note(state, 3, report)
        elif kind == tp.EXEC_REJECTED:
            note(state, 4, report)
        elif kind == tp.EXEC_REPLACED:
            note(state, 6, report)
        elif kind == tp.EXEC_CANCELLED:
            note(state, 7, report)

TIMER_MS = 50
'''

# It runs until the strategy has recorded an answer to every request (answered), then
# is stopped by SIGTERM.
CONFIG = """
[engine]
rate = 2000
seconds = 0
[venue]
session_s = 0.5
latency_us = 1000
[[strategy]]
name = "wrong"
path = {path}
symbols = ["SYM0"]
"""


def strategy_file() -> str:
    """STRATEGY's file, at the same path in every session: numba's cache keys its compiled
    callbacks by the file's path, mtime and size (engine/runner_gen.py), so a file written
    afresh into a temporary directory compiled them at every run (10-20 s here); this one
    compiles once after each change of tickpipe's sources. It lives in tickpipe's numba
    cache directory (keyed by those sources), named by its text; it is written once,
    whole (a rename of a complete directory), and never rewritten, so a concurrent
    session finds either no file or the same one, with the same mtime."""
    # (set by importing tickpipe; without it numba keeps nothing between sessions)
    base = os.environ.get("NUMBA_CACHE_DIR") or tempfile.mkdtemp(prefix="tickpipe-requests-")
    digest = hashlib.blake2b(STRATEGY.encode(), digest_size=8).hexdigest()
    directory = os.path.join(base, "tests", f"requests-{digest}")
    path = os.path.join(directory, "wrong.py")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(dir=os.path.dirname(directory))
        with open(os.path.join(staging, "wrong.py"), "w") as f:
            f.write(STRATEGY)
        try:
            os.rename(staging, directory)
        except OSError:  # another session's is there already: the same text
            shutil.rmtree(staging)
    return path


def answered(state) -> bool:
    """Every request's answer recorded (exec types start at 1: 0 is none yet)."""
    return bool((state["answers"][0, :, 0] != 0).all())


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("requests")
    path = strategy_file()
    (directory / "wrong.toml").write_text(textwrap.dedent(CONFIG).format(path=json.dumps(path)))
    state_dtype = load_plugin({"name": "wrong", "path": path, "params": {}}).state_dtype
    name = unique_name("requests")
    engine = EngineProcess(name, "--keep", config_file=os.fspath(directory / "wrong.toml"))
    try:
        segment = engine.wait_running()
        engine.wait_until(lambda: answered(strategy_state(segment, 0, state_dtype)),
                          "an answer to every request", poll_s=0.05)
        segment.close()
        report = engine.stop()
        segment = attach_segment(name, readonly=True)
        state = np.array(strategy_state(segment, 0, state_dtype))
        orders = np.array(strategy_orders(segment, 0))
        stats = np.array(segment.view("symbols", SYMBOL_STATS_DTYPE, 8))
        segment.close()
    finally:
        engine.kill()
        unlink_segment(name)
    return report, state[0], orders, stats


def venue(code):
    return VENUE_REASON_BASE + code


def test_request_when_it_is_wrong_then_one_rejected_report_with_its_reason(answers):
    report, state, _, _ = answers
    assert report["state"] == "stopped", report["notes"]
    got = [tuple(int(v) for v in row) for row in state["answers"]]
    assert got[0][:2] == (EXEC_REJECTED, RISK_REASON_BASE + REJECT_OFF_TICK)  # before the venue
    assert got[1][:2] == (EXEC_REJECTED, venue(VENUE_UNKNOWN_ORDER))
    assert got[2][:2] == (EXEC_REJECTED, venue(VENUE_UNKNOWN_ORDER))
    assert got[4][:2] == (EXEC_REJECTED, RISK_REASON_BASE + REJECT_BAD_QTY)  # qty 0: risk's
    assert got[5][:2] == (EXEC_REJECTED, venue(VENUE_SESSION_CLOSED))
    assert got[8][:2] == (EXEC_REJECTED, RISK_REASON_BASE + REJECT_MAX_QTY)
    assert [reason_name(got[k][1]) for k in (0, 1, 4, 5, 8)] == \
        ["risk_off_tick", "unknown_order", "risk_bad_qty", "session_closed", "risk_max_qty"]


def test_day_order_when_the_session_ends_then_it_expires(answers):
    _, state, orders, _ = answers
    got = tuple(int(v) for v in state["answers"][9])
    assert got == (EXEC_EXPIRED, 0, STATUS_EXPIRED)
    row = orders[orders["order_id"] == state["day_early"]][0]
    assert int(row["status"]) == STATUS_EXPIRED and int(row["leaves_qty"]) == 0


def test_venue_when_latency_is_set_then_every_request_waits_that_long(answers):
    report = answers[0]
    # [venue] latency_us = 1000; the histogram gives a bucket's lower edge (within 1%)
    assert report["hops_ns"]["risk_to_gateway"]["p50"] >= 990_000


def test_resting_order_when_replaced_then_cancelled_then_its_table_row_follows(answers):
    _, state, orders, stats = answers
    got = [tuple(int(v) for v in row) for row in state["answers"]]
    assert got[3][0] == EXEC_NEW
    assert got[6][0] == EXEC_REPLACED
    assert got[7][:1] == (EXEC_CANCELLED,) and got[7][2] == STATUS_CANCELED
    row = orders[orders["order_id"] == state["resting"]][0]
    assert int(row["status"]) == STATUS_CANCELED and int(row["qty"]) == 8
    assert int(row["leaves_qty"]) == 0 and int(row["cum_qty"]) == 0
    off_tick = orders[(orders["status"] == STATUS_REJECTED)]
    assert len(off_tick) >= 2  # the off-tick and the DAY order, as the strategy's table has them
    # nothing else changed: no position, nothing left open at risk or the venue
    assert (stats["position"] == 0).all() and (stats["open_buy_qty"] == 0).all()
    assert (stats["open_orders"] == 0).all() and (stats["venue_resting"] == 0).all()
