"""Process identity from /proc: a pid plus its start time names one process.

A pid alone is not an owner: pids are reused. The start time (field 22 of
/proc/PID/stat, clock ticks since boot) tells a reused pid from the original.
A zombie (state Z: it has exited, its parent has not reaped it yet) keeps its
pid and start time but runs no code and holds no mapping, so it is dead: an
engine whose supervisor is a zombie has no owner.
"""

import os

# States of /proc/PID/stat field 3 of a process that has exited: zombie, and dead
# (X, seen only for an instant while it is being reaped).
EXITED_STATES = frozenset(b"ZX")


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 (the state) on, or None if no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and ')': split after the last ')'.
    return stat[stat.rindex(b")") + 2:].split()


def process_start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None if no such process."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])  # field 22 overall


def is_alive(pid: int, start_ticks: int) -> bool:
    """True when `pid` runs, is no zombie, and is the process that started at `start_ticks`."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is None or fields[0][0] in EXITED_STATES:
        return False
    return int(fields[19]) == start_ticks


def own_identity() -> tuple[int, int]:
    pid = os.getpid()
    return pid, process_start_ticks(pid)
