"""check --engine NAME: how the running engine's worker processes sit on this host.

Workers are found by their argv, as the supervisor starts them:
`python -m tickpipe.engine.worker_main --engine NAME --role ROLE ...`. Everything is read
from /proc/PID/status and /proc/PID/stat, so a fake /proc can stand in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tickpipe.tuning.cpulist import format_cpu_list, parse_cpu_list
from tickpipe.tuning.findings import Finding, Status, TuningError, TuningTargets

WORKER_MODULE = "tickpipe.engine.worker_main"
# Involuntary switches are counted over this window: a lifetime total mixes in start-up.
SWITCH_SAMPLE_SECONDS = 0.2
SCHED_POLICIES = {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH",
                  5: "SCHED_IDLE", 6: "SCHED_DEADLINE"}


@dataclass(frozen=True)
class WorkerProcess:
    pid: int
    role: str


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def parse_worker_argv(argv: list[str]) -> tuple[str, str] | None:
    """(engine, role) when argv runs `-m tickpipe.engine.worker_main`, else None."""
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == WORKER_MODULE:
            rest = argv[i + 2:]
            engine = _option(rest, "--engine")
            if engine is not None:
                return engine, _option(rest, "--role") or "?"
    return None


def find_engine_workers(host, engine: str) -> list[WorkerProcess]:
    workers = []
    for entry in host.listdir("/proc"):
        if not entry.isdigit():
            continue
        raw = host.read_bytes(f"/proc/{entry}/cmdline")
        if not raw:
            continue
        argv = raw.decode("utf-8", "replace").rstrip("\0").split("\0")
        found = parse_worker_argv(argv)
        if found and found[0] == engine:
            workers.append(WorkerProcess(int(entry), found[1]))
    return sorted(workers, key=lambda w: w.pid)


def _status_fields(host, pid: int) -> dict[str, str]:
    fields = {}
    for line in (host.read(f"/proc/{pid}/status") or "").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _sched_policy(host, pid: int) -> tuple[str, int]:
    """(policy name, rt priority) from /proc/PID/stat fields 41 and 40."""
    stat = host.read(f"/proc/{pid}/stat") or ""
    after_comm = stat.rpartition(")")[2].split()
    try:   # after_comm[0] is field 3 (state)
        return SCHED_POLICIES.get(int(after_comm[38]), "?"), int(after_comm[37])
    except (IndexError, ValueError):
        return "?", 0


def check_engine_workers(host, engine: str, targets: TuningTargets,
                         sample_seconds: float = SWITCH_SAMPLE_SECONDS) -> list[Finding]:
    _check_engine_name(engine)
    workers = find_engine_workers(host, engine)
    if not workers:
        raise TuningError(f"no worker of engine {engine!r} is running (looked for "
                          f"'-m {WORKER_MODULE} --engine {engine}' in /proc/*/cmdline)")
    before = {w.pid: _status_fields(host, w.pid) for w in workers}
    time.sleep(sample_seconds)
    isolated = set(parse_cpu_list(host.read("/sys/devices/system/cpu/isolated") or ""))
    affinities = {w.pid: parse_cpu_list(before[w.pid].get("Cpus_allowed_list", "")) for w in workers}
    findings = []
    for worker in workers:
        status = before[worker.pid]
        after = _status_fields(host, worker.pid)
        label = f"{worker.role} (pid {worker.pid})"
        findings += [
            _affinity(label, worker, affinities, targets),
            _scheduling(host, label, worker, affinities[worker.pid], isolated),
            _locked_memory(label, status),
            _involuntary_switches(label, status, after, sample_seconds),
        ]
    return findings


def _check_engine_name(engine: str) -> None:
    """The same rule and words as every other command that takes an engine name."""
    from tickpipe.engine.segment import SegmentError, check_engine_name

    try:
        check_engine_name(engine)
    except SegmentError as err:
        raise TuningError(str(err)) from None


def _affinity(label, worker, affinities, targets) -> Finding:
    cpus = affinities[worker.pid]
    shared = [pid for pid, other in affinities.items() if pid != worker.pid and set(other) & set(cpus)]
    why = "a worker that owns one core keeps its caches warm and never waits for another task"
    current = format_cpu_list(cpus) or "?"
    if len(cpus) == 1 and cpus[0] in targets.worker_cores and not shared:
        status = Status.OK
    else:
        status = Status.DIFFERS
    note = f"shares its core with pid {', '.join(map(str, shared))}" if shared else ""
    return Finding(f"{label} affinity", current, "one worker core of its own", status, why, note=note)


def _scheduling(host, label, worker, cpus, isolated) -> Finding:
    policy, priority = _sched_policy(host, worker.pid)
    current = f"{policy} {priority}" if policy in ("SCHED_FIFO", "SCHED_RR") else policy
    # SCHED_OTHER is fine on an isolated core (nothing else is there); elsewhere any
    # runnable task shares the core with the hot loop.
    ok = policy in ("SCHED_FIFO", "SCHED_RR") or (cpus and set(cpus) <= isolated)
    return Finding(f"{label} scheduling", current, "SCHED_FIFO, or SCHED_OTHER on an isolated core",
                   Status.OK if ok else Status.DIFFERS,
                   "under SCHED_OTHER on a shared core any runnable task gets time slices of the worker's core")


def _locked_memory(label, status) -> Finding:
    locked = status.get("VmLck", "?")
    fields = locked.split()
    ok = bool(fields) and fields[0].isdigit() and int(fields[0]) > 0
    return Finding(f"{label} locked memory", f"VmLck {locked}", "> 0 kB (mlockall)",
                   Status.OK if ok else Status.DIFFERS,
                   "unlocked pages can be reclaimed or swapped and fault back in on the hot path "
                   "(hugetlbfs pages are never swapped and do not count in VmLck)")


def _involuntary_switches(label, before, after, seconds) -> Finding:
    try:
        first = int(before["nonvoluntary_ctxt_switches"])
        last = int(after["nonvoluntary_ctxt_switches"])
    except (KeyError, ValueError):
        return Finding(f"{label} involuntary switches", "?", "0", Status.UNSUPPORTED,
                       "a preempted worker stops for the whole time slice of another task",
                       note="the process exited while being sampled")
    return Finding(f"{label} involuntary switches", f"{last - first} in {seconds:g} s ({last} total)", "0",
                   Status.OK if last == first else Status.DIFFERS,
                   "a preempted worker stops for the whole time slice of another task")
