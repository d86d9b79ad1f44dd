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
