"""How check prints: a table (one row per item, why on the right) or JSON."""

from __future__ import annotations

import json
from collections import Counter

from tickpipe.tuning.cpulist import format_cpu_list
from tickpipe.tuning.findings import Finding, Status, TuningTargets
from tickpipe.tuning.items_cmdline import boot_line, boot_line_instructions
from tickpipe.tuning.items_hugepages import huge_page_kb, huge_pages_needed

EXIT_OK, EXIT_DIFFERS, EXIT_ERROR = 0, 1, 2
COLUMNS = ("item", "current", "recommended", "status", "why")
MAX_CELL = 48


def exit_code(findings: list[Finding]) -> int:
    """0 when every supported item is ok; 1 when one differs or waits for a reboot."""
    return EXIT_DIFFERS if any(f.status in (Status.DIFFERS, Status.NEEDS_REBOOT) for f in findings) else EXIT_OK


def targets_summary(host, targets: TuningTargets) -> list[str]:
    page_kb = huge_page_kb(host)
    return [
        f"Worker cores: {_cpus(targets.worker_cores)} ({targets.cores_reason}); "
        f"housekeeping cores: {_cpus(targets.housekeeping_cores)}",
        f"Engine segment: {targets.engine_bytes} bytes -> {huge_pages_needed(targets.engine_bytes, page_kb)} "
        f"huge pages of {page_kb // 1024} MiB with headroom; engine user: {targets.user.name}",
    ]


def _cpus(cpus) -> str:
    return format_cpu_list(cpus) or "none"


def _cell(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."


def format_table(findings: list[Finding]) -> list[str]:
    rows = [COLUMNS] + [(f.name, _cell(f.current), _cell(f.recommended), f.status.value, f.why)
                        for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
            for row in rows]


def format_notes(findings: list[Finding]) -> list[str]:
    lines = [f"  {f.name}: {f.note}" for f in findings
             if f.note and f.status is not Status.OK and not f.name.startswith("boot: ")]
    return ["Notes:"] + lines if lines else []


def format_summary(findings: list[Finding]) -> str:
    counts = Counter(f.status for f in findings)
    parts = [f"{counts[status]} {status.value}" for status in Status if counts[status]]
    return "Summary: " + ", ".join(parts)


def format_check(host, targets: TuningTargets, findings: list[Finding],
                 engine_findings: list[Finding] | None = None) -> list[str]:
    lines = targets_summary(host, targets) + [""] + format_table(findings)
    if engine_findings:
        lines += ["", "Running engine:"] + format_table(engine_findings)
    lines += [""] + format_notes(findings + (engine_findings or []))
    line = boot_line(findings)
    if line:
        lines.append(boot_line_instructions(line))
    lines.append(format_summary(findings + (engine_findings or [])))
    return lines


def check_as_json(targets: TuningTargets, findings: list[Finding],
                  engine_findings: list[Finding] | None, status: int) -> str:
    return json.dumps({
        "worker_cores": list(targets.worker_cores),
        "housekeeping_cores": list(targets.housekeeping_cores),
        "cores_reason": targets.cores_reason,
        "engine_bytes": targets.engine_bytes,
        "engine_user": targets.user.name,
        "items": [f.as_json() for f in findings],
        "engine_workers": [f.as_json() for f in engine_findings or []],
        "boot_line": boot_line(findings),
        "exit_code": status,
    }, indent=1)
