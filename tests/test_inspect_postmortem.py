"""A segment left by a killed engine: ls says dead, inspect still reads it and says so,
the kill switch refuses, and cleanup removes it while sparing a live engine."""

import json
import os
import time

import pytest

from tickpipe.engine.segment import SegmentError, attach_segment
from tickpipe.engine.snapshot import Inspector
from engine_runs import EngineProcess, unique_name
from test_inspect_support import (
    assert_one_line_error, invoke, invoke_ok, make_engine_segment,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dead_engine():
    """An engine run with --keep whose supervisor got SIGKILL (its workers die with it)."""
    engine = EngineProcess(unique_name("dead"), "--seconds", "0", "--rate", "20000", "--keep")
    try:
        inspector = Inspector(engine.wait_running(timeout=120))
        engine.proc.kill()  # SIGKILL: no drain, no unlink
        engine.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(worker["alive"] for worker in inspector.snapshot().data["workers"]):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.05)
        inspector.close()
        yield engine.name
    finally:
        engine.kill()


def test_ls_when_supervisor_was_killed_then_engine_is_dead(dead_engine):
    row = next(row for row in json.loads(invoke_ok("ls", "--json")) if row["name"] == dead_engine)
    assert row["alive"] is False and row["kind"] == "segment"
    line = next(line for line in invoke_ok("ls").splitlines() if line.startswith(dead_engine))
    assert "DEAD" in line


def test_inspect_when_owner_is_dead_then_reads_the_last_figures_and_says_dead(dead_engine):
    out = invoke_ok("inspect", dead_engine)
    assert "POST-MORTEM" in out and "is dead" in out
    data = json.loads(invoke_ok("inspect", dead_engine, "--json"))
    assert data["engine"]["alive"] is False and data["engine"]["owner"]["alive"] is False
    assert not any(worker["alive"] for worker in data["workers"])
    assert data["rings"][0]["head"] > 0 and data["engine"]["uptime_s"] is None


def test_halt_when_engine_is_dead_then_one_line_refusal(dead_engine):
    assert_one_line_error(invoke("halt", dead_engine), "is not running")


def test_cleanup_when_one_engine_is_dead_and_one_alive_then_removes_only_the_dead(dead_engine,
                                                                                   segments):
    live = make_engine_segment(segments)  # owned by this test process: alive
    said = dict(line.split(" ", 1) for line in invoke_ok("cleanup", dead_engine, live.name).splitlines())
    assert "removed: owner pid" in said[dead_engine] and "is gone" in said[dead_engine]
    assert "left alone" in said[live.name] and "is running" in said[live.name]
    assert not os.path.exists(f"/dev/shm/tickpipe.{dead_engine}")
    assert os.path.exists(live.path)
    with pytest.raises(SegmentError, match="no tickpipe engine named"):
        attach_segment(dead_engine, readonly=True)
