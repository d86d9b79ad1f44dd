"""The supervisor's lifecycle table, its restart policy and leftover reclaiming, without processes.

The restart policy runs against fake worker processes over a real (small)
segment, so each death, restart and give-up is one call of the supervisor's
worker check; tests/test_engine_run.py does the same with real processes.
"""

import os
import time

import pytest

from fake_workers import kill, running_supervisor

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.engine.lifecycle import (
    DRAINING, FAILED, FAILING, FINAL_STATES, INIT, RUNNING, SHM_CODES, STOPPED, TRANSITIONS,
    Lifecycle, LifecycleError,
)
from tickpipe.engine.supervisor import EngineError, reclaim_leftover
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_DRAINING, ENGINE_RUNNING
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_FAILED, WORKER_RUNNING, WORKER_STOPPED

STATES = {state for state, _ in TRANSITIONS} | set(TRANSITIONS.values())


def reachable_from(start):
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for (source, _), target in TRANSITIONS.items():
            if source == state and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_transitions_when_walked_from_init_then_every_one_is_reachable():
    reachable = reachable_from(INIT)
    assert {source for source, _ in TRANSITIONS} <= reachable
    assert reachable == STATES


def test_transitions_when_in_any_state_then_a_final_state_can_still_be_reached():
    for state in STATES:
        assert reachable_from(state) & set(FINAL_STATES), state


def test_transitions_when_final_then_there_is_no_way_out():
    assert not [key for key in TRANSITIONS if key[0] in FINAL_STATES]


def test_transitions_when_the_engine_gave_up_then_it_can_only_end_failed():
    assert reachable_from(FAILING) == {FAILING, FAILED}


def test_shm_codes_when_listed_then_every_state_has_one():
    assert set(SHM_CODES) == STATES
    assert SHM_CODES[FAILING] == SHM_CODES[DRAINING]  # tools see a failing engine draining


def test_fire_when_the_table_has_no_such_move_then_lifecycle_error_names_state_and_trigger():
    lifecycle = Lifecycle()
    with pytest.raises(LifecycleError, match="no transition from 'init' on 'all_ready'"):
        lifecycle.fire("all_ready")
    assert lifecycle.state == INIT and lifecycle.history == []


def test_fire_when_a_final_state_gets_a_trigger_then_lifecycle_error():
    lifecycle = Lifecycle()
    for trigger in ("spawn", "spawned", "stop_requested"):
        lifecycle.fire(trigger)
    assert lifecycle.state == STOPPED
    with pytest.raises(LifecycleError):
        lifecycle.fire("spawn")


def test_fire_when_a_run_ends_by_time_then_history_and_callback_see_every_step():
    changes = []
    lifecycle = Lifecycle(lambda old, trigger, new: changes.append((old, trigger, new)))
    for trigger in ("spawn", "spawned", "all_ready", "worker_restarted", "time_up", "drained"):
        lifecycle.fire(trigger)
    assert lifecycle.state == STOPPED
    assert changes == lifecycle.history
    assert [step[1] for step in changes] == ["spawn", "spawned", "all_ready", "worker_restarted",
                                              "time_up", "drained"]
    assert changes[2] == ("warming", "all_ready", RUNNING)


# ---- the supervisor's restart policy, with fake worker processes -----------------

@pytest.fixture
def supervisor(segments):
    """make(**engine) -> a RUNNING Supervisor over a real segment, workers faked, spawns recorded."""

    return lambda **engine: running_supervisor(segments, **engine)


def row(sup, role):
    return sup.segment.view("workers", WORKER_DTYPE)[PIPELINE.index(role)]


def engine_state(sup):
    return int(sup.segment.view("control", CONTROL_DTYPE)[0]["engine_state"])


def test_supervisor_when_the_lifecycle_moves_then_the_control_block_shows_the_state(supervisor):
    sup = supervisor()
    assert engine_state(sup) == ENGINE_RUNNING
    sup.lifecycle.fire("time_up")
    assert engine_state(sup) == ENGINE_DRAINING


