"""The machine tuning reads and writes, seen through a root prefix.

Every path in tuning is written as on the real host ("/proc/sys/vm/swappiness");
Host maps it under `root`, so tests run the same code against a fake /proc, /sys,
/etc and /var/lib built in a temporary directory. Syscalls that a directory tree
cannot fake (mount, umount, a huge-page test mapping) go through `host.syscalls`.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tickpipe.tuning.cpulist import parse_cpu_list

# Pseudo-files: written in place with one write(), as the kernel expects. Anything
# else (/etc, /var/lib) is a regular file, replaced atomically.
KERNEL_PREFIXES = ("/proc/", "/sys/")


@dataclass(frozen=True)
class MountEntry:
    source: str
    target: str
    fstype: str
    options: tuple[str, ...]

    def option(self, key: str) -> str | None:
        for opt in self.options:
            name, _, value = opt.partition("=")
            if name == key:
                return value
        return None


class Host:
    def __init__(self, root: str | Path = "/", syscalls=None):
        self.root = Path(root)
        if syscalls is None:
            from tickpipe.tuning.syscalls import RealSyscalls
            syscalls = RealSyscalls()
        self.syscalls = syscalls

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    # -- reading -------------------------------------------------------------
    def read_bytes(self, host_path: str) -> bytes | None:
        """The file's bytes, or None when it is missing or unreadable here."""
        try:
            return self.path(host_path).read_bytes()
        except OSError:
            return None

    def read(self, host_path: str) -> str | None:
        raw = self.read_bytes(host_path)
        return None if raw is None else raw.decode("utf-8", "replace").strip()

    def exists(self, host_path: str) -> bool:
        return self.path(host_path).exists()

    def is_dir(self, host_path: str) -> bool:
        return self.path(host_path).is_dir()

    def listdir(self, host_path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(host_path)))
        except OSError:
            return []

    def is_writable(self, host_path: str) -> bool:
        """Whether the kernel offers this file for writing.

        Mode bits, not access(2): root passes access() for every file, but sysfs and
        procfs mark a file they will not accept writes for 0444.
        """
        try:
            return bool(self.path(host_path).stat().st_mode & 0o222)
        except OSError:
            return False

    def stat(self, host_path: str) -> os.stat_result | None:
        try:
            return self.path(host_path).stat()
        except OSError:
            return None

    # -- writing -------------------------------------------------------------
    def write(self, host_path: str, data: bytes) -> None:
        """Write data; raises OSError with the kernel's refusal (EINVAL, EBUSY, EIO)."""
        real = self.path(host_path)
        if host_path.startswith(KERNEL_PREFIXES):
            self._write_kernel_file(real, data)
        else:
            self._replace_regular_file(real, data)

    def _write_kernel_file(self, real: Path, data: bytes) -> None:
        # One write() call: sysfs and procfs take the whole value in one store.
        with open(real, "wb", buffering=0) as handle:
            handle.write(data)

    def _replace_regular_file(self, real: Path, data: bytes) -> None:
        # Atomic replace so a crash never leaves a half-written /etc file; keep the mode.
        real.parent.mkdir(parents=True, exist_ok=True)
        old = self.stat_real(real)
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, stat.S_IMODE(old.st_mode) if old else 0o644)
            os.replace(tmp, real)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @staticmethod
    def stat_real(real: Path) -> os.stat_result | None:
        try:
            return real.stat()
        except OSError:
            return None

    def remove(self, host_path: str) -> None:
        self.path(host_path).unlink(missing_ok=True)

    # -- facts ---------------------------------------------------------------
    def online_cpus(self) -> list[int]:
        text = self.read("/sys/devices/system/cpu/online")
        if text:
            return parse_cpu_list(text)
        return list(range(os.cpu_count() or 1))

    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo as numbers (kB for sizes, counts for HugePages_*)."""
        info: dict[str, int] = {}
        for line in (self.read("/proc/meminfo") or "").splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                info[key.strip()] = int(fields[0])
        return info

    def mounts(self) -> list[MountEntry]:
        entries = []
        for line in (self.read("/proc/mounts") or "").splitlines():
            fields = line.split()
            if len(fields) >= 4:
                target = fields[1].replace("\\040", " ")
                entries.append(MountEntry(fields[0], target, fields[2], tuple(fields[3].split(","))))
        return entries

    def kernel_cmdline(self) -> list[str]:
        """The kernel's own parameters: what follows a bare `--` goes to init, not the kernel."""
        words = (self.read("/proc/cmdline") or "").split()
        return words[:words.index("--")] if "--" in words else words
