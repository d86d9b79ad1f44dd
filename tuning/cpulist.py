"""CPU lists ("0-2,5") and hex CPU masks ("00000000,00000027") as the kernel writes them.

/proc/irq/*/smp_affinity_list and the cmdline use lists; /proc/irq/default_smp_affinity
and the workqueue cpumask use masks in comma-separated 32-bit hex groups.
"""

from __future__ import annotations


from tickpipe.engine.cpulist import CpuListError, parse_cpu_list  # noqa: F401  (one parser, re-exported)


def format_cpu_list(cpus: list[int] | set[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5', the form the kernel prints and accepts."""
    ordered = sorted(set(cpus))
    ranges: list[str] = []
    start = prev = None
    for cpu in ordered + [None]:
        if start is not None and (cpu is None or cpu != prev + 1):
            ranges.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if cpu is not None and start is None:
            start = cpu
        prev = cpu
    return ",".join(ranges)


def parse_cpu_mask(text: str) -> list[int]:
    """'00000000,00000005' -> [0, 2]."""
    digits = text.strip().replace(",", "")
    try:
        value = int(digits, 16) if digits else 0
    except ValueError:
        raise CpuListError(text, digits, "is not a hexadecimal CPU mask") from None
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def format_cpu_mask(cpus: list[int] | set[int]) -> str:
    """[0, 2] -> '5'; more than 32 CPUs -> comma-separated 32-bit groups, as the kernel wants."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    digits = f"{value:x}"
    if len(digits) <= 8:
        return digits
    digits = digits.zfill((len(digits) + 7) // 8 * 8)
    return ",".join(digits[i:i + 8] for i in range(0, len(digits), 8))
