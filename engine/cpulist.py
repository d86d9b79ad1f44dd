"""CPU lists as people and the kernel write them: '0-2,5' -> 0, 1, 2, 5.

One parser for `--cores`, the config, the isolated/nohz_full files and the
tuning script; a descending or negative range is refused, not read as empty,
and a range past the largest CPU number Linux can have is refused before it is
expanded (a typo like 0-999999999999 would otherwise eat all memory).
"""

# Linux builds for at most 8192 CPUs (NR_CPUS), numbered 0 .. 8191.
MAX_CPU = 8191


class CpuListError(ValueError):
    """A CPU list that cannot be parsed; the message quotes the bad text and part."""

    def __init__(self, text: str, part: str, why: str):
        self.detail = f"{part!r} {why}"
        super().__init__(f"bad CPU list {text!r}: {self.detail}")


def expand_cpu_list(text: str) -> list[int]:
    """'5,1-2' -> [5, 1, 2]: every core, in the order given; blank -> []."""
    text = text.strip()
    if not text:
        return []
    cpus = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise CpuListError(text, part, "is not a core number or range") from None
        if first < 0 or last < first:
            raise CpuListError(text, part, "is not an ascending range")
        if last > MAX_CPU:
            raise CpuListError(text, part, f"goes past CPU {MAX_CPU}, the largest Linux has")
        if len(cpus) + last - first + 1 > MAX_CPU + 1:  # repeated parts: bound the total too
            raise CpuListError(text, part, f"makes the list longer than {MAX_CPU + 1} CPUs")
        cpus.extend(range(first, last + 1))
    return cpus


def parse_cpu_list(text: str) -> list[int]:
    """A kernel cpulist ('0-3,8\\n') as a sorted list without repeats."""
    return sorted(set(expand_cpu_list(text)))
