"""Core placement: which core each worker runs on, and how it waits.

Preference: cores the kernel isolated (/sys/devices/system/cpu/isolated and
nohz_full) that this process may use, then this process's affinity mask;
`--cores` or the config overrides both. Workers go round-robin over the chosen
cores in pipeline order, so neighbouring stages land on different cores when
there are at least two. With wait = "auto", a worker busy-spins only if it owns
its core; a worker that shares one blocks on its doorbell (futex), so four
workers run on a 2-core machine without starving each other.

A host with fewer cores than workers, automatic cores and wait = "auto" gets
the combination `tickpipe bench placement` measured best on a 2-core VM
(bench/RESULTS.md, "Placement on a host with fewer cores than workers"): at
offered rates up to 100 k ticks/s every worker on one core, yielding (p99 21 us
against 205 us spread and blocking: a cross-CPU futex wake is a VM exit, a
same-core hand-over a context switch); above that, one core, blocking (at 1 M
ticks/s); flat out, spread over the cores, yielding (the most ticks/s).
"""

import os
from dataclasses import dataclass, field

from tickpipe.engine.cpulist import parse_cpu_list
from tickpipe.engine.wait_codes import WAIT_CODES

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

    def summary(self, label=str) -> str:
        """One line: what was chosen and why; label(worker) names a worker (the
        supervisor's: `strategy <name>` for a strategy's)."""
        workers = " ".join(f"{label(role)}@{core}({self.waits[role]})"
                           for role, core in self.cores.items())
        distinct = len(set(self.cores.values()))
        sharing = (f"{len(self.cores)} workers share {distinct} core{'s' if distinct > 1 else ''}"
                   if self.shared else "each worker owns its core")
        line = f"placement: {workers}; cores from {self.source}; {sharing}"
        return line + ("; " + "; ".join(self.notes) if self.notes else "")


# Oversubscribed hosts (fewer cores than workers), automatic cores, wait = "auto":
# offered rates up to this many ticks/s put every worker on one core, yielding.
ONE_CORE_YIELD_MAX_RATE = 100_000


def oversubscribed_choice(pool: list[int], rate: int) -> tuple[list[int], str, str]:
    """(cores to use, wait strategy, why) for a host with fewer cores than workers,
    as measured by `tickpipe bench placement` (see the module docstring)."""
    if rate == 0:
        return pool, "yield", ("flat out, spread and yielding moved the most ticks/s "
                               "(tickpipe bench placement)")
    if rate <= ONE_CORE_YIELD_MAX_RATE:
        return pool[-1:], "yield", (f"at {rate:,} ticks/s one core, yielding, had the lowest "
                                    "tick-to-trade p99 (tickpipe bench placement)")
    return pool[-1:], "block", (f"at {rate:,} ticks/s one core, blocking, had the lowest "
                                "tick-to-trade p99 (tickpipe bench placement)")


def place_apart(placement: Placement, worker: str) -> None:
    """A background worker (a declared role's, engine/role.py: the journal) joins the
    placement without taking a core of the pipeline's round-robin: a core of this
    process's mask that no pipeline worker uses when there is one (the core left to
    the OS and the supervisor: at 100 k ticks/s the journal on the pipeline's one core
    put 1.5x on tick-to-trade p50, `tickpipe bench journal`), else the one fewest
    workers share. Its wait is its own loop's sleep when idle (it has no doorbell)."""
    used = list(placement.cores.values())
    free = [core for core in sorted(os.sched_getaffinity(0)) if core not in used]
    placement.cores[worker] = free[-1] if free else min(sorted(set(used)), key=used.count)
    placement.waits[worker] = "backoff"


def place_workers(roles, requested: list[int] | None, wait: str, rate: int | None = None) -> Placement:
    """Choose a core and a wait strategy per role (requested cores are validated by config).

    rate: the feed's offered ticks/s (0: flat out); with automatic cores and
    wait = "auto" on a host with fewer cores than workers it picks the measured
    best combination (oversubscribed_choice). None: keep the round-robin.
    """
    allowed = sorted(os.sched_getaffinity(0))
    notes = []
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
        if wait == "auto" and rate is not None and len(pool) < len(roles):
            available = len(pool)
            pool, wait, why = oversubscribed_choice(pool, rate)
            notes.append(f"auto: {len(roles)} workers on {available} cores: {wait}; {why}")
    cores = {role: pool[index % len(pool)] for index, role in enumerate(roles)}
    owners: dict[int, int] = {}
    for core in cores.values():
        owners[core] = owners.get(core, 0) + 1
    shared = any(count > 1 for count in owners.values())
    waits = {}
    for role, core in cores.items():
        owns_core = owners[core] == 1
        if wait == "auto":
            waits[role] = "spin" if owns_core else "block"
        else:
            waits[role] = wait
            if wait == "spin" and not owns_core:
                notes.append(f"warning: {role} busy-spins on core {core}, which it shares")
    return Placement(cores, waits, source, shared, notes)
