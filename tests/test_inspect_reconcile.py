"""Inspecting at a high refresh rate changes nothing the engine does: its report still
reconciles (nothing lost, every tick consumed, every intent an order or a reject)."""

import time

import pytest

from tickpipe.engine.segment import SegmentError
from tickpipe.engine.snapshot import Inspector
from engine_runs import EngineProcess, assert_reconciles, unique_name

pytestmark = pytest.mark.slow


def attach_when_ready(engine: EngineProcess, timeout: float = 120.0) -> Inspector:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Inspector.attach(engine.name)
        except SegmentError:
            assert engine.proc.poll() is None and time.monotonic() < deadline, "no segment"
            time.sleep(0.01)


def test_run_when_snapshotted_continuously_then_report_still_reconciles():
    engine = EngineProcess(unique_name("watched"), "--seconds", "3", "--rate", "50000")
    try:
        inspector = attach_when_ready(engine)
        snapshots, last_heads = 0, None
        try:
            while engine.proc.poll() is None:  # the run ends itself after 3 s of feed
                rings = inspector.snapshot().data["rings"]
                heads = [ring["head"] for ring in rings]
                assert all(ring["head"] >= ring["tail"] for ring in rings)
                assert last_heads is None or all(a >= b for a, b in zip(heads, last_heads))
                last_heads, snapshots = heads, snapshots + 1
        finally:
            inspector.close()
        report = engine.result(timeout=60)
    finally:
        engine.kill()
    assert snapshots > 100
    assert_reconciles(report)
    assert last_heads[0] <= report["ticks"]
