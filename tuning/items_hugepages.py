"""Explicit huge pages: reserve vm.nr_hugepages for the segment and mount hugetlbfs.

The segment prefers a file on a hugetlbfs mount (2 MiB pages, never swapped, no
compaction); it needs the mount and enough HugePages_Free. After apply, a real
test mapping proves it: a write's return code does not.
"""

from __future__ import annotations

import math

from tickpipe.tuning.findings import FileWrite, Finding, MountHugetlbfs, SetOwner, Status, TuningTargets

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
HUGETLBFS_MOUNT_POINT = "/dev/hugepages"
# Mode of the hugetlbfs root: the engine's user and group may create segments, others not.
HUGETLBFS_MODE = 0o770


def huge_page_kb(host) -> int:
    return host.meminfo().get("Hugepagesize", 2048)


def huge_pages_needed(engine_bytes: int, page_kb: int) -> int:
    """Pages for the segment plus a quarter (at least 2) of headroom: a restarted engine
    maps its new segment's first pages before the old segment is unlinked."""
    pages = math.ceil(engine_bytes / (page_kb * 1024))
    return pages + max(2, math.ceil(pages / 4))


def explicit_huge_pages(host, targets: TuningTargets) -> Finding:
    page_kb = huge_page_kb(host)
    needed = huge_pages_needed(targets.engine_bytes, page_kb)
    recommended = f">= {needed} ({targets.engine_bytes / 2**20:.0f} MiB segment + headroom)"
    why = f"explicit {page_kb // 1024} MiB pages back the segment: no TLB misses, no compaction, never swapped"
    raw = host.read(NR_HUGEPAGES)
    if raw is None:
        return Finding("vm.nr_hugepages", "-", recommended, Status.UNSUPPORTED, why,
                       note="kernel without CONFIG_HUGETLBFS")
    free = host.meminfo().get("HugePages_Free", 0)
    current = f"{raw} reserved, {free} free"
    # Compare the reservation, not HugePages_Free: a running engine holds its own pages.
    if int(raw) >= needed:
        return Finding("vm.nr_hugepages", current, recommended, Status.OK, why)
    if not host.is_writable(NR_HUGEPAGES):
        return Finding("vm.nr_hugepages", current + " (read-only)", recommended, Status.UNSUPPORTED, why,
                       note=f"{NR_HUGEPAGES} is read-only here")
    return Finding("vm.nr_hugepages", current, recommended, Status.DIFFERS, why,
                   [FileWrite(NR_HUGEPAGES, str(needed))])


def _page_size_kb(option: str | None, default_kb: int) -> int:
    if option is None:
        return default_kb
    units = {"K": 1, "M": 1024, "G": 1024 * 1024}
    suffix = option[-1].upper()
    return int(option[:-1]) * units[suffix] if suffix in units else int(option) // 1024


def hugetlbfs_mounts(host) -> list:
    """hugetlbfs mounts of the default huge page size (the one the segment asks for)."""
    page_kb = huge_page_kb(host)
    return [m for m in host.mounts()
            if m.fstype == "hugetlbfs" and _page_size_kb(m.option("pagesize"), page_kb) == page_kb]


def user_can_write(st, user) -> bool:
    if user.uid == 0:
        return True
    if st.st_uid == user.uid:
        return st.st_mode & 0o300 == 0o300
    if st.st_gid in user.groups:
        return st.st_mode & 0o030 == 0o030
    return st.st_mode & 0o003 == 0o003


def hugetlbfs_mount_options(user, page_kb: int) -> str:
    size = f"{page_kb // 1024}M" if page_kb % 1024 == 0 else f"{page_kb}K"
    return f"mode={HUGETLBFS_MODE:04o},uid={user.uid},gid={user.gid},pagesize={size}"


