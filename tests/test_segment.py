"""Segments: create, attach, unlink; every bad segment is one SegmentError line, never a crash."""

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import ringtest_loops as loops
from tickpipe import shm_layouts
from tickpipe.engine import hugepages
from tickpipe.engine.procinfo import is_alive, own_identity, process_start_ticks
from tickpipe.engine.segment import (
    SectionSpec, SegmentError, SegmentExists, SegmentNotFound, attach_segment, check_engine_name,
    create_segment, plan_sections, segment_locations, unlink_segment,
)
from tickpipe.shm_layouts.segment_header import HEADER_REGION_SIZE, MAX_SECTIONS


def attach_error(name, readonly=False) -> str:
    """The message of the SegmentError that attaching `name` raises (asserted one line)."""
    with pytest.raises(SegmentError) as caught:
        attach_segment(name, readonly=readonly)
    message = str(caught.value)
    assert "\n" not in message and message
    return message


# ---- good segments ---------------------------------------------------------------------

def test_created_segment_should_attach_with_its_sections_and_owner(segments):
    segment = segments.create({"a": 100, "b": 5000, "c": 64})
    attached = segments.keep(attach_segment(segment.name))
    assert attached.sections() == segment.sections()
    assert attached.size == segment.size == os.path.getsize(segment.path)
    header = attached.header
    assert (int(header["owner_pid"]), int(header["owner_start_ticks"])) == own_identity()
    assert int(header["owner_uid"]) == os.getuid()
    assert header["engine_name"].decode() == segment.name
    assert int(header["total_size"]) == segment.size
    assert int(header["layout_version"]) == shm_layouts.LAYOUT_VERSION
    assert attached.backing == "shm"
    assert attached.page_size in (4096, hugepages.DEFAULT_HUGE_PAGE_SIZE)
    assert not attached.locked
    assert stat.S_IMODE(os.stat(segment.path).st_mode) == 0o600


def test_sections_should_follow_the_header_in_order_each_aligned(segments):
    segment = segments.create([SectionSpec("a", 100), SectionSpec("b", 10), SectionSpec("ring", 64, 4096)])
    sections = segment.sections()
    assert sections["a"] == (HEADER_REGION_SIZE, 100)
    assert sections["b"] == (HEADER_REGION_SIZE + 128, 10)
    assert sections["ring"] == (2 * 4096, 64)
    assert segment.size == 3 * 4096


def test_writes_through_one_mapping_should_be_seen_through_another(segments):
    segment = segments.create({"data": 4096})
    attached = segments.keep(attach_segment(segment.name))
    mine, theirs = segment.view("data", np.uint64), attached.view("data", np.uint64)
    mine[:] = np.arange(512)
    assert theirs.tolist() == list(range(512))
    theirs[7] = 99
    assert int(mine[7]) == 99


def test_readonly_attach_should_give_a_buffer_that_cannot_be_written(segments):
    segment = segments.create({"data": 4096})
    segment.view("data", np.uint64)[0] = 5
    readonly = segments.keep(attach_segment(segment.name, readonly=True))
    assert readonly.readonly
    assert not readonly.buf.flags.writeable
    view = readonly.view("data", np.uint64)
    assert int(view[0]) == 5
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 6
    with pytest.raises(ValueError, match="read-only"):
        readonly.buf[0] = 1


def test_view_when_it_does_not_fit_the_section_then_segment_error_says_the_sizes(segments):
    segment = segments.create({"data": 640})
    assert segment.view("data", np.uint64).shape == (80,)
    assert segment.view("data", np.uint64, 10, byte_offset=560).shape == (10,)
    with pytest.raises(SegmentError, match="11 x 8 B at \\+560 does not fit its 640 B"):
        segment.view("data", np.uint64, 11, byte_offset=560)
    with pytest.raises(SegmentError, match="has no section 'nope'"):
        segment.view("nope", np.uint8)


def test_create_when_the_name_exists_then_segment_exists_names_it(segments):
    segment = segments.create()
    with pytest.raises(SegmentExists, match=repr(segment.name)):
        create_segment(segment.name, [SectionSpec("data", 64)], use_hugetlbfs=False)


def test_unlink_should_remove_the_name_and_say_whether_it_did(segments):
    segment = segments.create()
    assert segment.name in [location.name for location in segment_locations()]
    assert unlink_segment(segment.name) is True
    assert unlink_segment(segment.name) is False
    assert not os.path.exists(segment.path)
    with pytest.raises(SegmentNotFound):
        attach_segment(segment.name)
    segment.view("data", np.uint8)[0] = 1  # the mapping outlives the name


