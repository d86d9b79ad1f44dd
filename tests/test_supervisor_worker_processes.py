"""Worker processes and their supervisor: tied together by the death signal, and a worker's
failure told in one line with its traceback in a log file.

These start real worker processes (python -m tickpipe.engine.worker_main) over a
real segment; nothing here sleeps to wait, every wait is on a condition with a deadline.
"""

import ast
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.supervisor import Supervisor
from tickpipe.engine.worker_main import (
    EXIT_ORPHANED, describe_exception, failure_summary, report_failure,
)
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_STARTING

WORKER = [sys.executable, "-m", "tickpipe.engine.worker_main"]
DEADLINE_S = 120  # a cold numba cache on a busy 2-core host takes its time


@pytest.fixture
def engine(segments):
    """(name, config) of a real, initialised, ready segment that workers can attach."""
    config = load_config(overrides={"engine": {"ring_capacity": 64}})
    segment = segments.create(section_specs(config), ready=False)
    config["engine"]["name"] = segment.name
    placement = place_workers(PIPELINE, [], config["engine"]["wait"], config["engine"]["rate"])
    initialise(segment, config, placement)
    segment.mark_ready()
    return segment, config


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    """Worker logs go under tmp_path, for this process and the workers it starts."""
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


def worker_args(name, role, supervisor_pid, config_json):
    return ["--engine", name, "--role", role, "--supervisor-pid", str(supervisor_pid),
            "--config-json", config_json]


def wait_for(condition, what, timeout=DEADLINE_S):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def read_line(proc, timeout=DEADLINE_S) -> str:
    """The next line of proc's stdout, or fail after `timeout` instead of hanging."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line in time"
    return proc.stdout.readline()


# ---- the death signal ---------------------------------------------------------------

def test_start_worker_when_its_parent_is_not_the_named_supervisor_then_it_exits_before_attaching():
    not_our_parent = os.getppid()  # alive, but the worker's parent is this process
    proc = subprocess.run(WORKER + worker_args("no-such-engine", "risk", not_our_parent, "{}"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == EXIT_ORPHANED
    assert proc.stderr.strip() == (f"tickpipe risk: supervisor pid {not_our_parent} is gone "
                                   f"(parent is now pid {os.getpid()}): exiting")


HEAVY = ("numpy", "numba", "cffi", "tickpipe.engine._atomics")
IMPORT_SPY = textwrap.dedent(f"""
    import ctypes, signal, sys
    seen = {{}}
    class Spy:
        def find_spec(self, name, path=None, target=None):
            if name in {HEAVY!r} and name not in seen:
                got = ctypes.c_int(-1)
                ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG
                seen[name] = got.value
    sys.meta_path.insert(0, Spy())
    from tickpipe.engine import worker_main
    code = worker_main.main(sys.argv[1:])
    print(seen, code)
""")


def test_start_worker_when_a_heavy_module_is_imported_then_the_death_signal_is_already_sigkill():
    proc = subprocess.run([sys.executable, "-c", IMPORT_SPY]
                          + worker_args("no-such-engine", "gateway", os.getpid(), "{}"),
                          capture_output=True, text=True, timeout=120)
    seen, code = proc.stdout.rsplit(" ", 1)
    seen = ast.literal_eval(seen)  # the dict the spy printed
    assert code.strip() == "1"  # it went on, to fail attaching the missing engine
    assert seen, proc.stderr  # attaching imports numpy at least
    assert set(seen.values()) == {signal.SIGKILL}, seen


SUBREAPER = textwrap.dedent("""
    import ctypes, os, subprocess, sys
    ctypes.CDLL(None).prctl(36, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                            ctypes.c_ulong(0))  # PR_SET_CHILD_SUBREAPER, as tini -s does
    supervisor = subprocess.Popen([sys.executable, "-c", sys.argv[1]] + sys.argv[2:])
    print("supervisor", supervisor.pid, flush=True)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        print("reaped", pid, os.waitstatus_to_exitcode(status), flush=True)
""")
FAKE_SUPERVISOR = textwrap.dedent("""
    import os, subprocess, sys
    command = [sys.executable, "-m", "tickpipe.engine.worker_main"] + sys.argv[1:]
    command += ["--supervisor-pid", str(os.getpid())]
    print("worker", subprocess.Popen(command).pid, flush=True)
    sys.stdin.read()  # until it is killed
