"""Every tuning item, in the order check prints and apply applies them.

Order matters for apply: the governor before the energy-performance preference
(intel_pstate fixes EPP once the governor is performance), huge pages reserved
before hugetlbfs is mounted.
"""

from __future__ import annotations

from tickpipe.tuning.findings import Finding, TuningTargets
from tickpipe.tuning.items_cmdline import kernel_cmdline_findings
from tickpipe.tuning.items_cpu import CPU_ITEMS
from tickpipe.tuning.items_hugepages import HUGE_PAGE_ITEMS
from tickpipe.tuning.items_kernel import KERNEL_ITEMS
from tickpipe.tuning.items_memory import MEMORY_ITEMS, THP_ITEMS

RUNTIME_ITEMS = CPU_ITEMS + THP_ITEMS + HUGE_PAGE_ITEMS + MEMORY_ITEMS + KERNEL_ITEMS


def evaluate(host, targets: TuningTargets) -> list[Finding]:
    """Probe every item on this host; reads only."""
    findings = [probe(host, targets) for probe in RUNTIME_ITEMS]
    return findings + kernel_cmdline_findings(host, targets)
