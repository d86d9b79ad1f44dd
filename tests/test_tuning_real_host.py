"""A real apply / revert round trip on this machine, as root.

Reserves huge pages, mounts hugetlbfs, applies every item this kernel has, then
reverts, and checks the host reads exactly as before. The finally block puts the
host back by hand (files, mount, directory) even when the round trip fails midway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import pytest
from click.testing import CliRunner

from tickpipe.tuning.apply import planned_changes
from tickpipe.tuning.cli import TuneEnvironment, tune
from tickpipe.tuning.file_items import restore_value
from tickpipe.tuning.findings import FileWrite
from tickpipe.tuning.host import KERNEL_PREFIXES, Host
from tickpipe.tuning.items_hugepages import HUGETLBFS_MOUNT_POINT, huge_pages_needed
from tickpipe.tuning.registry import evaluate
from tickpipe.tuning.targets import resolve_targets

MNT_DETACH = 2


def _why_not_here() -> str | None:
    if os.geteuid() != 0:
        return "needs root: reserves huge pages and mounts hugetlbfs on this machine"
    if "hugetlbfs" not in open("/proc/filesystems").read():
        return "this kernel has no hugetlbfs"
    if not os.stat("/proc/sys/vm/nr_hugepages").st_mode & 0o200:
        return "vm.nr_hugepages is read-only here (a container?)"
    return None


pytestmark = [pytest.mark.root, pytest.mark.skipif(_why_not_here() is not None, reason=str(_why_not_here()))]


def _mounts() -> set[tuple[str, str]]:
    return {(line.split()[1], line.split()[2]) for line in open("/proc/mounts")}


def _put_back_by_hand(host: Host, originals: dict[str, bytes | None], mounts_before, dir_existed: bool) -> None:
    """Last resort when revert failed: undo the mount, then every file that differs."""
    if (HUGETLBFS_MOUNT_POINT, "hugetlbfs") in _mounts() - mounts_before:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.umount2(HUGETLBFS_MOUNT_POINT.encode(), MNT_DETACH)
    if not dir_existed and os.path.isdir(HUGETLBFS_MOUNT_POINT):
        os.rmdir(HUGETLBFS_MOUNT_POINT)
    # nr_hugepages last: pages are freed only once nothing maps them.
    for path in sorted(originals, key=lambda p: p.endswith("nr_hugepages")):
        original = originals[path]
        if host.read_bytes(path) == original:
            continue
        if original is None:
            host.remove(path)
        elif path.startswith(KERNEL_PREFIXES):
            host.write(path, restore_value(original.decode()).encode())
        else:
            host.write(path, original)


def test_apply_then_revert_on_this_host_leaves_it_as_it_was(tmp_path):
    host = Host("/")
    env = TuneEnvironment(host, running_as_root=True)
    state = tmp_path / "tuning-state.json"
    # --user nobody: also exercises the memlock limits file and a hugetlbfs mount
    # owned by a non-root user.
    targets = resolve_targets(host, None, None, "nobody")
    planned = planned_changes(evaluate(host, targets))
    originals = {c.path: host.read_bytes(c.path) for c in planned if isinstance(c, FileWrite)}
    mounts_before = _mounts()
    dir_existed = os.path.isdir(HUGETLBFS_MOUNT_POINT)
    try:
        applied = CliRunner().invoke(tune, ["apply", "--user", "nobody", "--state-file", str(state)], obj=env)
        assert applied.exit_code == 0, applied.output
        assert "huge pages verified" in applied.output
        assert any(fstype == "hugetlbfs" for _, fstype in _mounts())
        assert host.meminfo()["HugePages_Total"] >= huge_pages_needed(targets.engine_bytes, 2048)
        assert state.exists()

        reverted = CliRunner().invoke(tune, ["revert", "--state-file", str(state)], obj=env)
        assert reverted.exit_code == 0, reverted.output
        assert not state.exists()
    finally:
        _put_back_by_hand(host, originals, mounts_before, dir_existed)
    assert {path: host.read_bytes(path) for path in originals} == originals
    assert _mounts() == mounts_before
    assert os.path.isdir(HUGETLBFS_MOUNT_POINT) == dir_existed
