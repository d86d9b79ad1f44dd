"""Segments on explicit 2 MiB huge pages: huge pages reserved as root, hugetlbfs mounted.

Whatever runs on the mount runs in a child process in a private mount namespace
(`unshare --mount --propagation private`): the mount, on a fresh temporary
directory, is seen by that child alone, so no other engine or bench on this
host puts its segment there, and it cannot outlive the child. The reserved
pages are host-wide: they are added just before the child starts and
nr_hugepages is put back exactly when it ends. /dev/hugepages is never touched.
"""

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest

from tickpipe.engine import hugepages
from tickpipe.engine.config import default_config
from tickpipe.engine.sizing import HUGE_PAGE_SIZE, segment_bytes

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: reserves huge pages, mounts hugetlbfs"),
]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
# pages reserved for the tests: the default engine's segment and a few more
EXTRA_PAGES = segment_bytes(default_config()) // HUGE_PAGE_SIZE + 4
# $0 is the mount point; the command's exit status is kept; the mount goes in any case.
ON_PRIVATE_MOUNT = ('mount -t hugetlbfs -o pagesize=2M none "$0" || exit 97; '
                    '"$@"; status=$?; umount "$0"; exit $status')

# Creates a segment named argv[2] of argv[3] bytes ("default": the default engine's sections)
# with only the mount argv[1] in view, and prints what it got as JSON.
CREATE_SEGMENT = """
import json, sys
from tickpipe.engine import hugepages
from tickpipe.engine.config import default_config
from tickpipe.engine.engine_layout import section_specs
from tickpipe.engine.segment import SectionSpec, create_segment, unlink_segment
mount_dir, name, size = sys.argv[1:4]
listed = [mount.path for mount in hugepages.hugetlbfs_mounts()]
all_mounts = hugepages.hugetlbfs_mounts
hugepages.hugetlbfs_mounts = lambda *a: [m for m in all_mounts(*a) if m.path == mount_dir]
specs = section_specs(default_config()) if size == "default" else [SectionSpec("data", int(size))]
free = lambda: hugepages.free_huge_pages(2 * 1024 * 1024)
seen = {"listed": listed, "free_before": free()}
segment = create_segment(name, specs)
seen.update(backing=segment.backing, path=segment.path, size=segment.size,
            page_size=segment.page_size, free_while_mapped=free(),
            smaps_page_size=hugepages.mapping_page_size(segment.base_address))
segment.close()
unlink_segment(name)
seen["free_after"] = free()
print(json.dumps(seen))
"""


def free_pages() -> int:
    return hugepages.free_huge_pages(HUGE_PAGE_SIZE)


def set_nr_hugepages(count: int) -> None:
    with open(NR_HUGEPAGES, "w") as f:
        f.write(str(count))


@contextmanager
def reserved_huge_pages(extra: int):
    """nr_hugepages raised by `extra` (skip if the kernel cannot), then put back exactly."""
    if hugepages.default_huge_page_size() != HUGE_PAGE_SIZE:
        pytest.skip("the default huge page size of this host is not 2 MiB")
    with open(NR_HUGEPAGES) as f:
        original = int(f.read())
    total_before = hugepages.meminfo_value("HugePages_Total")
    free_before = free_pages()
    try:
        set_nr_hugepages(original + extra)
        if free_pages() < free_before + extra:
            pytest.skip(f"the kernel reserved fewer than {extra} more huge pages")
        yield
    finally:
        set_nr_hugepages(original)
        assert hugepages.meminfo_value("HugePages_Total") == total_before


def run_on_private_mount(mount_dir, argv, extra_pages=EXTRA_PAGES, timeout=120):
    """Run argv with hugetlbfs mounted on mount_dir in a mount namespace of its own."""
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", ON_PRIVATE_MOUNT,
               str(mount_dir), *argv]
    with reserved_huge_pages(extra_pages):
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    if proc.returncode == 97:
        pytest.skip(f"cannot mount hugetlbfs: {err.strip()}")
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.fixture
def mount_dir(tmp_path):
    directory = tmp_path / "hugepages"
    directory.mkdir()
    return str(directory)


def create_on_private_mount(mount_dir, name, size, extra_pages=EXTRA_PAGES):
    return run_on_private_mount(mount_dir, [sys.executable, "-c", CREATE_SEGMENT, mount_dir,
                                            name, str(size)], extra_pages)


def test_create_segment_when_a_mount_has_free_huge_pages_then_it_lives_there_on_2mib_pages(
        mount_dir, segments):
    name = segments.name()
    seen = create_on_private_mount(mount_dir, name, 3 * 1024 * 1024)
    assert mount_dir in seen["listed"]  # found in /proc/mounts
    assert seen["backing"] == "hugetlbfs"
    assert seen["path"] == os.path.join(mount_dir, f"tickpipe.{name}")
    assert seen["page_size"] == seen["smaps_page_size"] == HUGE_PAGE_SIZE
    assert seen["size"] == 2 * HUGE_PAGE_SIZE
    assert seen["free_while_mapped"] == seen["free_before"] - 2
    assert seen["free_after"] == seen["free_before"]  # closing and unlinking gives them back


def test_segment_bytes_when_the_default_engine_is_created_on_hugetlbfs_then_it_is_the_mapped_size(
        mount_dir, segments):
    assert segment_bytes(default_config()) // HUGE_PAGE_SIZE <= EXTRA_PAGES
    seen = create_on_private_mount(mount_dir, segments.name(), "default")
    assert seen["backing"] == "hugetlbfs"
    assert seen["size"] == segment_bytes(default_config())


def test_create_segment_when_too_few_huge_pages_are_free_then_it_falls_back_to_shm(
        mount_dir, segments):
    free = free_pages()
    if free > 64:
        pytest.skip(f"{free} huge pages are free on this host; the shortage cannot be made cheaply")
    seen = create_on_private_mount(mount_dir, segments.name(), (free + 1) * HUGE_PAGE_SIZE,
                                   extra_pages=0)
    assert mount_dir in seen["listed"]
    assert seen["backing"] == "shm"
    assert os.path.dirname(seen["path"]) == "/dev/shm"


@pytest.mark.slow
def test_run_when_huge_pages_are_reserved_then_the_engine_reports_hugetlbfs_2mib_pages(
        mount_dir, segments):
    report = run_on_private_mount(mount_dir, [sys.executable, "-m", "tickpipe.cli", "run", "--json",
                                              "--seconds", "1", "--name", segments.name()])
    assert report["state"] == "stopped", report["notes"]
    assert report["memory"]["backing"] == "hugetlbfs"
    assert report["memory"]["page_size"] == HUGE_PAGE_SIZE
    assert report["lost"] == 0 and report["ticks"] > 0