@pytest.mark.skipif(os.geteuid() != 0, reason="locking a segment needs root or RLIMIT_MEMLOCK")
def test_create_with_lock_should_lock_the_segment_and_say_so(segments):
    segment = segments.create({"data": 1 << 16}, lock=True)
    assert segment.locked
    assert segments.keep(attach_segment(segment.name)).locked


@pytest.mark.parametrize("specs, message", [
    ([SectionSpec("a", 64), SectionSpec("a", 64)], "duplicate section name 'a'"),
    ([SectionSpec("x" * 16, 64)], "section name 'x{16}'"),
    ([SectionSpec("a", 0)], "size 0"),
    ([SectionSpec("a", 64, 32)], "align 32"),
    ([SectionSpec("a", 64, 96)], "align 96"),
])
def test_plan_sections_when_a_section_is_bad_then_segment_error_names_it(specs, message):
    with pytest.raises(SegmentError, match=message):
        plan_sections(specs)


TOO_MANY_SECTIONS = [SectionSpec(f"s{i}", 64) for i in range(MAX_SECTIONS + 1)]


def test_plan_sections_when_there_are_too_many_then_the_error_names_the_count():
    with pytest.raises((SegmentError, ValueError), match=f"section count {MAX_SECTIONS + 1}"):
        plan_sections(TOO_MANY_SECTIONS)


def test_create_segment_when_there_are_too_many_sections_then_segment_error(segments):
    with pytest.raises(SegmentError):
        create_segment(segments.name(), TOO_MANY_SECTIONS, use_hugetlbfs=False)


# ---- names ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "0", "engine-1", "my_engine", "x" * 31, "a-_9"])
def test_check_engine_name_should_accept_good_names(name):
    check_engine_name(name)


@pytest.mark.parametrize("name", ["", "A", "../x", "a/b", "x" * 32, " a", "a.b", "-a", "_a", "a\n", None])
def test_engine_name_when_bad_then_segment_error_names_the_value(name):
    for call in (check_engine_name, attach_segment, unlink_segment,
                 lambda n: create_segment(n, [SectionSpec("data", 64)], use_hugetlbfs=False)):
        with pytest.raises(SegmentError, match="bad engine name") as caught:
            call(name)
        assert repr(name) in str(caught.value)


# ---- bad segments --------------------------------------------------------------------

def _missing(segments):
    return segments.name(), "no tickpipe engine named"


def _foreign_file(segments):
    name = segments.name()
    with open(segments.path(name), "wb") as f:
        f.write(b"\x01" * 8192)
    return name, "is not a tickpipe segment (magic 0x0101010101010101)"


def _truncate(segments, size):
    segment = segments.create({"data": 16384})
    segment.close()
    os.truncate(segment.path, size)
    return segment


def _smaller_than_its_header(segments):
    return _truncate(segments, 100).name, "truncated: 100 bytes, smaller than its 4096-byte header"


def _empty_file(segments):
    return _truncate(segments, 0).name, "truncated: 0 bytes"


def _shorter_than_total_size(segments):
    segment = _truncate(segments, 8192)
    return segment.name, f"header says {segment.size} bytes, the file has 8192"


def _longer_than_total_size(segments):
    segment = _truncate(segments, 1 << 20)
    return segment.name, f"header says {segment.size} bytes, the file has {1 << 20}"


def _half_initialised(segments):
    return segments.create(ready=False).name, "still being initialised"


def _with_header(**fields):
    def make(segments):
        segment = segments.create({"data": 4096})
        for field, value in fields.items():
            segment.header[field] = value
        return segment.name
    return make


def _other_version(segments):
    return _with_header(layout_version=shm_layouts.LAYOUT_VERSION + 1)(segments), \
        f"layout version {shm_layouts.LAYOUT_VERSION + 1}; this tickpipe reads version"


def _other_hash(segments):
    other = shm_layouts.layout_hash() ^ 0xFF
    return _with_header(layout_hash=other)(segments), f"layout hash {other:#018x}"


def _too_many_sections(segments):
    return _with_header(section_count=MAX_SECTIONS + 1)(segments), f"section count {MAX_SECTIONS + 1} > {MAX_SECTIONS}"


def _section_outside(offset, size):
    def make(segments):
        segment = segments.create({"data": 4096})
        entry = segment.header["sections"][0]
        entry["offset"] = segment.size if offset is None else offset
        entry["size"] = size
        return segment.name, "section 'data' at"
    return make


