"""An engine with small rings and a strategy that keeps orders resting: a tick may fill
every working order of its symbol, so a symbol's working orders are capped by what one
tick's reports can take (the report rings, the undo log), and the venue refuses more
(`book_full`) instead of waiting for room that never comes. Found by a user's trial:
with `ring_capacity = 64` and 115 orders working, the engine stalled and its drain
timed out with records lost."""

import os
import textwrap

import pytest

from engine_runs import EngineProcess, assert_reconciles, unique_name
from tickpipe.engine.segment import unlink_segment
from tickpipe.engine.sizing import smallest_ring_capacity
from tickpipe.workers.gateway.agent import max_working_per_symbol

pytestmark = pytest.mark.slow

RING_CAPACITY = 64

STRATEGY = '''
"""Rests a one-lot bid below the market on every quote, never cancelling."""
import numpy as np
from numba import njit
import tickpipe as tp

STATE = np.dtype([("placed", np.int64), ("_pad", np.int64, (7,))])


@njit
def on_quote(ctx, state, params, quote):
    tick = tp.tick_size(ctx)
    if tp.place(ctx, tp.BUY, 1, quote.bid_px - (1 + state.placed % 40) * tick, tp.GTC) > 0:
        state.placed += 1
'''

CONFIG = f"""
[engine]
rate = 20000
seconds = 3
ring_capacity = {RING_CAPACITY}
[risk]
max_open_orders = 100000
max_position = 1000000
[[strategy]]
name = "rester"
path = "rester.py"
symbols = ["SYM0"]
"""


def test_small_rings_when_orders_pile_up_then_the_venue_refuses_and_nothing_stalls(tmp_path):
    assert max_working_per_symbol(RING_CAPACITY) == RING_CAPACITY
    (tmp_path / "rester.py").write_text(textwrap.dedent(STRATEGY))
    (tmp_path / "rester.toml").write_text(textwrap.dedent(CONFIG))
    name = unique_name("smallrings")
    engine = EngineProcess(name, config_file=os.fspath(tmp_path / "rester.toml"))
    try:
        report = engine.result(timeout=240)
    finally:
        engine.kill()
        unlink_segment(name)
    assert report["state"] == "stopped", report["notes"]
    assert report["lost"] == 0
    assert report["venue_rejected"]["venue_book_full"] > 0
    assert report["venue"]["working"] == 0  # the close cancelled them all, in small sweeps
    assert report["venue"]["kill_switch_cancels"] >= RING_CAPACITY


MM_EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "examples", "mm.toml")


def test_small_rings_when_at_the_smallest_safe_capacity_flat_out_then_the_run_stops_clean(
        tmp_path):
    # examples/mm.toml flat out with the smallest ring load_config takes (engine/sizing.py):
    # with ring_capacity = 8 it used to end drain-timed-out, a strategy reading a report
    # waiting for risk, risk for the gateway, the gateway for the strategy (docs/runner.md).
    smallest, _ = smallest_ring_capacity()
    example = open(MM_EXAMPLE).read()
    assert "rate = 20000\n" in example
    (tmp_path / "mm-small.toml").write_text(
        example.replace("rate = 20000\n", f"rate = 0\nring_capacity = {smallest}\n"))
    name = unique_name("smallest-rings")
    engine = EngineProcess(name, "--seconds", "3", config_file=os.fspath(tmp_path / "mm-small.toml"))
    try:
        report = engine.result(timeout=300)
    finally:
        engine.kill()
    assert_reconciles(report)  # stopped, nothing lost, every count agrees
    assert report["stranded"] == {}
    assert report["failures"] == []
    assert report["orders_sent"] > 0 and report["fills"] > 0
    assert report["venue"]["working"] == 0
