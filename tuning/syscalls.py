"""The few kernel calls a fake directory tree cannot stand in for.

Tests replace RealSyscalls with a fake that edits the fake /proc/mounts instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _raise_errno(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


class RealSyscalls:
    def mount_hugetlbfs(self, target: Path, options: str) -> None:
        if _libc.mount(b"hugetlbfs", os.fsencode(target), b"hugetlbfs", 0, options.encode()) != 0:
            _raise_errno(f"mount hugetlbfs on {target}")

    def unmount(self, target: Path) -> None:
        if _libc.umount2(os.fsencode(target), 0) != 0:
            _raise_errno(f"umount {target}")

    def test_mapping_page_kb(self, mount_dir: Path, size: int) -> int:
        """Map `size` bytes of a file in mount_dir, touch it, return the KernelPageSize (kB).

        The page size is read back from /proc/self/smaps: mmap succeeding proves only
        that the kernel reserved a page, not what backs the mapping.
        """
        probe = mount_dir / f".tickpipe-tune-probe-{os.getpid()}"
        fd = os.open(probe, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
            # hugetlbfs reserves every page at mmap time (ENOMEM if too few are free),
            # so touching the mapping afterwards cannot SIGBUS.
            mapping = mmap.mmap(fd, size)
            try:
                mapping[0] = 1
                return _kernel_page_kb_of(str(probe))
            finally:
                mapping.close()
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)


def _kernel_page_kb_of(mapped_file: str) -> int:
    in_block = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and first.replace("-", "").isalnum() and ":" not in first:
                in_block = line.rstrip("\n").endswith(mapped_file)
            elif in_block and line.startswith("KernelPageSize:"):
                return int(line.split()[1])
    raise OSError(f"test mapping of {mapped_file} not found in /proc/self/smaps")
