"""Memory items: transparent huge pages, swapping, KSM, NUMA balancing, memlock.

A TLB miss or a page fault on the hot path costs hundreds of ns to tens of us; a
page that was swapped, merged by KSM or migrated by NUMA balancing faults again.
"""

from __future__ import annotations

from tickpipe.tuning.file_items import KernelSetting
from tickpipe.tuning.findings import FileWrite, Finding, Status, TuningTargets

THP_DIR = "/sys/kernel/mm/transparent_hugepage"
MEMLOCK_LIMITS_FILE = "/etc/security/limits.d/95-tickpipe-memlock.conf"


thp_enabled = KernelSetting(
    "THP enabled", f"{THP_DIR}/enabled", "madvise",
    why="madvise: the /dev/shm fallback segment gets 2 MiB pages by asking; nothing else is collapsed behind its back")

thp_defrag = KernelSetting(
    "THP defrag", f"{THP_DIR}/defrag", "madvise",
    why="compaction stalls only regions that asked for THP, which the engine pre-faults at start, not on the hot path")

thp_shmem_enabled = KernelSetting(
    "THP shmem_enabled", f"{THP_DIR}/shmem_enabled", "advise",
    why="advise lets the /dev/shm segment ask for 2 MiB pages with MADV_HUGEPAGE (never refuses it)")


swappiness = KernelSetting(
    "vm.swappiness", "/proc/sys/vm/swappiness", "10",
    why="keeps the kernel from swapping out anonymous memory to make room for page cache")

ksm = KernelSetting(
    "KSM", "/sys/kernel/mm/ksm/run", "0", missing="kernel without KSM",
    why="ksmd scans and merges pages; a write to a merged page takes a copy-on-write fault")

numa_balancing = KernelSetting(
    "kernel.numa_balancing", "/proc/sys/kernel/numa_balancing", "0",
    missing="kernel without NUMA balancing (single node)",
    why="NUMA balancing unmaps pages to sample accesses: hinting faults and migrations on the hot path")


def memlock_limit_text(user_name: str) -> str:
    return (f"# tickpipe tune: let {user_name} mlockall the engine without root (pam_limits)\n"
            f"{user_name} soft memlock unlimited\n"
            f"{user_name} hard memlock unlimited\n")


def memlock_limit(host, targets: TuningTargets) -> Finding:
    user = targets.user
    name = "RLIMIT_MEMLOCK"
    recommended = f"unlimited for {user.name}"
    why = "mlockall keeps the engine's pages resident; without the limit it fails for a non-root user"
    if user.uid == 0:
        return Finding(name, "root has CAP_IPC_LOCK", recommended, Status.OK, why)
    if not host.is_dir("/etc/security/limits.d"):
        return Finding(name, "-", recommended, Status.UNSUPPORTED, why,
                       note="no /etc/security/limits.d (pam_limits not installed)")
    wanted = memlock_limit_text(user.name)
    current = host.read_bytes(MEMLOCK_LIMITS_FILE)
    if current is not None and current.decode(errors="replace") == wanted:
        return Finding(name, recommended, recommended, Status.OK, why,
                       note=f"{MEMLOCK_LIMITS_FILE} applies from {user.name}'s next login")
    shown = "not set by tickpipe" if current is None else f"{MEMLOCK_LIMITS_FILE} differs"
    return Finding(name, shown, recommended, Status.DIFFERS, why,
                   [FileWrite(MEMLOCK_LIMITS_FILE, wanted)],
                   note=f"{MEMLOCK_LIMITS_FILE} applies from {user.name}'s next login")


THP_ITEMS = [thp_enabled, thp_defrag, thp_shmem_enabled]
MEMORY_ITEMS = [swappiness, ksm, numa_balancing, memlock_limit]