""")


@pytest.mark.slow
def test_kill_supervisor_when_a_child_subreaper_adopts_the_worker_then_the_worker_dies_too(engine):
    segment, config = engine
    row = segment.view("workers", WORKER_DTYPE)[PIPELINE.index("strategy")]
    args = ["--engine", segment.name, "--role", "strategy", "--config-json", json.dumps(config)]
    reaper = subprocess.Popen([sys.executable, "-c", SUBREAPER, FAKE_SUPERVISOR, *args],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    worker_pid = None
    try:
        supervisor_pid = int(read_line(reaper).split()[1])
        worker_pid = int(read_line(reaper).split()[1])
        # STARTING is stamped after the death signal and the parent check: past the race.
        wait_for(lambda: int(row["state"]) >= WORKER_STARTING, "the worker to attach")
        os.kill(supervisor_pid, signal.SIGKILL)
        out, _ = reaper.communicate(timeout=60)
    finally:
        if reaper.poll() is None:
            reaper.kill()
            reaper.wait()
    assert f"reaped {supervisor_pid} -9" in out
    assert f"reaped {worker_pid} -9" in out  # adopted by the subreaper, and killed


# ---- a worker's failure: traceback in its log, one line from the supervisor --------------

def raise_here():
    raise ValueError("price band 0 bps\nis too narrow")


def test_report_failure_when_a_worker_raises_then_its_log_holds_the_traceback_mode_0600(
        state_home):
    try:
        raise_here()
    except ValueError as exc:
        path = report_failure("e1", "risk", exc)
        summary = describe_exception(exc)
    assert path == str(state_home / "tickpipe" / "e1" / "risk.log")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    log = open(path).read()
    assert "Traceback (most recent call last)" in log and "in raise_here" in log
    line = raise_here.__code__.co_firstlineno + 1
    assert summary == f"ValueError: price band 0 bps is too narrow, raised at {__file__}:{line}"
    assert failure_summary("e1", "risk", os.getpid()) == f"{summary}, traceback in {path}"


def test_failure_summary_when_the_entry_is_older_than_the_worker_then_it_is_not_blamed(
        state_home):
    try:
        raise_here()
    except ValueError as exc:
        report_failure("e1", "feed", exc)
    assert failure_summary("e1", "feed", os.getpid(), since_unix_s=time.time() + 5) is None
    assert failure_summary("e1", "feed", os.getpid() + 1) is None


def test_report_failure_when_the_state_dir_cannot_be_made_then_the_log_goes_to_a_private_temp_dir(
        tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    try:
        raise_here()
    except ValueError as exc:
        path = report_failure("e2", "gateway", exc)
    own_dir = tmp_path / "tmp" / f"tickpipe-{os.getuid()}"
    assert path == str(own_dir / "e2" / "gateway.log")
    assert stat.S_IMODE(os.stat(own_dir).st_mode) & 0o077 == 0


def test_report_failure_when_another_user_could_write_the_temp_dir_then_it_is_not_used(
        tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"tickpipe-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)  # as if someone else had made it first
    try:
        raise_here()
    except ValueError as exc:
        assert report_failure("e3", "feed", exc) is None
    assert not (planted / "e3").exists()
    err = capsys.readouterr().err
    assert err.startswith("tickpipe feed: ValueError: price band 0 bps is too narrow, raised at ")
    assert "no log written" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_check_workers_when_a_worker_raises_then_one_line_names_exception_file_line_and_log(
        engine, state_home):
    segment, config = engine
    bad_config = '{"engine": '  # the worker attaches, then fails to read its config
    proc = subprocess.Popen(WORKER + worker_args(segment.name, "risk", os.getpid(), bad_config),
                            stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 1
    assert err == ""  # the supervisor tells it, once

    said = []
    sup = Supervisor(config, say=said.append)
    sup.segment = segment
    sup.procs = {"risk": proc}
    sup._spawn = lambda role: None
    for trigger in ("spawn", "spawned", "all_ready"):
        sup.lifecycle.fire(trigger)
    sup._check_workers()
    log = state_home / "tickpipe" / segment.name / "risk.log"
    assert len(said) == 1
    assert said[0].startswith("risk died (exit code 1, JSONDecodeError: Expecting value: ")
    assert ", raised at " in said[0] and "json/decoder.py:" in said[0]
    assert said[0].endswith(f", traceback in {log}); restarting it (restart 1)")
    assert "Traceback (most recent call last)" in log.read_text()
