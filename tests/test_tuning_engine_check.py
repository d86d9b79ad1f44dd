"""check --engine NAME: finding a running engine's workers and judging how they sit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tuning_fakes import FakeKernelHost, build_fake_host_tree
from tickpipe.tuning.cli import TuneEnvironment, tune
from tickpipe.tuning.engine_check import parse_worker_argv
from tickpipe.tuning.host import Host


def run_check(host, *args):
    return CliRunner().invoke(tune, ["check", *args], obj=TuneEnvironment(host, running_as_root=False))


@pytest.fixture
def dummy_worker(tmp_path):
    """A real process whose argv looks like a worker of engine 'tunetest-<pid>'."""
    script = tmp_path / "sleeper.py"
    script.write_text("import sys, time\nprint('up', flush=True)\ntime.sleep(30)\n")
    engine = f"tunetest-{id(tmp_path)}"
    proc = subprocess.Popen([sys.executable, str(script), "-m", "tickpipe.engine.worker_main",
                             "--engine", engine, "--role", "feed"], stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()   # argv is in /proc once the script runs
        yield engine, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_check_engine_when_worker_running_then_reports_its_rows(dummy_worker):
    engine, pid = dummy_worker
    result = run_check(Host("/"), "--engine", engine, "--json")
    assert result.exit_code in (0, 1), result.output
    rows = {row["item"]: row for row in json.loads(result.stdout)["engine_workers"]}
    label = f"feed (pid {pid})"
    assert set(rows) == {f"{label} affinity", f"{label} scheduling", f"{label} locked memory",
                         f"{label} involuntary switches"}
    assert rows[f"{label} scheduling"]["current"] == "SCHED_OTHER"
    assert rows[f"{label} locked memory"]["current"] == "VmLck 0 kB"
    assert rows[f"{label} locked memory"]["status"] == "differs"


def test_check_engine_when_no_worker_running_then_one_line_and_exit_2():
    result = run_check(Host("/"), "--engine", "no-such-engine-xyz")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: no worker of engine 'no-such-engine-xyz' is running (looked "
                                     "for '-m tickpipe.engine.worker_main --engine no-such-engine-xyz' in /proc/*/cmdline)")


@pytest.mark.parametrize("name", ["../x", "Bad Name", "a" * 32])
def test_check_engine_when_name_is_bad_then_the_same_bad_engine_name_line_and_exit_2(name):
    result = run_check(Host("/"), "--engine", name)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: bad engine name {name!r}: use 1-31 characters of a-z, "
                                     "0-9, '-' and '_', starting with a letter or digit")


def _fake_worker(root, pid, role, cpus, policy, vmlck, switches):
    proc = root / f"proc/{pid}"
    proc.mkdir(parents=True)
    (proc / "cmdline").write_bytes(b"\0".join([b"python", b"-m", b"tickpipe.engine.worker_main", b"--engine",
                                               b"e1", b"--role", role.encode(), b""]))
    (proc / "status").write_text(f"Name:\tpython\nVmLck:\t{vmlck} kB\nCpus_allowed_list:\t{cpus}\n"
                                 f"voluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t{switches}\n")
    fields = ["S"] + ["0"] * 36 + ["10", str(policy)] + ["0"] * 5   # fields 3..: 40 = rt prio, 41 = policy
    (proc / "stat").write_text(f"{pid} (python) " + " ".join(fields) + "\n")


def test_check_engine_when_workers_pinned_fifo_and_locked_then_ok(tmp_path):
    root = build_fake_host_tree(tmp_path / "host")
    _fake_worker(root, 101, "feed", "1", 1, 2048, 3)
    _fake_worker(root, 102, "strategy", "2", 1, 2048, 3)
    result = run_check(FakeKernelHost(root), "--engine", "e1", "--json")
    rows = json.loads(result.stdout)["engine_workers"]
    assert len(rows) == 8
    assert {row["status"] for row in rows} == {"ok"}
    assert rows[1]["current"] == "SCHED_FIFO 10"
    assert rows[3]["current"] == "0 in 0.2 s (3 total)"


def test_check_engine_when_workers_share_a_core_then_affinity_differs(tmp_path):
    root = build_fake_host_tree(tmp_path / "host")
    _fake_worker(root, 101, "feed", "1", 0, 0, 0)
    _fake_worker(root, 102, "risk", "1", 0, 0, 0)
    _fake_worker(root, 103, "gateway", "0-3", 0, 0, 0)
    rows = {r["item"]: r for r in json.loads(run_check(FakeKernelHost(root), "--engine", "e1", "--json").stdout)["engine_workers"]}
    assert rows["feed (pid 101) affinity"]["status"] == "differs"
    assert "shares its core with pid 102" in rows["feed (pid 101) affinity"]["note"]
    assert rows["gateway (pid 103) affinity"]["status"] == "differs"
    assert rows["gateway (pid 103) scheduling"]["status"] == "differs"


def test_check_engine_on_an_isolated_core_accepts_sched_other(tmp_path):
    root = build_fake_host_tree(tmp_path / "host")
    (root / "sys/devices/system/cpu/isolated").write_text("1-3\n")
    _fake_worker(root, 101, "feed", "1", 0, 4, 0)
    rows = json.loads(run_check(FakeKernelHost(root), "--engine", "e1", "--json").stdout)["engine_workers"]
    assert rows[1]["status"] == "ok"


@pytest.mark.parametrize("argv, expected", [
    (["python", "-m", "tickpipe.engine.worker_main", "--engine", "e1", "--role", "feed"], ("e1", "feed")),
    (["/usr/bin/python3", "x.py", "-m", "tickpipe.engine.worker_main", "--engine=e2", "--role=risk"], ("e2", "risk")),
    (["python", "-m", "tickpipe.engine.worker_main", "--role", "feed"], None),
    (["python", "-m", "tickpipe.engine.supervisor", "--engine", "e1"], None),
    (["python", "tickpipe.engine.worker_main", "--engine", "e1"], None),
])
def test_worker_argv_is_recognised_only_with_module_and_engine(argv, expected):
    assert parse_worker_argv(argv) == expected
