"""Process identity from /proc: a pid plus its start time names one process.

A pid alone is not an owner: pids are reused. The start time (field 22 of
/proc/PID/stat, clock ticks since boot) tells a reused pid from the original.
"""

import os


def process_start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None if no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and ')': split after the last ')'.
    fields_after_comm = stat[stat.rindex(b")") + 2:].split()
    return int(fields_after_comm[19])  # field 22 overall


def is_alive(pid: int, start_ticks: int) -> bool:
    """True when `pid` runs and is the same process that started at `start_ticks`."""
    if pid <= 0:
        return False
    ticks = process_start_ticks(pid)
    return ticks is not None and ticks == start_ticks


def own_identity() -> tuple[int, int]:
    pid = os.getpid()
    return pid, process_start_ticks(pid)