def hugetlbfs_mount(host, targets: TuningTargets) -> Finding:
    user = targets.user
    recommended = f"mounted, writable by {user.name}"
    why = "the segment is a file on a hugetlbfs mount; without one it falls back to /dev/shm and THP"
    if "hugetlbfs" not in (host.read("/proc/filesystems") or ""):
        return Finding("hugetlbfs mount", "-", recommended, Status.UNSUPPORTED, why,
                       note="kernel without hugetlbfs")
    mounts = hugetlbfs_mounts(host)
    for mount in mounts:
        st = host.stat(mount.target)
        if st is not None and user_can_write(st, user):
            return Finding("hugetlbfs mount", f"{mount.target}", recommended, Status.OK, why)
    if mounts:
        target = mounts[0].target
        st = host.stat(target)
        owner = f"uid {st.st_uid} gid {st.st_gid} mode {st.st_mode & 0o7777:o}" if st else "?"
        return Finding("hugetlbfs mount", f"{target} ({owner}), not writable by {user.name}",
                       recommended, Status.DIFFERS, why,
                       [SetOwner(target, user.uid, user.gid, HUGETLBFS_MODE)])
    options = hugetlbfs_mount_options(user, huge_page_kb(host))
    return Finding("hugetlbfs mount", "none", f"{HUGETLBFS_MOUNT_POINT} ({options})", Status.DIFFERS,
                   why, [MountHugetlbfs(HUGETLBFS_MOUNT_POINT, options)])


def pages_held_by_engines(host, mounts, page_kb: int) -> int:
    """Huge pages the segments of engines running now hold: tickpipe's segment files on
    the hugetlbfs mounts (engine/segment.py names them tickpipe.<name>)."""
    held = 0
    for mount in mounts:
        for name in host.listdir(mount.target):
            st = host.stat(f"{mount.target.rstrip('/')}/{name}") if name.startswith("tickpipe.") \
                else None
            if st is not None:
                held += math.ceil(st.st_size / (page_kb * 1024))
    return held


def verify_huge_pages(host, targets: TuningTargets) -> tuple[bool, str]:
    """After apply: enough pages for the segment (free ones, and those the segments of
    engines running now hold: the reservation is for an engine, as explicit_huge_pages
    compares it) and a real test mapping of the free ones gets huge pages."""
    page_kb = huge_page_kb(host)
    segment_pages = math.ceil(targets.engine_bytes / (page_kb * 1024))
    info = host.meminfo()
    total, free = info.get("HugePages_Total", 0), info.get("HugePages_Free", 0)
    mounts = hugetlbfs_mounts(host)
    if not mounts:
        return False, "huge pages NOT verified: no hugetlbfs mount in /proc/mounts"
    held = pages_held_by_engines(host, mounts, page_kb) if free < segment_pages else 0
    if free + held < segment_pages:
        return False, (f"huge pages NOT verified: {free} free of {total}, the segment needs {segment_pages} "
                       "(memory is fragmented: reserve them at boot with hugepages=N on the kernel line)")
    if free == 0:
        return True, (f"huge pages verified: {total} reserved, all held by the engines running now "
                      f"({held} pages; the segment needs {segment_pages})")
    target = mounts[0].target
    # Map as much as the segment will (or every free page, when running engines hold the
    # rest): hugetlbfs reserves every page at mmap time, so this proves the reservation,
    # not merely that one page exists.
    mapping_bytes = min(segment_pages, free) * page_kb * 1024
    what = f"a test mapping of {mapping_bytes // 2**20} MiB in {target}"
    try:
        got_kb = host.syscalls.test_mapping_page_kb(host.path(target), mapping_bytes)
    except OSError as err:
        return False, f"huge pages NOT verified: {what} failed: {err.strerror or err}"
    if got_kb != page_kb:
        return False, f"huge pages NOT verified: {what} got {got_kb} kB pages, not {page_kb}"
    running = f", {held} held by the engines running now" if held else ""
    return True, (f"huge pages verified: {total} reserved, {free} free{running} (the segment needs "
                  f"{segment_pages}); {what} got {got_kb} kB pages")


HUGE_PAGE_ITEMS = [explicit_huge_pages, hugetlbfs_mount]