def test_check_workers_when_a_worker_dies_then_it_is_restarted_until_the_intensity_limit(
        supervisor):
    sup = supervisor(restart="one", max_restarts=2, restart_window_s=60.0)
    for restarts in (1, 2):
        kill(sup, "risk")
        assert sup.lifecycle.state == RUNNING
        assert sup.spawned == ["risk"] * restarts
        assert int(row(sup, "risk")["restarts"]) == restarts
    assert "risk died (signal 9); restarting it (restart 2)" in sup.said
    kill(sup, "risk", returncode=3)
    assert sup.lifecycle.state == FAILING
    assert sup.spawned == ["risk", "risk"]
    assert "risk" not in sup.procs
    assert sup.notes[-1] == ("risk died (exit code 3); 2 restarts in the last 60 s reached the "
                             "limit: stopping all")
    assert int(row(sup, "risk")["state"]) == WORKER_FAILED
    assert engine_state(sup) == ENGINE_DRAINING


def test_check_workers_when_restarts_leave_the_window_then_a_new_death_restarts_again(supervisor):
    sup = supervisor(restart="one", max_restarts=1, restart_window_s=0.001)
    kill(sup, "gateway")
    time.sleep(0.01)
    kill(sup, "gateway")
    assert sup.lifecycle.state == RUNNING
    assert sup.spawned == ["gateway", "gateway"]


def test_check_workers_when_policy_is_fail_fast_then_the_first_death_gives_up(supervisor):
    sup = supervisor(restart="fail-fast")
    kill(sup, "strategy")
    assert sup.lifecycle.state == FAILING and sup.spawned == []
    assert sup.notes == ["strategy mean_reversion died (signal 9); restart policy fail-fast: "
                         "stopping all"]


def test_check_workers_when_the_feed_left_cleanly_then_it_is_not_a_death(supervisor):
    sup = supervisor()
    row(sup, "feed")["state"] = WORKER_STOPPED
    kill(sup, "feed", returncode=0)
    assert sup.lifecycle.state == RUNNING and sup.spawned == [] and sup.notes == []


def test_check_workers_when_a_running_worker_misses_its_heartbeat_then_it_is_killed_and_restarted(
        supervisor):
    sup = supervisor(heartbeat_timeout_s=1.0)
    row(sup, "risk")["state"] = WORKER_RUNNING
    row(sup, "risk")["heartbeat_ns"] = lib.tp_monotonic_ns() - 3_000_000_000
    victim = sup.procs["risk"]
    sup._check_workers()
    assert victim.returncode == -9
    assert sup.spawned == ["risk"]
    assert any(line.startswith(f"risk (pid {victim.pid}) missed its heartbeat") for line in sup.said)
    # the report's note says it too (with --json no line is printed): not a kill from outside
    assert any(note.startswith("risk restarted after signal 9: killed by the supervisor, its "
                               "heartbeat missed for") for note in sup.notes), sup.notes


def test_check_workers_when_a_worker_dies_while_draining_then_only_that_worker_is_given_up(
        supervisor):
    sup = supervisor(restart="fail-fast")
    sup.lifecycle.fire("time_up")
    row(sup, "feed")["state"] = WORKER_STOPPED
    sup.procs["feed"].returncode = 0
    kill(sup, "risk")
    sup._check_workers()
    assert sup.lifecycle.state == FAILING
    assert "risk" not in sup.procs and "feed" in sup.procs
    assert len([note for note in sup.notes if note.startswith("risk died")]) == 1


# ---- leftover segments ------------------------------------------------------------

def test_reclaim_leftover_when_no_segment_has_the_name_then_nothing_happens(segments):
    assert reclaim_leftover(segments.name()) is None


def test_reclaim_leftover_when_the_owner_pid_was_reused_then_the_segment_is_reclaimed(segments):
    segment = segments.create()
    segment.header["owner_start_ticks"] += 1  # our pid, another process's start time
    note = reclaim_leftover(segment.name)
    assert note == (f"reclaimed the segment of a dead engine {segment.name!r} "
                    f"(owner pid {os.getpid()} is gone)")
    assert not os.path.exists(segment.path)


def test_reclaim_leftover_when_the_file_is_not_a_tickpipe_segment_then_it_is_refused(segments):
    name = segments.name()
    with open(segments.path(name), "wb") as f:
        f.write(b"not a segment")
    with pytest.raises(EngineError, match="is not a tickpipe segment; remove it or pick another"):
        reclaim_leftover(name)
    assert os.path.exists(segments.path(name))
