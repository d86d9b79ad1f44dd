"""Building blocks for items that are one kernel file, or one file per CPU.

Each helper reads the file(s), compares with the recommended value and returns a
Finding: `unsupported here` when this kernel lacks the file or marks it read-only,
`ok` when it already holds the value, else `differs` with the writes to make.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tickpipe.tuning.cpulist import format_cpu_list
from tickpipe.tuning.findings import FileWrite, Finding, Status, TuningTargets

_SELECTED_CHOICE = re.compile(r"\[([^\]]+)\]")


def selected_choice(text: str) -> str:
    """'always [madvise] never' -> 'madvise'; a plain value is returned as it is."""
    match = _SELECTED_CHOICE.search(text)
    return match.group(1) if match else text.strip()


def restore_value(original: str) -> str:
    """What to write back so the file reads `original` again (choice files print all options)."""
    return selected_choice(original)


def single_file_item(host, *, name: str, path: str, recommended: str, why: str,
                     same: Callable[[str, str], bool] | None = None,
                     note: str = "", missing: str = "") -> Finding:
    """A kernel file holding one value (a sysctl, a sysfs knob or a [choice] file)."""
    raw = host.read(path)
    if raw is None:
        return Finding(name, "-", recommended, Status.UNSUPPORTED, why,
                       note=missing or f"{path} does not exist on this kernel")
    current = selected_choice(raw)
    equal = same or (lambda a, b: a == b)
    if equal(current, recommended):
        return Finding(name, current, recommended, Status.OK, why, note=note)
    if not host.is_writable(path):
        return Finding(name, f"{current} (read-only)", recommended, Status.UNSUPPORTED, why,
                       note=f"{path} is read-only on this kernel")
    return Finding(name, current, recommended, Status.DIFFERS, why,
                   [FileWrite(path, recommended)], note=note)


def summarize_per_cpu(values: dict[int, str]) -> str:
    """{0: 'a', 1: 'a', 2: 'b'} -> 'a (0-1), b (2)'; one value on every CPU -> 'a'."""
    by_value: dict[str, list[int]] = {}
    for cpu, value in sorted(values.items()):
        by_value.setdefault(value, []).append(cpu)
    if len(by_value) == 1:
        return next(iter(by_value))
    return ", ".join(f"{value} ({format_cpu_list(cpus)})" for value, cpus in by_value.items())


def per_cpu_file_item(host, *, name: str, cpus, path_of: Callable[[int], str], recommended: str,
                      why: str, missing: str, best_effort: bool = False) -> Finding:
    """The same file under every CPU (cpufreq governor, EPP); writes go to the CPUs that differ."""
    values = {cpu: host.read(path_of(cpu)) for cpu in cpus}
    present = {cpu: value for cpu, value in values.items() if value is not None}
    if not present:
        return Finding(name, "-", recommended, Status.UNSUPPORTED, why, note=missing)
    current = summarize_per_cpu(present)
    differing = [cpu for cpu, value in present.items() if value != recommended]
    if not differing:
        return Finding(name, current, recommended, Status.OK, why)
    writable = [cpu for cpu in differing if host.is_writable(path_of(cpu))]
    if not writable:
        return Finding(name, f"{current} (read-only)", recommended, Status.UNSUPPORTED, why,
                       note=f"{path_of(differing[0])} is read-only on this kernel")
    writes = [FileWrite(path_of(cpu), recommended, best_effort) for cpu in writable]
    return Finding(name, current, recommended, Status.DIFFERS, why, writes)


@dataclass(frozen=True)
class KernelSetting:
    """An item that is one kernel file holding one value; calling it probes the host."""
    name: str
    path: str
    recommended: str | Callable[[TuningTargets], str]   # a function when it depends on the cores
    why: str
    missing: str = ""
    note: str = ""
    same: Callable[[str, str], bool] | None = None

    def __call__(self, host, targets: TuningTargets) -> Finding:
        recommended = self.recommended(targets) if callable(self.recommended) else self.recommended
        return single_file_item(host, name=self.name, path=self.path, recommended=recommended,
                                why=self.why, same=self.same, note=self.note, missing=self.missing)
