"""The supervisor's lifecycle as an explicit (state, trigger) -> state table.

    init --spawn--> starting --spawned--> warming --all_ready--> running
    warming --worker_died | ready_timeout--> failed;  warming --stop_requested--> stopped
    running --stop_requested | time_up--> draining --drained | drain_timeout--> stopped
    running --worker_restarted--> running;  running --give_up--> failing
    failing --drained | drain_timeout--> failed;  draining --give_up--> failing

`give_up` is the restart policy saying no: fail-fast on any death, or the
restart intensity exceeded. A trigger the table lacks is a bug: LifecycleError.
"""

from tickpipe.shm_layouts.control_block import (
    ENGINE_DRAINING, ENGINE_FAILED, ENGINE_INIT, ENGINE_RUNNING, ENGINE_STARTING, ENGINE_STOPPED,
    ENGINE_WARMING,
)

INIT, STARTING, WARMING, RUNNING, DRAINING, FAILING, STOPPED, FAILED = (
    "init", "starting", "warming", "running", "draining", "failing", "stopped", "failed")

TRANSITIONS = {
    (INIT, "spawn"): STARTING,
    (STARTING, "spawned"): WARMING,
    (WARMING, "all_ready"): RUNNING,
    (WARMING, "worker_died"): FAILED,
    (WARMING, "ready_timeout"): FAILED,
    (WARMING, "stop_requested"): STOPPED,
    (RUNNING, "worker_restarted"): RUNNING,
    (RUNNING, "give_up"): FAILING,
    (RUNNING, "stop_requested"): DRAINING,
    (RUNNING, "time_up"): DRAINING,
    (DRAINING, "worker_restarted"): DRAINING,
    (DRAINING, "give_up"): FAILING,
    (DRAINING, "stop_requested"): DRAINING,
    (DRAINING, "drained"): STOPPED,
    (DRAINING, "drain_timeout"): STOPPED,
    (FAILING, "stop_requested"): FAILING,
    (FAILING, "worker_restarted"): FAILING,
    (FAILING, "give_up"): FAILING,
    (FAILING, "drained"): FAILED,
    (FAILING, "drain_timeout"): FAILED,
}

# What the control block says for each state (tools read it).
SHM_CODES = {INIT: ENGINE_INIT, STARTING: ENGINE_STARTING, WARMING: ENGINE_WARMING,
             RUNNING: ENGINE_RUNNING, DRAINING: ENGINE_DRAINING, FAILING: ENGINE_DRAINING,
             STOPPED: ENGINE_STOPPED, FAILED: ENGINE_FAILED}
FINAL_STATES = (STOPPED, FAILED)


class LifecycleError(Exception):
    pass


class Lifecycle:
    def __init__(self, on_change=lambda old, trigger, new: None):
        self.state = INIT
        self.history: list[tuple[str, str, str]] = []
        self._on_change = on_change

    def fire(self, trigger: str) -> str:
        try:
            new = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise LifecycleError(f"no transition from {self.state!r} on {trigger!r}") from None
        self.history.append((self.state, trigger, new))
        old, self.state = self.state, new
        self._on_change(old, trigger, new)
        return new
