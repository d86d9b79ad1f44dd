"""`tickpipe run` as a user sees it: the JSON report's keys and types, and the human output.

One real run per output format, each a subprocess with a unique engine name
(tests/test_engine_run.py checks that the counts reconcile; this checks the shape).
"""

import json
import os
import re
import subprocess
import sys

import pytest

from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.engine.segment import unlink_segment
from tickpipe.engine.wait_codes import WAIT_CODES
from engine_runs import EngineProcess, unique_name
from tickpipe.shm_layouts.control_block import REJECT_NAMES
from tickpipe.shm_layouts.histogram import HOPS

pytestmark = pytest.mark.slow

LATENCY_KEYS = {"p50", "p90", "p99", "p999", "max"}
STATUS_LINE = re.compile(r"^\[\s*(\d+\.\d)s\] ticks/s +[\d,]+  orders/s +[\d,]+  "
                         r"t2t (-|p50 \S+ p99 \S+)  in-flight [\d,]+$")


@pytest.fixture(scope="module")
def json_run():
    name = unique_name("cli-json")
    engine = EngineProcess(name, "--seconds", "1")
    try:
        out, err = engine.proc.communicate(timeout=120)
    finally:
        engine.kill()
    assert engine.proc.returncode == 0, err
    return name, out, err


@pytest.fixture(scope="module")
def report(json_run):
    return json.loads(json_run[1])


def assert_latency(summary):
    assert LATENCY_KEYS <= set(summary)
    for key in LATENCY_KEYS:
        assert summary[key] is None or isinstance(summary[key], int), (key, summary[key])


def test_run_json_when_it_ends_then_stdout_is_only_the_report_and_stderr_is_quiet(json_run):
    _, out, err = json_run
    assert out.lstrip().startswith("{") and out.rstrip().endswith("}")
    assert "placement:" not in err and "ticks/s" not in err


def test_run_json_when_it_ends_then_the_counts_are_there_with_their_types(json_run, report):
    assert report["engine"] == json_run[0]
    assert report["state"] == "stopped"
    assert isinstance(report["seconds"], float) and report["seconds"] >= 1.0
    for key in ("ticks", "intents", "orders_sent", "fills", "lost"):
        assert isinstance(report[key], int) and report[key] >= 0, key
    assert report["ticks"] > 0
    assert report["lost"] == 0


def test_run_json_when_it_ends_then_rejections_are_counted_by_every_reason(report):
    assert set(report["rejected"]) == set(REJECT_NAMES.values())
    assert all(isinstance(count, int) for count in report["rejected"].values())


def test_run_json_when_it_ends_then_every_hop_has_its_latency_percentiles(report):
    assert_latency(report["tick_to_trade_ns"])
    assert set(report["hops_ns"]) == set(HOPS) - {"tick_to_trade"}
    for hop in report["hops_ns"].values():
        assert_latency(hop)


def test_run_json_when_it_ends_then_every_worker_has_role_pid_core_wait_restarts(report):
    workers = report["workers"]
    assert [w["role"] for w in workers] == list(PIPELINE)
    for worker in workers:
        assert isinstance(worker["pid"], int) and worker["pid"] > 0
        assert worker["core"] in os.sched_getaffinity(0)
        assert worker["wait"] in WAIT_CODES
        assert worker["restarts"] == 0


def test_run_json_when_it_ends_then_memory_says_backing_page_size_and_locking(report):
    memory = report["memory"]
    assert memory["backing"] in ("shm", "hugetlbfs")
    assert isinstance(memory["page_size"], int) and memory["page_size"] >= 4096
    assert memory["locked"] is False


def test_run_when_not_json_then_status_lines_and_placement_go_to_stderr_and_the_report_to_stdout():
    name = unique_name("cli-human")
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "run", "--seconds", "2.5", "--name", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        unlink_segment(name)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("placement: feed@") and "cores from" in lines[0], lines
    status = [STATUS_LINE.match(line) for line in lines if line.startswith("[")]
    assert all(status), lines
    stamps = [float(match.group(1)) for match in status]
    assert len(stamps) >= 2 and all(b - a >= 0.95 for a, b in zip(stamps, stamps[1:])), stamps
    report_lines = out.splitlines()
    assert report_lines[0].startswith(f"engine {name}: stopped after ")
    assert re.match(r"  ticks [\d,]+  intents [\d,]+  orders sent [\d,]+  fills [\d,]+  lost 0$",
                    report_lines[1]), report_lines[1]
    assert report_lines[2].startswith("  rejected by risk: ") and "; by the venue: " in report_lines[2]
    assert report_lines[3] == "  refused by the strategy API (nothing sent): none"
    assert "p99.9" in report_lines[4]
    assert any(line.startswith("  tick_to_trade ") for line in report_lines)
    assert any(line.startswith("  workers: feed@") for line in report_lines)
