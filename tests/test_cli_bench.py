"""`tickpipe bench ...` through click's CliRunner: JSON rows, and one-line errors for bad input.

The benches run at --smoke, their smallest run that exercises every path."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from click.testing import CliRunner

from tickpipe.cli.main import tickpipe

LATENCY_KEYS = ("p50_ns", "p99_ns", "p999_ns", "max_ns")


def run(*args):
    return CliRunner().invoke(tickpipe, ["bench", *args], catch_exceptions=False)


def rows_by_name(report):
    return {row["name"]: row for row in report["results"]}


@pytest.mark.slow
def test_bench_ringrtt_smoke_json_should_report_percentiles_for_every_wait_and_the_c_references(two_cores):
    result = run("ringrtt", "--smoke", "--no-peers", "--json", "--cores", f"{two_cores[0]},{two_cores[1]}")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = rows_by_name(report)
    for wait in ("spin", "yield", "backoff", "block"):
        row = rows[f"tickpipe-{wait}"]
        assert all(isinstance(row[key], int) and row[key] > 0 for key in LATENCY_KEYS), row
        assert row["p50_ns"] <= row["p99_ns"] <= row["p999_ns"] <= row["max_ns"]
        assert row["samples"] == (2 if wait in ("backoff", "block") else 20)  # --smoke: 20 trips
    for native in ("c-cacheline", "c-ring", "c-ring-index"):
        c_row = rows[native]
        assert c_row.get("skipped") or all(c_row[key] > 0 for key in LATENCY_KEYS), c_row
    assert report["machine"]["pinning"] == list(two_cores)
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]


@pytest.mark.slow
def test_bench_throughput_smoke_json_should_report_records_per_second_for_single_and_batch():
    result = run("throughput", "--smoke", "--no-peers", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = rows_by_name(report)
    for name in ("tickpipe-single", "tickpipe-batch64"):
        assert rows[name]["records_per_s"] > 0
    for row in report["results"]:
        assert row.get("skipped") or row["records_per_s"] > 0, row
    assert "machine" in report and report["machine"]["page_size"] > 0


@pytest.mark.parametrize("command", ["ringrtt", "throughput"])
@pytest.mark.parametrize("cores, says", [
    ("0,9999", "core 9999 is not available"),
    ("0", "expected 2 core numbers, got 1"),
    ("0,1,2", "expected 2 core numbers, got 3"),
    ("a,b", "expected 2 comma-separated core numbers"),
    ("", "expected 2 comma-separated core numbers"),
])
def test_bench_when_cores_are_bad_then_exit_2_with_one_error_line_and_no_traceback(command, cores, says):
    result = run(command, "--smoke", "--no-peers", "--json", "--cores", cores)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0] and repr(cores) in errors[0], result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""  # nothing that looks like a report


def test_bench_help_should_list_both_benches():
    result = run("--help")
    assert result.exit_code == 0
    assert "ringrtt" in result.output and "throughput" in result.output



@pytest.mark.slow
def test_bench_all_smoke_should_print_every_table_and_write_one_json_with_every_section(tmp_path):
    result = run("all", "--smoke", "--no-peers", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for section in ("ringrtt", "throughput", "pipeline", "risk"):
        assert f"== {section} ==" in result.stdout
    assert "c-ring" in result.stdout and "tickpipe-batch64" in result.stdout
    assert "ns per order" in result.stdout
    report = json.loads((tmp_path / "bench-all.json").read_text())
    assert set(report) == {"ringrtt", "throughput", "pipeline", "risk"}
    for section in report.values():
        assert section["results"] and section["machine"]["cores"] >= 1


def test_bench_all_when_cores_are_bad_then_exit_2_before_running_anything(tmp_path):
    result = run("all", "--smoke", "--no-peers", "--cores", "0,9999", "--out", str(tmp_path))
    assert result.exit_code == 2 and "core 9999 is not available" in result.output
    assert not (tmp_path / "bench-all.json").exists()


@pytest.mark.slow
def test_bench_ringrtt_when_both_sides_share_one_core_then_spin_is_skipped_and_the_rest_runs():
    result = run("ringrtt", "--smoke", "--no-peers", "--json", "--cores", "0,0")
    assert result.exit_code == 0, result.output
    rows = rows_by_name(json.loads(result.stdout))
    assert "both sides on core 0" in rows["tickpipe-spin"]["skipped"]
    for wait in ("yield", "backoff", "block"):
        assert rows[f"tickpipe-{wait}"]["p50_ns"] > 0


@pytest.mark.slow
def test_bench_when_terminated_mid_run_then_its_sides_and_segment_are_gone():
    command = [sys.executable, "-m", "tickpipe.cli", "bench", "ringrtt", "--no-peers", "--iterations", "10000000"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prefix = f"tickpipe.bench-{proc.pid}-"
    try:
        deadline = time.monotonic() + 60
        while not any(name.startswith(prefix) for name in os.listdir("/dev/shm")):
            assert proc.poll() is None and time.monotonic() < deadline, "no bench segment appeared"
            time.sleep(0.05)
        while len(sides := psutil.Process(proc.pid).children(recursive=True)) < 2:  # pong, ping
            assert proc.poll() is None and time.monotonic() < deadline, f"sides: {sides}"
            time.sleep(0.01)
        assert len(sides) == 2, sides
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not [name for name in os.listdir("/dev/shm") if name.startswith(prefix)]
    gone, alive = psutil.wait_procs(sides, timeout=10)
    assert not alive


def test_bench_when_run_in_process_then_the_previous_sigterm_handler_is_put_back():
    before = signal.getsignal(signal.SIGTERM)
    result = run("pipeline", "--cores", "x,y")  # the group callback runs, the command fails
    assert result.exit_code == 2
    assert signal.getsignal(signal.SIGTERM) is before


def _wait_engine_running(proc, name, deadline):
    """Until engine `name` (a bench's, in process `proc`) is past its warm-up: running."""
    from tickpipe.engine.segment import SegmentError, attach_segment
    from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_RUNNING
    segment = None
    try:
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "the engine did not run"
            try:
                segment = segment or attach_segment(name, readonly=True)
            except SegmentError:
                pass
            else:
                if int(segment.view("control", CONTROL_DTYPE)[0]["engine_state"]) == ENGINE_RUNNING:
                    return
            time.sleep(0.02)
    finally:
        if segment is not None:
            segment.close()


@pytest.mark.slow
@pytest.mark.parametrize("running", [False, True], ids=["while-warming-up", "while-running"])
def test_bench_pipeline_when_terminated_during_a_rate_then_the_whole_bench_stops(running):
    command = [sys.executable, "-m", "tickpipe.cli", "bench", "pipeline", "--no-peers", "--seconds", "30"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    segment = f"tickpipe.bench-{proc.pid}-pipe"
    try:
        deadline = time.monotonic() + 120
        while segment not in os.listdir("/dev/shm"):
            assert proc.poll() is None and time.monotonic() < deadline, "the engine did not start"
            time.sleep(0.05)
        if running:  # its feed started: a SIGTERM now stops a rate mid-run
            _wait_engine_running(proc, f"bench-{proc.pid}-pipe", deadline)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)  # not the 3 more rates of 30 s each
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert out == ""  # no table made of a run cut short
    assert segment not in os.listdir("/dev/shm")


def test_bench_transports_smoke_measures_both_and_loses_nothing():
    """`tickpipe bench transports --smoke`: ZeroMQ and Zenoh, each against a peer process:
    round trips of 1 and 64 records, and a lossless stream."""
    result = run("transports", "--smoke", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for name in ("zeromq", "zenoh"):
        row = report["transports"][name]
        assert 0 < row["rtt_1"]["p50_us"] <= row["rtt_1"]["p99_us"]
        assert 0 < row["rtt_64"]["p50_us"] <= row["rtt_64"]["p99_us"]
        assert row["received"] == row["sent"] > 0 and row["lost"] == 0
