"""Core placement: which core each worker runs on, and how it waits.

Preference: cores the kernel isolated (/sys/devices/system/cpu/isolated and
nohz_full) that this process may use, then this process's affinity mask;
`--cores` or the config overrides both. Workers go round-robin over the chosen
cores in pipeline order, so neighbouring stages land on different cores when
there are at least two. With wait = "auto", a worker busy-spins only if it owns
its core; a worker that shares one blocks on its doorbell (futex), so four
workers run on a 2-core machine without starving each other.
"""

import os
from dataclasses import dataclass, field

from engine.cpulist import parse_cpu_list
from engine.wait_codes import WAIT_CODES

SYSFS_CPU = "/sys/devices/system/cpu"


def isolated_cores(sysfs: str = SYSFS_CPU) -> list[int]:
    found = set()
    for name in ("isolated", "nohz_full"):
        try:
            with open(os.path.join(sysfs, name)) as f:
                found.update(parse_cpu_list(f.read()))
        except (OSError, ValueError):
            pass
    return sorted(found)


@dataclass
class Placement:
    cores: dict[str, int]
    waits: dict[str, str]
    source: str
    shared: bool
    notes: list[str] = field(default_factory=list)

    @property
    def wait_codes(self) -> dict[str, int]:
        return {role: WAIT_CODES[wait] for role, wait in self.waits.items()}

    def summary(self) -> str:
        """One line: what was chosen and why."""
        workers = " ".join(f"{role}@{core}({self.waits[role]})" for role, core in self.cores.items())
        distinct = len(set(self.cores.values()))
        sharing = (f"{len(self.cores)} workers share {distinct} core{'s' if distinct > 1 else ''}"
                   if self.shared else "each worker owns its core")
        line = f"placement: {workers}; cores from {self.source}; {sharing}"
        return line + ("; " + "; ".join(self.notes) if self.notes else "")


def place_workers(roles, requested: list[int] | None, wait: str) -> Placement:
    """Choose a core and a wait strategy per role (requested cores are validated by config)."""
    allowed = sorted(os.sched_getaffinity(0))
    if requested:
        pool, source = list(requested), "--cores/config"
    else:
        isolated = [c for c in isolated_cores() if c in allowed]
        if isolated:
            pool, source = isolated, "isolated cores"
        else:
            # Leave core 0 to the OS and the supervisor when there is room for it.
            pool = allowed[1:] if len(allowed) > len(roles) else allowed
            source = "affinity mask"
    cores = {role: pool[index % len(pool)] for index, role in enumerate(roles)}
    owners: dict[int, int] = {}
    for core in cores.values():
        owners[core] = owners.get(core, 0) + 1
    shared = any(count > 1 for count in owners.values())
    waits, notes = {}, []
    for role, core in cores.items():
        owns_core = owners[core] == 1
        if wait == "auto":
            waits[role] = "spin" if owns_core else "block"
        else:
            waits[role] = wait
            if wait == "spin" and not owns_core:
                notes.append(f"warning: {role} busy-spins on core {core}, which it shares")
    return Placement(cores, waits, source, shared, notes)
