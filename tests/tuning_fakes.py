"""A fake /proc, /sys, /etc and /var/lib tree for the tuning tests, and a Host that
behaves like the kernel where a plain directory would not.

The tree is a 4-core Intel host with intel_pstate, four cpuidle states, 4 IRQs,
irqbalance and pam_limits, none of it tuned. FakeKernelHost runs tuning's own Host
code and changes only the last step (the write), so it can act as the kernel does:
print a stored value with a newline, move the [brackets] of a choice file, grow
HugePages_* when nr_hugepages is written, and refuse writes (EIO, EBUSY) on request.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from tickpipe.tuning.host import Host

CPU = "sys/devices/system/cpu"

MEMINFO = """MemTotal:       24681000 kB
MemFree:        20000000 kB
AnonHugePages:         0 kB
HugePages_Total:       {total}
HugePages_Free:        {free}
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
"""

MOUNTS = """proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
/dev/sda1 / ext4 rw,relatime 0 0
"""

IDLE_STATES = [("POLL", 0), ("C1", 2), ("C1E", 10), ("C6", 133)]
IRQS = ["0", "1", "24", "25"]


def _put(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def build_fake_host_tree(root: Path, cpus: int = 4) -> Path:
    """An untuned host of `cpus` cores under root; returns root."""
    last = cpus - 1
    _put(root, f"{CPU}/online", f"0-{last}\n" if last else "0\n", 0o444)
    _put(root, f"{CPU}/isolated", "\n", 0o444)
    for cpu in range(cpus):
        freq = f"{CPU}/cpu{cpu}/cpufreq"
        _put(root, f"{freq}/scaling_governor", "powersave\n")
        _put(root, f"{freq}/scaling_available_governors", "performance powersave\n", 0o444)
        _put(root, f"{freq}/energy_performance_preference", "balance_performance\n")
        for index, (name, latency) in enumerate(IDLE_STATES):
            state = f"{CPU}/cpu{cpu}/cpuidle/state{index}"
            _put(root, f"{state}/name", f"{name}\n", 0o444)
            _put(root, f"{state}/latency", f"{latency}\n", 0o444)
            _put(root, f"{state}/disable", "0\n")
    _put(root, f"{CPU}/intel_pstate/no_turbo", "1\n")
    _put(root, f"{CPU}/intel_pstate/min_perf_pct", "30\n")
    thp = "sys/kernel/mm/transparent_hugepage"
    _put(root, f"{thp}/enabled", "[always] madvise never\n")
    _put(root, f"{thp}/defrag", "always defer defer+madvise [madvise] never\n")
    _put(root, f"{thp}/shmem_enabled", "always within_size advise [never] deny force\n")
    _put(root, "sys/kernel/mm/ksm/run", "1\n")
    _put(root, "sys/devices/virtual/workqueue/cpumask", f"{(1 << cpus) - 1:x}\n")
    for name, value in {"vm/nr_hugepages": "0", "vm/swappiness": "60", "vm/stat_interval": "1",
                        "kernel/timer_migration": "1", "kernel/nmi_watchdog": "1",
                        "kernel/sched_rt_runtime_us": "950000", "kernel/numa_balancing": "1"}.items():
        _put(root, f"proc/sys/{name}", value + "\n")
    _put(root, "proc/meminfo", MEMINFO.format(total=0, free=0), 0o444)
    _put(root, "proc/mounts", MOUNTS, 0o444)
    _put(root, "proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\nnodev\thugetlbfs\n\text4\n", 0o444)
    _put(root, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n", 0o444)
    for irq in IRQS:
        _put(root, f"proc/irq/{irq}/smp_affinity_list", f"0-{last}\n" if last else "0\n")
    _put(root, "proc/irq/default_smp_affinity", f"{(1 << cpus) - 1:x}\n")
    _put(root, "dev/cpu_dma_latency", "", 0o600)
    _put(root, "etc/default/irqbalance", "# irqbalance options\nIRQBALANCE_ONESHOT=0\n")
    _put(root, "usr/sbin/irqbalance", "", 0o755)
    (root / "etc/security/limits.d").mkdir(parents=True)
    (root / "var/lib").mkdir(parents=True)
    return root


def set_boot_cmdline(root: Path, cmdline: str) -> None:
    (root / "proc/cmdline").write_text(cmdline + "\n")


class FakeSyscalls:
    """mount/umount edit the fake /proc/mounts; the test mapping reads the fake meminfo."""

    def __init__(self, root: Path):
        self.root = root

    def mount_hugetlbfs(self, target: Path, options: str) -> None:
        shown = ",".join(opt for opt in options.split(",") if not opt.startswith(("uid=0", "gid=0")))
        host_path = "/" + str(target.relative_to(self.root))
        with open(self.root / "proc/mounts", "a") as mounts:
            mounts.write(f"hugetlbfs {host_path} hugetlbfs rw,relatime,{shown} 0 0\n")
        uid = int(options.split("uid=")[1].split(",")[0])
        gid = int(options.split("gid=")[1].split(",")[0])
        os.chown(target, uid, gid)
        os.chmod(target, int(options.split("mode=")[1].split(",")[0], 8))

    def unmount(self, target: Path) -> None:
        host_path = "/" + str(target.relative_to(self.root))
        mounts = (self.root / "proc/mounts").read_text().splitlines(keepends=True)
        kept = [line for line in mounts if line.split()[1] != host_path]
        if len(kept) == len(mounts):
            raise OSError(errno.EINVAL, f"umount {target}: not mounted")
        (self.root / "proc/mounts").write_text("".join(kept))
        os.chown(target, 0, 0)
        os.chmod(target, 0o755)

    def test_mapping_page_kb(self, mount_dir: Path, size: int) -> int:
        meminfo = (self.root / "proc/meminfo").read_text()
        free = int(meminfo.split("HugePages_Free:")[1].split()[0])
        page_kb = int(meminfo.split("Hugepagesize:")[1].split()[0])
        if free * page_kb * 1024 < size:
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        return page_kb


class FakeKernelHost(Host):
    def __init__(self, root: Path):
        super().__init__(root, FakeSyscalls(root))
        self.refuse: dict[str, int] = {}        # host path -> errno the "kernel" answers
        self.writes: list[str] = []             # host paths written, in order
        self.before_each_write = None           # callable(host_path) run before a write

    def _write_kernel_file(self, real: Path, data: bytes) -> None:
        host_path = "/" + str(real.relative_to(self.root))
        if self.before_each_write:
            self.before_each_write(host_path)
        if host_path in self.refuse:
            code = self.refuse[host_path]
            raise OSError(code, os.strerror(code))
        value = data.decode().strip()
        old = real.read_text()
        if "[" in old:
            choices = old.replace("[", "").replace("]", "").split()
            if value not in choices:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            text = " ".join(f"[{c}]" if c == value else c for c in choices)
        else:
            text = value
        super()._write_kernel_file(real, (text + "\n").encode())
        self.writes.append(host_path)
        if host_path == "/proc/sys/vm/nr_hugepages":
            os.chmod(self.root / "proc/meminfo", 0o644)
            (self.root / "proc/meminfo").write_text(MEMINFO.format(total=value, free=value))
            os.chmod(self.root / "proc/meminfo", 0o444)


def snapshot_tree(root: Path) -> dict[str, tuple]:
    """Every file's bytes and every entry's mode and owner under root, for byte-for-byte checks."""
    snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            content = path.read_bytes() if path.is_file() else None
            snapshot[str(path.relative_to(root))] = (content, st.st_mode, st.st_uid, st.st_gid)
    return snapshot
