"""Where huge pages can come from, and what page size a mapping really got.

A return code proves nothing about huge pages (MADV_HUGEPAGE succeeds and the
kernel may still hand out 4 KiB pages), so the page size is read back from
/proc/self/smaps after the pages are faulted in.
"""

from dataclasses import dataclass

BASE_PAGE_SIZE = 4096
DEFAULT_HUGE_PAGE_SIZE = 2 * 1024 * 1024


@dataclass(frozen=True)
class HugetlbfsMount:
    path: str
    page_size: int


def hugetlbfs_mounts(mounts_file: str = "/proc/mounts") -> list[HugetlbfsMount]:
    """Every hugetlbfs mount, with its page size (the `pagesize=` option or the default)."""
    found = []
    try:
        with open(mounts_file) as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or parts[2] != "hugetlbfs":
            continue
        page_size = default_huge_page_size()
        for option in parts[3].split(","):
            if option.startswith("pagesize="):
                page_size = _parse_size(option[len("pagesize="):])
        found.append(HugetlbfsMount(parts[1].replace("\\040", " "), page_size))
    return found


def default_huge_page_size() -> int:
    value = meminfo_value("Hugepagesize")
    return value * 1024 if value else DEFAULT_HUGE_PAGE_SIZE


def free_huge_pages(page_size: int) -> int:
    """Free huge pages of this size (sysfs per size; /proc/meminfo for the default)."""
    try:
        with open(f"/sys/kernel/mm/hugepages/hugepages-{page_size // 1024}kB/free_hugepages") as f:
            return int(f.read())
    except OSError:
        if page_size == default_huge_page_size():
            return meminfo_value("HugePages_Free") or 0
        return 0


def meminfo_value(key: str) -> int | None:
    """A /proc/meminfo value as an int (kB for sizes, a count for HugePages_*)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mapping_page_size(address: int, smaps_file: str = "/proc/self/smaps") -> int:
    """Page size backing the mapping that starts at `address`, read from smaps.

    KernelPageSize says hugetlbfs pages; for shmem THP, KernelPageSize stays 4 kB
    and ShmemPmdMapped/FilePmdMapped says how much is mapped by 2 MiB pages, so
    the mapping counts as huge only when all of it is.
    """
    fields = _smaps_entry(address, smaps_file)
    if not fields:
        return BASE_PAGE_SIZE
    kernel_page = fields.get("KernelPageSize", 4) * 1024
    if kernel_page > BASE_PAGE_SIZE:
        return kernel_page
    size = fields.get("Size", 0) * 1024
    pmd_mapped = max(fields.get("ShmemPmdMapped", 0), fields.get("FilePmdMapped", 0),
                     fields.get("AnonHugePages", 0)) * 1024
    if size and pmd_mapped >= size:
        return DEFAULT_HUGE_PAGE_SIZE
    return kernel_page


def _smaps_entry(address: int, smaps_file: str) -> dict[str, int]:
    fields: dict[str, int] = {}
    inside = False
    with open(smaps_file) as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                if inside:
                    break
                start, end = (int(x, 16) for x in head.split("-"))
                inside = start <= address < end
            elif inside and head.endswith(":"):
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    fields[head[:-1]] = int(parts[1])
    return fields


def _parse_size(text: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)
