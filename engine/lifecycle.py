"""The supervisor's lifecycle as an explicit (state, trigger) -> state table.

    init --spawn--> starting --spawned--> warming --all_ready--> running
    warming --worker_died | ready_timeout--> failed;  warming --stop_requested--> stopped
    running --stop_requested | time_up | data_ended--> draining --drained--> stopped
    draining --drain_timeout--> drain-timed-out
    draining --books_wrong--> inconsistent  (drained, but engine/book_checks.py found the
                                              engine's own books not adding up)
    running --worker_restarted--> running;  running --give_up--> failing
    draining --worker_restarted--> draining;  failing --worker_restarted--> failing
    failing --drained | drain_timeout | drain_stranded--> failed;  draining --give_up--> failing

`give_up` is the restart policy saying no: fail-fast on any death, or the restart
intensity exceeded. The policy is the same whether the engine runs or stops: a
worker killed during the drain is restarted (`worker_restarted` in `draining` and
`failing`) and the drain goes on once it has recovered; the drain calls nothing
drained while a restarted worker warms up, and its warm-up does not count against
drain_timeout_s (engine/supervisor.py `_wait_for_drain`). A drain that runs out of time
is not a clean stop, so it has a final state of its own. `drain_stranded`: the
only rings left holding records are read by a worker that was given up (or by
one waiting for room in such a ring), so nothing more can drain. A trigger the table lacks is a bug: LifecycleError.
"""

from tickpipe.shm_layouts.control_block import (
    ENGINE_DRAIN_TIMED_OUT, ENGINE_DRAINING, ENGINE_FAILED, ENGINE_INCONSISTENT, ENGINE_INIT,
    ENGINE_RUNNING,
    ENGINE_STARTING, ENGINE_STOPPED, ENGINE_WARMING,
)

INIT, STARTING, WARMING, RUNNING, DRAINING, FAILING, STOPPED, FAILED, DRAIN_TIMED_OUT = (
    "init", "starting", "warming", "running", "draining", "failing", "stopped", "failed",
    "drain-timed-out")
INCONSISTENT = "inconsistent"

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
    (RUNNING, "data_ended"): DRAINING,  # a replayed data file sent to its end (workers/feed/agent.py)
    (DRAINING, "give_up"): FAILING,
    (DRAINING, "worker_restarted"): DRAINING,
    (DRAINING, "stop_requested"): DRAINING,
    (DRAINING, "drained"): STOPPED,
    (DRAINING, "books_wrong"): INCONSISTENT,  # a clean drain whose own books do not add up
    (DRAINING, "drain_timeout"): DRAIN_TIMED_OUT,
    (DRAINING, "drain_stranded"): FAILED,  # a retired strategy's rings (supervisor._retire)
    (FAILING, "stop_requested"): FAILING,
    (FAILING, "give_up"): FAILING,
    (FAILING, "worker_restarted"): FAILING,
    (FAILING, "drained"): FAILED,
    (FAILING, "drain_timeout"): FAILED,
    (FAILING, "drain_stranded"): FAILED,
}

# What the control block says for each state (tools read it).
SHM_CODES = {INIT: ENGINE_INIT, STARTING: ENGINE_STARTING, WARMING: ENGINE_WARMING,
             RUNNING: ENGINE_RUNNING, DRAINING: ENGINE_DRAINING, FAILING: ENGINE_DRAINING,
             STOPPED: ENGINE_STOPPED, FAILED: ENGINE_FAILED,
             DRAIN_TIMED_OUT: ENGINE_DRAIN_TIMED_OUT, INCONSISTENT: ENGINE_INCONSISTENT}
FINAL_STATES = (STOPPED, FAILED, DRAIN_TIMED_OUT, INCONSISTENT)


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
