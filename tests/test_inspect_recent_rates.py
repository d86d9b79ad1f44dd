"""`inspect` rates are over a recent window, not averaged since start-up (which carries the
warm-up and hides a stall), and a no-op `halt` is not a state change.

The engine here is an engine-shaped segment owned by this live test process, whose counts
the test moves itself: a stalled engine, or one that moved by a known amount between two
reads, makes every expected rate exact.
"""

import json
import time

import numpy as np
import pytest

from tickpipe.engine import snapshot as snapshot_module
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.control import set_trading_state
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import engine_rings
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.ring_header import RING_HEAD_OFFSET, RING_TAIL_OFFSET
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from test_inspect_support import invoke_ok, make_engine_segment, run_cli

RINGS = engine_rings(load_config())  # a one-strategy engine's, in directory order

RUN_S = 1000.0           # the feed started this long ago...
RUN_TICKS = 1_000_000    # ...and has published this many: 1,000 ticks/s over the run


class FakeEngine:
    """An engine-shaped segment that has run RUN_S seconds; `advance(n)` publishes n ticks."""

    def __init__(self, segment):
        self.segment = segment
        self.name = segment.name
        control = segment.view("control", CONTROL_DTYPE)[0]
        control["feed_started_ns"] = lib.tp_monotonic_ns() - int(RUN_S * 1e9)
        self.feed = segment.view("workers", WORKER_DTYPE)[0]
        offset, _ = segment.section(RINGS[0].section)
        self.head = segment.buf[offset + RING_HEAD_OFFSET:][:8].view(np.uint64)
        self.tail = segment.buf[offset + RING_TAIL_OFFSET:][:8].view(np.uint64)
        self.ticks = 0
        self.advance(RUN_TICKS)

    def advance(self, n: int) -> None:
        self.ticks += n
        self.feed["published"] = self.ticks
        self.tail[0] = self.head[0] = self.ticks  # consumed as published: an empty ring


@pytest.fixture
def engine(segments):
    return FakeEngine(make_engine_segment(segments))


def wait_until_past(monotonic_ns: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic_ns() <= monotonic_ns:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def feed_rate(data: dict) -> float:
    return data["workers"][0]["rate_per_s"]


def test_inspect_when_engine_has_stalled_then_rates_are_zero_not_the_run_average(engine):
    data = json.loads(invoke_ok("inspect", engine.name, "--json"))
    assert data["engine"]["rate_basis"] == "window"
    assert 0.2 <= data["engine"]["rate_window_s"] < 5
    assert feed_rate(data) == 0 and data["rings"][0]["rate_per_s"] == 0
    assert "rates over the last 0.2" in invoke_ok("inspect", engine.name)


def test_inspect_when_sample_is_zero_then_rates_average_since_the_feed_started(engine):
    data = json.loads(invoke_ok("inspect", engine.name, "--json", "--sample", "0"))
    assert data["engine"]["rate_basis"] == "since_feed_start"
    assert feed_rate(data) == pytest.approx(RUN_TICKS / RUN_S, rel=0.01)
    assert data["engine"]["interval_s"] is None


def test_snapshot_when_ticks_arrive_between_reads_then_rate_is_over_that_window(engine):
    inspector = Inspector.attach(engine.name)
    try:
        first = inspector.snapshot().taken_ns
        engine.advance(5_000)
        wait_until_past(first + int(0.1e9))  # a window long enough for 3-decimal seconds
        data = inspector.snapshot().data
        window_s = data["engine"]["rate_window_s"]
        assert data["engine"]["rate_basis"] == "window" and window_s == data["engine"]["interval_s"]
        assert feed_rate(data) == pytest.approx(5_000 / window_s, rel=0.01)
        assert data["rings"][0]["rate_per_s"] == pytest.approx(5_000 / window_s, rel=0.01)
    finally:
        inspector.close()


def test_snapshot_when_samples_age_past_the_window_then_the_oldest_are_dropped(engine,
                                                                                monkeypatch):
    monkeypatch.setattr(snapshot_module, "RATE_WINDOW_S", 0.05)
    inspector = Inspector.attach(engine.name)
    try:
        first = inspector.snapshot().taken_ns
        engine.advance(1_000_000)  # a burst, in the first sample's window only
        second = inspector.snapshot().taken_ns
        engine.advance(100)
        wait_until_past(second + int(0.1e9))  # the first sample ages out of the window
        data = inspector.snapshot().data
        # Measured from the second sample, the one the window still holds: 100 ticks, no burst.
        window_s = data["engine"]["rate_window_s"]
        assert window_s < (time.monotonic_ns() - first) / 1e9
        assert window_s >= (data["engine"]["interval_s"] or 0) and second > first
        assert feed_rate(data) == pytest.approx(100 / window_s, rel=0.02)
    finally:
        inspector.close()


def test_inspect_watch_when_first_refresh_then_rates_are_already_over_a_window(engine):
    # A subprocess: --watch lowers its own process to SCHED_IDLE, which pytest must not be.
    done = run_cli("inspect", engine.name, "--watch", "0.05", "--count", "2", "--json")
    assert done.returncode == 0, done.stderr
    frames = [json.loads(line) for line in done.stdout.splitlines()]
    assert frames[0]["engine"]["interval_s"] is None  # no previous refresh yet...
    assert frames[0]["engine"]["rate_basis"] == "window" and feed_rate(frames[0]) == 0  # ...rates
    assert frames[1]["engine"]["rate_window_s"] >= frames[1]["engine"]["interval_s"] > 0


def test_halt_when_already_halted_then_says_so_and_counts_no_change(engine):
    control = engine.segment.view("control", CONTROL_DTYPE)[0]
    assert "ACTIVE -> HALTED (change #1)" in invoke_ok("halt", engine.name)
    out = invoke_ok("halt", engine.name)
    assert out.splitlines()[0] == (f"engine {engine.name}: trading state already HALTED; nothing "
                                   "changed (still 1 changes)")
    assert int(control["trading_state_changes"]) == 1
    # no gateway runs here, and nothing works at the venue: nothing to wait for
    assert json.loads(invoke_ok("halt", engine.name, "--json")) == {
        "engine": engine.name, "before": "HALTED", "after": "HALTED", "changes": 1,
        "changed": False, "cancels": {"cancelled": 0, "working": 0, "waited_s": 0.0,
                                      "gateway_running": False, "timed_out": False}}
    assert int(control["trading_state_changes"]) == 1


def test_set_trading_state_when_state_differs_then_counts_each_real_change(engine):
    assert set_trading_state(engine.name, "HALTED").changed
    assert not set_trading_state(engine.name, "halted").changed
    change = set_trading_state(engine.name, "ACTIVE")
    assert (change.before, change.after, change.changes, change.changed) == ("HALTED", "ACTIVE",
                                                                             2, True)
