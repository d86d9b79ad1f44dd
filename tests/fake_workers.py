"""Stand-ins for the supervisor's worker processes, for tests of its policies."""


class FakeProc:
    """What the supervisor uses of a Popen: a pid, poll(), kill(), wait()."""
    next_pid = 4_000_000  # far above any real pid here, so no signal can reach one

    def __init__(self):
        FakeProc.next_pid += 1
        self.pid = FakeProc.next_pid
        self.returncode = None

    def poll(self):
        return self.returncode

    def kill(self):
        self.returncode = -9

    def wait(self, timeout=None):
        return self.returncode


RING_CAPACITY = 64  # the rings of running_supervisor's segment


def running_supervisor(segments, **engine):
    """A RUNNING Supervisor over a real (small) segment, its workers FakeProcs; the lines
    it says are in sup.said, the roles it (re)spawns in sup.spawned."""
    from tickpipe.engine.config import load_config
    from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
    from tickpipe.engine.supervisor import Supervisor

    config = load_config(overrides={"engine": {"ring_capacity": RING_CAPACITY, **engine}})
    said = []
    sup = Supervisor(config, say=said.append)
    sup.segment = segments.create(section_specs(config), ready=False)
    config["engine"]["name"] = sup.segment.name
    initialise(sup.segment, config, sup.placement)
    sup.said, sup.spawned = said, []

    def spawn(role):
        sup.spawned.append(role)
        sup.procs[role] = FakeProc()

    sup._spawn = spawn
    sup.procs = {role: FakeProc() for role in PIPELINE}
    for trigger in ("spawn", "spawned", "all_ready"):
        sup.lifecycle.fire(trigger)
    return sup


def kill(sup, role, returncode=-9):
    """The worker `role` dies with `returncode`; the supervisor notices."""
    sup.procs[role].returncode = returncode
    sup._check_workers()
