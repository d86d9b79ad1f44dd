"""apply: save every original value to the state file, then make the planned changes.

The plan is the `changes` of every finding with status `differs`, in registry
order. Nothing is written until the state file holding the originals is on disk.
Whether a change took is judged by probing again afterwards, not by the return
code of the write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tickpipe.tuning.findings import Change, FileWrite, Finding, MountHugetlbfs, SetOwner, Status
from tickpipe.tuning.state import TuningState, encode_original, load_state, save_state


@dataclass
class ApplyOutcome:
    done: list[str] = field(default_factory=list)       # one line per change made
    refused: list[str] = field(default_factory=list)    # best-effort writes the kernel refused
    failed: list[str] = field(default_factory=list)     # changes that should have worked
    refused_paths: set[str] = field(default_factory=set)


def planned_changes(findings: list[Finding]) -> list[Change]:
    return [change for finding in findings if finding.status is Status.DIFFERS
            for change in finding.changes]


def _record_originals(host, state: TuningState, changes: list[Change]) -> int:
    recorded = 0
    for change in changes:
        if isinstance(change, FileWrite):
            entry = {"kind": "file", "path": change.path,
                     "original": encode_original(host.read_bytes(change.path))}
            recorded += state.record(entry)
        elif isinstance(change, MountHugetlbfs):
            if not host.is_dir(change.target):
                recorded += state.record({"kind": "mkdir", "path": change.target})
            recorded += state.record({"kind": "mount", "path": change.target, "fstype": "hugetlbfs"})
        elif isinstance(change, SetOwner):
            st = host.stat(change.path)
            recorded += state.record({"kind": "owner", "path": change.path, "uid": st.st_uid,
                                      "gid": st.st_gid, "mode": st.st_mode & 0o7777})
    return recorded


def _perform(host, change: Change) -> str:
    """Make one change; raises OSError with the kernel's refusal."""
    if isinstance(change, FileWrite):
        before = host.read(change.path)
        host.write(change.path, change.value.encode("utf-8", "surrogateescape"))
        if "\n" in change.value.rstrip("\n"):
            return f"wrote {change.path}"
        shown_before = "(none)" if before is None else before
        return f"{change.path}: {shown_before} -> {change.value}"
    if isinstance(change, MountHugetlbfs):
        target = host.path(change.target)
        target.mkdir(parents=True, exist_ok=True)
        host.syscalls.mount_hugetlbfs(target, change.options)
        return f"mounted hugetlbfs on {change.target} ({change.options})"
    if isinstance(change, SetOwner):
        target = host.path(change.path)
        os.chown(target, change.uid, change.gid)
        os.chmod(target, change.mode)
        return f"{change.path}: owner {change.uid}:{change.gid}, mode {change.mode:o}"
    raise TypeError(f"unknown change {change!r}")


def apply_changes(host, changes: list[Change], state_file: Path, echo) -> ApplyOutcome:
    """Save the originals (keeping those of an earlier apply), then apply every change."""
    outcome = ApplyOutcome()
    if not changes:
        return outcome
    state = load_state(state_file) or TuningState()
    if _record_originals(host, state, changes) or not state_file.exists():
        save_state(state_file, state)
        echo(f"Original values saved to {state_file} (undo with: tickpipe tune revert)")
    else:
        echo(f"Original values already saved in {state_file} by an earlier apply")
    for change in changes:
        try:
            outcome.done.append(_perform(host, change))
            echo(f"  {outcome.done[-1]}")
        except OSError as err:
            reason = f"{change.describe()}: {err.strerror or err}"
            if isinstance(change, FileWrite) and change.best_effort:
                outcome.refused.append(reason)
                outcome.refused_paths.add(change.path)
            else:
                outcome.failed.append(reason)
                echo(f"  FAILED {reason}")
    if outcome.refused:
        echo(f"  the kernel refused {len(outcome.refused)} best-effort write(s), e.g. "
             f"{outcome.refused[0]} (IRQs it cannot move, EPP fixed by the driver)")
    return outcome
