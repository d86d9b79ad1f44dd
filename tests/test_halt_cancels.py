"""`tickpipe halt` waits for the venue's cancels: it returns once the venue holds no working
order and says how many the kill switch cancelled; it gives up after --timeout with one
line and exit 1, and says so when no gateway runs to cancel anything.

The fast tests play the gateway themselves on an engine-shaped segment (its worker row
names this live process, and a thread cancels the venue's order); the slow one halts the
built-in market maker while its quotes rest.
"""

import json
import textwrap
import threading
import time

import pytest

from tickpipe.engine.control import halt_and_wait
from tickpipe.engine.engine_layout import venue_orders, worker_index
from tickpipe.engine.procinfo import own_identity
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, TRADING_HALTED
from tickpipe.shm_layouts.open_order import STATUS_CANCELED, STATUS_NEW
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import GATEWAY_KILL_CANCELS, WORKER_DTYPE
from engine_runs import HANG_S, EngineProcess, unique_name
from test_inspect_orders import MM_CONFIG, WORKING, inspect_json, put_order, wait_for
from test_inspect_support import invoke, invoke_ok, make_engine_segment


class FakeVenue:
    """An engine-shaped segment whose gateway is this process, with one working order."""

    def __init__(self, segment, *, gateway_alive: bool = True):
        self.segment = segment
        self.gateway = segment.view("workers", WORKER_DTYPE)[worker_index("gateway")]
        if gateway_alive:
            self.gateway["pid"], self.gateway["start_ticks"] = own_identity()
        self.rows = venue_orders(segment)
        self.stats = segment.view("symbols", SYMBOL_STATS_DTYPE)
        put_order(self.rows, 0, 11, 2, +1, STATUS_NEW, 5, 1_000_000)
        self.stats[2]["venue_resting"] = 1

    def cancel_all_after(self, delay_s: float) -> threading.Thread:
        """What the gateway does while HALTED: once the state is HALTED, cancel the order
        and count it, `delay_s` later. Not `delay_s` after the start: beside a second
        suite the halt read its count before after 0.1 s, and the cancel went uncounted."""
        control = self.segment.view("control", CONTROL_DTYPE)[0]

        def cancel():
            deadline = time.monotonic() + HANG_S
            while int(control["trading_state"]) != TRADING_HALTED:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.001)
            time.sleep(delay_s)
            self.rows[0]["status"] = STATUS_CANCELED
            self.rows[0]["leaves_qty"] = 0
            self.stats[2]["venue_resting"] = 0
            self.gateway["counters"][GATEWAY_KILL_CANCELS] += 1
        thread = threading.Thread(target=cancel)
        thread.start()
        return thread


def test_halt_when_the_venue_cancels_then_returns_once_none_works_and_counts_them(segments):
    venue = FakeVenue(make_engine_segment(segments))
    venue.gateway["counters"][GATEWAY_KILL_CANCELS] = 3  # an earlier halt's cancels
    thread = venue.cancel_all_after(0.2)
    try:
        out = invoke_ok("halt", venue.segment.name)
    finally:
        thread.join()
    name = venue.segment.name
    assert out.splitlines()[0] == f"engine {name}: trading state ACTIVE -> HALTED (change #1)"
    assert out.splitlines()[1].startswith(
        f"engine {name}: no order works at the venue; 1 order cancelled by the kill switch (in ")


def test_halt_when_it_takes_over_a_second_then_a_progress_line(segments):
    venue = FakeVenue(make_engine_segment(segments))
    seen = []
    thread = venue.cancel_all_after(1.3)
    try:
        change, wait = halt_and_wait(venue.segment.name, 10.0,
                                     lambda waited, working: seen.append((waited, working)))
    finally:
        thread.join()
    assert change.after == "HALTED" and not wait.timed_out
    assert (wait.cancelled, wait.working, wait.gateway_running) == (1, 0, True)
    assert wait.waited_s >= 1.0 and seen and seen[0][1] == 1 and seen[0][0] >= 1.0


def test_halt_when_the_venue_keeps_working_orders_then_one_line_at_the_timeout_and_exit_1(
        segments):
    venue = FakeVenue(make_engine_segment(segments))
    result = invoke("halt", venue.segment.name, "--timeout", "0.3")
    assert result.exit_code == 1
    first, error = result.output.strip().splitlines()
    assert "ACTIVE -> HALTED" in first
    assert error.startswith(f"Error: engine {venue.segment.name}: 1 order still working at the "
                            "venue after 0.3")
    assert "(--timeout 0.3); 0 cancelled so far" in error