BAD_SEGMENTS = {
    "not-found": _missing,
    "foreign-magic": _foreign_file,
    "smaller-than-header": _smaller_than_its_header,
    "empty-file": _empty_file,
    "shorter-than-total-size": _shorter_than_total_size,
    "longer-than-total-size": _longer_than_total_size,
    "half-initialised": _half_initialised,
    "other-layout-version": _other_version,
    "other-layout-hash": _other_hash,
    "too-many-sections": _too_many_sections,
    "section-past-the-end": _section_outside(None, 64),
    "section-overlapping-the-end": _section_outside(4096, 1 << 40),
    "section-inside-the-header": _section_outside(64, 64),
}


@pytest.mark.parametrize("readonly", [False, True], ids=["rw", "ro"])
@pytest.mark.parametrize("case", sorted(BAD_SEGMENTS))
def test_attach_when_the_segment_is_bad_then_one_line_segment_error_says_why(segments, case, readonly):
    name, expected = BAD_SEGMENTS[case](segments)
    message = attach_error(name, readonly)
    assert expected in message
    assert repr(name) in message or name in message


PERMISSION_CHECK = """
import os
from tickpipe.engine.segment import SegmentError, attach_segment
os.setgid(65534)
os.setuid(65534)
for readonly in (False, True):
    try:
        attach_segment({name!r}, readonly=readonly)
        print("attached")
    except SegmentError as exc:
        print(exc)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own the segment and drop to uid 65534")
def test_attach_when_another_user_owns_the_segment_then_permission_denied(segments):
    segment = segments.create()
    done = loops.python("-c", PERMISSION_CHECK.format(name=segment.name))
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(f"permission denied on segment {segment.name!r}")
    assert "Traceback" not in done.stderr


# ---- owners and pages ----------------------------------------------------------------

def test_is_alive_should_tell_a_live_process_from_a_reused_or_dead_pid():
    pid, ticks = own_identity()
    assert is_alive(pid, ticks)
    assert not is_alive(pid, ticks + 1)
    assert not is_alive(0, ticks)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=loops.SIDE_TIMEOUT_S)
    assert process_start_ticks(child.pid) is None


def test_hugetlbfs_mounts_should_read_each_mount_and_its_page_size(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "proc /proc proc rw 0 0\n"
        "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
        "none /mnt/huge\\040pages hugetlbfs rw,pagesize=1G 0 0\n"
        "none /mnt/default hugetlbfs rw 0 0\n")
    found = hugepages.hugetlbfs_mounts(str(mounts))
    assert found[:2] == [hugepages.HugetlbfsMount("/dev/hugepages", 2 << 20),
                         hugepages.HugetlbfsMount("/mnt/huge pages", 1 << 30)]
    assert found[2].path == "/mnt/default" and found[2].page_size == hugepages.default_huge_page_size()
    assert hugepages.hugetlbfs_mounts(str(tmp_path / "missing")) == []


SMAPS = """\
7f0000000000-7f0000400000 rw-s 00000000 00:1a 12 /dev/shm/tickpipe.x
Size:               4096 kB
KernelPageSize:        4 kB
ShmemPmdMapped:     {pmd} kB
7f0000400000-7f0000600000 rw-s 00000000 00:2a 13 /dev/hugepages/tickpipe.y
Size:               2048 kB
KernelPageSize:     2048 kB
"""


@pytest.mark.parametrize("address, pmd, page_size", [
    (0x7F0000000000, 0, 4096),
    (0x7F0000000000, 2048, 4096),  # only half of it on huge pages
    (0x7F0000000000, 4096, 2 << 20),
    (0x7F0000400000, 0, 2 << 20),
    (0x100, 0, 4096),  # no such mapping
])
def test_mapping_page_size_should_read_what_the_kernel_gave_from_smaps(tmp_path, address, pmd, page_size):
    smaps = tmp_path / "smaps"
    smaps.write_text(SMAPS.format(pmd=pmd))
    assert hugepages.mapping_page_size(address, str(smaps)) == page_size


def test_huge_page_sizes_should_parse_kernel_units():
    assert hugepages._parse_size("2M") == 2 << 20
    assert hugepages._parse_size("1GB") == 1 << 30
    assert hugepages._parse_size("64k") == 64 << 10
    assert hugepages._parse_size("4096") == 4096
    assert hugepages.meminfo_value("MemTotal") > 0
    assert hugepages.meminfo_value("NoSuchKey") is None


def test_mark_ready_when_attached_read_only_then_segment_error_not_a_crash(segments):
    segment = segments.create(ready=True)
    reader = segments.keep(attach_segment(segment.name, readonly=True))
    with pytest.raises(SegmentError, match="read-only"):
        reader.mark_ready()
