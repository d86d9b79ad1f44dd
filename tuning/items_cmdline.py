"""Kernel command line items: checked against /proc/cmdline, never applied.

Isolation and tick settings only take effect at boot; `check` prints the exact
parameters to add to the boot loader instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from tickpipe.tuning.cpulist import CpuListError, format_cpu_list, parse_cpu_list
from tickpipe.tuning.findings import Finding, Status, TuningTargets


@dataclass(frozen=True)
class BootParameter:
    key: str
    wanted: Callable[[TuningTargets], str | None]   # the value to boot with; None for a bare flag
    why: str
    # How a present value is judged; default: exact string match.
    same: Callable[[str, str], bool] | None = None


def _same_cpus(current: str, wanted: str) -> bool:
    """isolcpus may carry flags ("managed_irq,domain,1-3"): compare only the CPU part."""
    def cpus(text: str) -> list[int]:
        parts = [part for part in text.split(",") if part and (part[0].isdigit())]
        return parse_cpu_list(",".join(parts))
    try:
        return cpus(current) == cpus(wanted)
    except CpuListError:
        return False


def _workers(targets: TuningTargets) -> str:
    return format_cpu_list(targets.worker_cores)


BOOT_PARAMETERS = [
    BootParameter("isolcpus", lambda t: f"managed_irq,domain,{_workers(t)}",
                  "the scheduler places no other task on the worker cores, and managed IRQs avoid them",
                  _same_cpus),
    BootParameter("nohz_full", _workers,
                  "no scheduler tick (1000/s) on a worker core that runs one task", _same_cpus),
    BootParameter("rcu_nocbs", _workers,
                  "RCU callbacks run on housekeeping cores, not between two messages", _same_cpus),
    BootParameter("rcu_nocb_poll", lambda t: None,
                  "RCU offload threads poll instead of being woken by the worker cores"),
    BootParameter("irqaffinity", lambda t: format_cpu_list(t.housekeeping_cores),
                  "IRQs start on the housekeeping cores from boot on", _same_cpus),
    BootParameter("skew_tick", lambda t: "1",
                  "staggers per-core ticks so they do not contend for the same locks at once"),
    BootParameter("tsc", lambda t: "reliable",
                  "no clocksource watchdog re-checking the TSC, and no fallback to a slow clocksource"),
    BootParameter("nosoftlockup", lambda t: None,
                  "a spinning worker does not trip the soft-lockup detector's per-core timer"),
]


def _boot_value(param: BootParameter, cmdline: list[str]) -> str | None | bool:
    """The parameter's value on this boot: a string, None for a bare flag, False if absent."""
    found: str | None | bool = False
    for word in cmdline:
        key, eq, value = word.partition("=")
        if key == param.key:
            found = value if eq else None   # the last occurrence wins, as in the kernel
    return found


def _wanted_word(param: BootParameter, targets: TuningTargets) -> str:
    value = param.wanted(targets)
    return param.key if value is None else f"{param.key}={value}"


def kernel_cmdline_findings(host, targets: TuningTargets) -> list[Finding]:
    cmdline = host.kernel_cmdline()
    findings = []
    for param in BOOT_PARAMETERS:
        wanted = param.wanted(targets)
        word = _wanted_word(param, targets)
        name = f"boot: {param.key}"
        if not targets.worker_cores:
            findings.append(Finding(name, "-", word, Status.UNSUPPORTED, param.why, note="no worker cores"))
            continue
        present = _boot_value(param, cmdline)
        if present is False:
            current = "absent"
        elif present is None:
            current = param.key
        else:
            current = f"{param.key}={present}"
        if wanted is None:
            ok = present is None or present == ""
        elif isinstance(present, str):
            ok = (param.same or (lambda a, b: a == b))(present, wanted)
        else:
            ok = False
        status = Status.OK if ok else Status.NEEDS_REBOOT
        findings.append(Finding(name, current, word, status, param.why))
    return findings


def boot_line(findings: list[Finding]) -> str:
    """The parameters to add (replacing any of the same name) for every boot item not yet ok."""
    return " ".join(f.recommended for f in findings
                    if f.name.startswith("boot: ") and f.status is Status.NEEDS_REBOOT)


def boot_line_instructions(line: str) -> str:
    return (f"Kernel command line (never applied; needs a reboot): add\n    {line}\n"
            "  to GRUB_CMDLINE_LINUX in /etc/default/grub, replacing any of the same name, then run "
            "update-grub (Debian) or grub2-mkconfig -o /boot/grub2/grub.cfg; or: "
            f"grubby --update-kernel=ALL --args=\"{line}\"")