def test_halt_json_when_the_venue_cancels_then_the_outcome_has_the_count(segments):
    venue = FakeVenue(make_engine_segment(segments))
    thread = venue.cancel_all_after(0.1)
    try:
        out = json.loads(invoke_ok("halt", venue.segment.name, "--json"))
    finally:
        thread.join()
    assert (out["before"], out["after"], out["changed"]) == ("ACTIVE", "HALTED", True)
    cancels = out["cancels"]
    assert (cancels["cancelled"], cancels["working"], cancels["gateway_running"],
            cancels["timed_out"]) == (1, 0, True, False)


def test_halt_when_no_gateway_runs_and_orders_work_then_says_so_and_exit_1(segments):
    venue = FakeVenue(make_engine_segment(segments), gateway_alive=False)
    started = time.monotonic()
    result = invoke("halt", venue.segment.name, "--timeout", "5")
    assert time.monotonic() - started < 2  # at once: nothing would cancel them
    assert result.exit_code == 1
    first, error = result.output.strip().splitlines()
    assert first.endswith("ACTIVE -> HALTED (change #1)")  # halted all the same
    assert error == (f"Error: engine {venue.segment.name}: no gateway is running to cancel the "
                     "venue's orders; 1 order still working there")
    result = invoke("halt", venue.segment.name, "--json")
    assert result.exit_code == 1
    out, error = result.output.strip().splitlines()
    assert json.loads(out)["cancels"] == {"cancelled": 0, "working": 1, "waited_s": 0.0,
                                          "gateway_running": False, "timed_out": False}
    assert error.startswith("Error: ") and "no gateway is running" in error


def test_halt_when_timeout_is_zero_then_sets_the_state_and_does_not_wait(segments):
    venue = FakeVenue(make_engine_segment(segments))
    out = invoke_ok("halt", venue.segment.name, "--timeout", "0")
    assert out.strip().endswith("ACTIVE -> HALTED (change #1)")
    assert json.loads(invoke_ok("halt", venue.segment.name, "--timeout", "0", "--json"))[
        "cancels"] is None


@pytest.mark.slow
def test_halt_when_market_maker_rests_orders_then_venue_empties_and_cancels_are_counted(tmp_path):
    config = tmp_path / "mm.toml"
    config.write_text(textwrap.dedent(MM_CONFIG))
    engine = EngineProcess(unique_name("mm-halt"), "--seconds", "0", config_file=str(config))
    try:
        engine.wait_running(timeout=180).close()
        inspector = Inspector.attach(engine.name)
        try:
            wait_for(lambda: inspector.snapshot().data["venue"]["working"], lambda n: n > 0)
            started = time.monotonic()
            out = json.loads(invoke_ok("halt", engine.name, "--json"))
            took = time.monotonic() - started
            venue = inspector.snapshot().data["venue"]  # right after it returned
            # the strategy's table follows from the reports: none working once they are read
            strategy = wait_for(lambda: inspector.snapshot().data["strategies"]["mm"],
                                lambda s: not any(o["status"] in WORKING
                                                  for o in s["orders"]["open"]),
                                timeout=600)  # a hang bound: the strategy reads them when it runs
        finally:
            inspector.close()
        data = inspect_json(engine.name)
    finally:
        report = engine.stop()
    assert out["after"] == "HALTED" and out["changed"]
    cancels = out["cancels"]
    assert cancels["gateway_running"] and not cancels["timed_out"], cancels
    assert cancels["working"] == 0 and cancels["cancelled"] > 0, cancels
    assert took < 10
    assert venue["working"] == 0 and venue["resting"] == []
    assert venue["kill_switch_cancels"] >= cancels["cancelled"]
    assert data["engine"]["trading_state"] == "HALTED" and data["venue"]["working"] == 0
    assert sum(p["venue_resting"] for p in data["risk"]["positions"].values()) == 0
    # Every order of the strategy's refused as halted was counted by risk: the run's final
    # count (all rings drained) covers the refusals the strategy had seen before the stop.
    refused_as_halted = data["strategies"]["mm"]["orders"]["reject_reasons"].get("risk_halted", 0)
    assert report["rejected"]["halted"] >= refused_as_halted, (report["rejected"],
                                                                refused_as_halted)
    # what it still has open is only what it sent since, on its way to risk's refusal
    assert all(o["status"] == "PENDING_NEW" for o in strategy["orders"]["open"])
    if data["risk"]["rejects"]["halted"]:  # its newest orders: refused, the reason spelled
        assert data["strategies"]["mm"]["orders"]["reject_reasons"]["risk_halted"] > 0
    assert report["state"] == "stopped", report["notes"]
