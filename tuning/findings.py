"""What a tuning item reports: its row in `check`, and the changes `apply` would make.

An item is a probe function (see items_*.py) that reads the host and returns a
Finding. A Finding carries the planned changes, so `check`, `apply --dry-run` and
`apply` all run the same probe code; only `apply` performs the changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    OK = "ok"
    DIFFERS = "differs"
    UNSUPPORTED = "unsupported here"
    NEEDS_REBOOT = "needs reboot"


class TuningError(Exception):
    """Bad input or a host tuning cannot work on; the message is one line for the user."""


@dataclass(frozen=True)
class FileWrite:
    """Write `value` to the kernel or config file at `path` (a path as seen on the real host)."""
    path: str
    value: str
    # The kernel refuses some writes by design (per-CPU IRQs cannot move, EPP is
    # fixed while intel_pstate runs the performance governor); such a refusal is
    # reported, not treated as a failed apply.
    best_effort: bool = False

    def describe(self) -> str:
        shown = self.value if "\n" not in self.value.rstrip("\n") else f"<{len(self.value)} bytes>"
        return f"write {self.path} <- {shown.rstrip()}"


@dataclass(frozen=True)
class MountHugetlbfs:
    """Mount hugetlbfs at `target` with `options`; revert unmounts it (and removes the dir if made)."""
    target: str
    options: str

    def describe(self) -> str:
        return f"mount -t hugetlbfs -o {self.options} none {self.target}"


@dataclass(frozen=True)
class SetOwner:
    """chown/chmod a directory (an existing hugetlbfs mount the engine user cannot write)."""
    path: str
    uid: int
    gid: int
    mode: int

    def describe(self) -> str:
        return f"chown {self.uid}:{self.gid} {self.path} && chmod {self.mode:o} {self.path}"


Change = FileWrite | MountHugetlbfs | SetOwner


@dataclass
class Finding:
    """One row of `check`: an item's current and recommended value and what to change."""
    name: str
    current: str
    recommended: str
    status: Status
    why: str
    changes: list[Change] = field(default_factory=list)
    # Printed after the table and by apply: a warning or an instruction (reboot line).
    note: str = ""

    def as_json(self) -> dict:
        return {
            "item": self.name,
            "current": self.current,
            "recommended": self.recommended,
            "status": self.status.value,
            "why": self.why,
            "changes": [change.describe() for change in self.changes],
            "note": self.note,
        }


@dataclass(frozen=True)
class EngineUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


@dataclass(frozen=True)
class TuningTargets:
    """What the host is tuned for: which cores the workers own, the segment size, the engine's user."""
    all_cpus: tuple[int, ...]
    worker_cores: tuple[int, ...]
    housekeeping_cores: tuple[int, ...]
    cores_reason: str           # "from --cores" or why the default was chosen
    engine_bytes: int
    user: EngineUser
