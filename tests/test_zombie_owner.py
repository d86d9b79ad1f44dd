"""An engine whose supervisor exited but was not reaped (a zombie) is dead: `ls` says so
and shows its state as dead, `inspect` reads it post-mortem, and `cleanup` and a new run
of the same name take its segment back.

The zombie is real: a child process makes an engine-shaped segment (state "running"),
exits without unlinking it, and this test process, its parent, does not reap it until
the test ends.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from tickpipe.engine.cleanup import DEAD, list_segments
from tickpipe.engine.procinfo import is_alive, process_start_ticks
from tickpipe.engine.segment import find_segment
from tickpipe.engine.supervisor import reclaim_leftover
from test_inspect_support import REPO, invoke, invoke_ok

# Makes an engine-shaped segment named argv[1] that says "running", prints its own
# (pid, start ticks), and exits without unlinking it: what a SIGKILLed supervisor leaves.
_MAKE_SEGMENT_AND_EXIT = """
import json, sys
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.procinfo import own_identity
from tickpipe.engine.segment import create_segment
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_RUNNING
config = load_config()
segment = create_segment(sys.argv[1], section_specs(config), use_hugetlbfs=False)
initialise(segment, config, place_workers(PIPELINE, None, "block"))
segment.view("control", CONTROL_DTYPE)[0]["engine_state"] = ENGINE_RUNNING
segment.mark_ready()
print(json.dumps(own_identity()), flush=True)
"""


def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    return stat[stat.rindex(b")") + 2:].split()[0].decode()


def _wait_until_zombie(pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _proc_state(pid) != "Z":
        assert time.monotonic() < deadline, f"pid {pid} did not become a zombie: {_proc_state(pid)}"
        time.sleep(0.01)


@pytest.fixture
def zombie_engine(segments):
    """(name, pid, start ticks) of a segment whose owner is an unreaped zombie."""
    name = segments.name()  # unlinked at the end even if a test fails
    # Popen reaps its child only on poll()/wait(): until then the exited child is a zombie.
    proc = subprocess.Popen([sys.executable, "-c", _MAKE_SEGMENT_AND_EXIT, name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        pid, start_ticks = json.loads(line)
        _wait_until_zombie(pid)
        yield name, pid, start_ticks
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_is_alive_when_owner_is_an_unreaped_zombie_then_false(zombie_engine):
    _, pid, start_ticks = zombie_engine
    assert process_start_ticks(pid) == start_ticks  # the pid and start time still match...
    assert is_alive(pid, start_ticks) is False      # ...but the process runs no more


def test_is_alive_when_process_runs_then_true_and_a_wrong_start_time_is_not_it():
    pid = os.getpid()
    assert is_alive(pid, process_start_ticks(pid)) is True
    assert is_alive(pid, process_start_ticks(pid) + 1) is False


def test_ls_when_owner_is_a_zombie_then_dead_with_state_dead_and_last_state_running(zombie_engine):
    name, pid, _ = zombie_engine
    [info] = [info for info in list_segments([find_segment(name)])]
    assert (info.alive, info.state, info.recorded_state) == (False, DEAD, "running")
    row = next(row for row in json.loads(invoke_ok("ls", "--json")) if row["name"] == name)
    assert row["alive"] is False and row["state"] == "dead" and row["recorded_state"] == "running"
    line = next(line for line in invoke_ok("ls").splitlines() if line.startswith(name + " "))
    assert "DEAD" in line and " dead " in line and "last state running" in line
    assert " running " not in line.replace("last state running", "")


def test_inspect_when_owner_is_a_zombie_then_post_mortem(zombie_engine):
    name, _, _ = zombie_engine
    data = json.loads(invoke_ok("inspect", name, "--json"))
    assert data["engine"]["alive"] is False and data["engine"]["rate_basis"] is None
    out = invoke_ok("inspect", name)
    assert "POST-MORTEM" in out and f"engine {name}: dead (last state running)" in out


def test_halt_when_owner_is_a_zombie_then_refuses_as_not_running(zombie_engine):
    name, _, _ = zombie_engine
    result = invoke("halt", name)
    assert result.exit_code == 1 and "is not running" in result.output


def test_cleanup_when_owner_is_a_zombie_then_removes_its_segment(zombie_engine):
    name, pid, _ = zombie_engine
    said = invoke_ok("cleanup", name)
    assert f"removed: owner pid {pid} is gone" in said
    assert not os.path.lexists(f"/dev/shm/tickpipe.{name}")


def test_new_run_when_previous_owner_is_a_zombie_then_reclaims_the_name(zombie_engine):
    name, pid, _ = zombie_engine
    # What `tickpipe run --name NAME` does first (engine/supervisor.py).
    assert reclaim_leftover(name) == (f"reclaimed the segment of a dead engine {name!r} "
                                      f"(owner pid {pid} is gone)")
    assert not os.path.lexists(f"/dev/shm/tickpipe.{name}")
