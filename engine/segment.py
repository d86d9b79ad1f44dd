"""One named shared-memory segment per engine: create, attach, unlink.

Backing, in order of preference: a file on a hugetlbfs mount with enough free
huge pages (explicit 2 MiB pages), else POSIX shm (/dev/shm) with MADV_HUGEPAGE
asked for. Either way the page size actually obtained is read back from
/proc/self/smaps. Pages are pre-faulted, and locked when asked.

Layout: the header (shm_layouts/segment_header.py) in the first 4 KiB, then
the sections in the order the creator lists them. The creator writes the
header and its sections, then calls `mark_ready()`, which stores the layout
version last: a segment whose version word is 0 is still being initialised.

Attaching checks, before trusting any offset: the file is at least a header
long (fstat), the magic, the version (0 = initialising), the layout hash, and
that total_size equals the file size. Every failure is a SegmentError with one
line that says what is wrong; nothing past the validated size is ever read, so
a truncated file cannot raise SIGBUS.
"""

import errno
import mmap
import os
import re
import stat
import time
from dataclasses import dataclass

import numpy as np
import posix_ipc

from tickpipe import shm_layouts
from tickpipe.engine import hugepages
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.dir_entry import entry_text
from tickpipe.engine.procinfo import own_identity
from tickpipe.shm_layouts.segment_header import (
    BACKING_HUGETLBFS, BACKING_NAMES, BACKING_SHM, HEADER_REGION_SIZE,
    LAYOUT_HASH_OFFSET, LAYOUT_VERSION_OFFSET, MAX_SECTIONS, SEGMENT_HEADER_DTYPE,
    SEGMENT_MAGIC, TOTAL_SIZE_OFFSET, check_section_count,
)

SHM_DIR = "/dev/shm"
FILE_PREFIX = "tickpipe."
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")
SECTION_ALIGN = 64


class SegmentError(Exception):
    """A segment cannot be created or attached; the message is one line for a person."""


class SegmentNotFound(SegmentError):
    pass


class SegmentExists(SegmentError):
    pass


def check_engine_name(name: str) -> None:
    """Raise SegmentError unless `name` is 1-31 chars of a-z, 0-9, '-', '_' (first: a-z0-9)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SegmentError(
            f"bad engine name {name!r}: use 1-31 characters of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit")


@dataclass(frozen=True)
class SectionSpec:
    """A region the creator asks for: a name (<= 15 chars), a size, an alignment."""
    name: str
    size: int
    align: int = SECTION_ALIGN


@dataclass(frozen=True)
class SegmentLocation:
    name: str
    path: str
    backing: int


def plan_sections(specs: list[SectionSpec]) -> tuple[dict[str, tuple[int, int]], int]:
    """Offsets for the sections in order after the header; returns ({name: (offset, size)}, end)."""
    try:
        check_section_count(len(specs))
    except ValueError as exc:
        raise SegmentError(str(exc)) from None
    offset, table = HEADER_REGION_SIZE, {}
    for spec in specs:
        if len(spec.name.encode()) > 15 or spec.name in table:
            raise SegmentError(f"bad or duplicate section name {spec.name!r}")
        if spec.size <= 0 or spec.align < SECTION_ALIGN or spec.align & (spec.align - 1):
            raise SegmentError(f"section {spec.name!r}: size {spec.size} / align {spec.align} invalid")
        offset = (offset + spec.align - 1) // spec.align * spec.align
        table[spec.name] = (offset, spec.size)
        offset += spec.size
    return table, offset


class Segment:
    """A mapped segment. `buf` is a uint8 view of all of it; read-only when attached so."""

    def __init__(self, location: SegmentLocation, mm: mmap.mmap, size: int, readonly: bool):
        self.location = location
        self.name = location.name
        self.path = location.path
        self.size = size
        self.readonly = readonly
        self._mmap = mm
        self.buf = np.frombuffer(mm, dtype=np.uint8, count=size)
        self.header = self.buf[:SEGMENT_HEADER_DTYPE.itemsize].view(SEGMENT_HEADER_DTYPE)[0]

    @property
    def base_address(self) -> int:
        return self.buf.ctypes.data

    @property
    def backing(self) -> str:
        return BACKING_NAMES.get(int(self.header["backing"]), "unknown")

    @property
    def page_size(self) -> int:
        return int(self.header["page_size"])

    @property
    def locked(self) -> bool:
        return bool(self.header["locked"])

    def sections(self) -> dict[str, tuple[int, int]]:
        count = int(self.header["section_count"])
        return {entry["name"].decode(): (int(entry["offset"]), int(entry["size"]))
                for entry in self.header["sections"][:count]}

    def section(self, name: str) -> tuple[int, int]:
        try:
            return self.sections()[name]
        except KeyError:
            raise SegmentError(f"segment {self.name!r} has no section {name!r}") from None

    def view(self, name: str, dtype, count: int | None = None, byte_offset: int = 0) -> np.ndarray:
        """A numpy view of (part of) a section as `dtype`."""
        offset, size = self.section(name)
        dtype = np.dtype(dtype)
        available = (size - byte_offset) // dtype.itemsize
        count = available if count is None else count
        if byte_offset < 0 or count > available:
            raise SegmentError(f"section {name!r}: {count} x {dtype.itemsize} B at +{byte_offset} "
                               f"does not fit its {size} B")
        start = offset + byte_offset
        return self.buf[start:start + count * dtype.itemsize].view(dtype)

    def mark_ready(self) -> None:
        """Publish the layout version (release): the segment is now attachable."""
        if self.readonly:
            raise SegmentError(f"segment {self.name!r} is mapped read-only: only its creator "
                               "marks it ready")
        lib.tp_store_release_u32(self.base_address + LAYOUT_VERSION_OFFSET, shm_layouts.LAYOUT_VERSION)

    def close(self) -> None:
        """Drop this process's mapping (views still held elsewhere keep it alive)."""
        self.header = None
        self.buf = None
        try:
            self._mmap.close()
        except BufferError:
            pass  # numpy views still export the buffer; it unmaps when they go


def segment_locations(mounts: list[hugepages.HugetlbfsMount] | None = None) -> list[SegmentLocation]:
    """Every tickpipe segment file on this host: /dev/shm and every hugetlbfs mount."""
    found = []
    dirs = [(SHM_DIR, BACKING_SHM)] + [
        (m.path, BACKING_HUGETLBFS) for m in (hugepages.hugetlbfs_mounts() if mounts is None else mounts)]
    for directory, backing in dirs:
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry[len(FILE_PREFIX):]
            if entry.startswith(FILE_PREFIX) and NAME_PATTERN.fullmatch(name):
                found.append(SegmentLocation(name, os.path.join(directory, entry), backing))
    return found


def find_segment(name: str) -> SegmentLocation:
    check_engine_name(name)
    for location in segment_locations():
        if location.name == name:
            return location
    raise SegmentNotFound(f"no tickpipe engine named {name!r} on this host "
                          f"(looked in {SHM_DIR} and the hugetlbfs mounts)")


def create_segment(name: str, specs: list[SectionSpec], *, lock: bool = False,
                   use_hugetlbfs: bool = True) -> Segment:
    """Create, map, pre-fault (and lock) a new segment; returns it not yet ready.

    The caller initialises its sections, then calls `segment.mark_ready()`.
    Raises SegmentExists when a segment of that name is already there.
    """
    check_engine_name(name)
    table, end = plan_sections(specs)
    for location in segment_locations():
        if location.name == name:
            raise SegmentExists(f"a segment named {name!r} already exists at {location.path} "
                                f"({entry_text(location.path)})")
    mm, size, location = None, 0, None
    if use_hugetlbfs:
        mm, size, location = _create_on_hugetlbfs(name, end)
    if mm is None:
        mm, size, location = _create_on_shm(name, end)
    segment = Segment(location, mm, size, readonly=False)
    try:
        _prefault(segment)
        locked = False
        if lock:
            errno_value = lib.tp_mlock(segment.base_address, size)
            if errno_value:
                raise SegmentError(f"could not lock the {size >> 20} MiB segment in memory: "
                                   f"{os.strerror(errno_value)} (raise RLIMIT_MEMLOCK, see `tickpipe tune`)")
            locked = True
        _write_header(segment, table, locked)
    except BaseException:
        segment.close()
        _remove(location)
        raise
    return segment


def _create_on_hugetlbfs(name: str, needed: int):
    for mount in hugepages.hugetlbfs_mounts():
        size = (needed + mount.page_size - 1) // mount.page_size * mount.page_size
        if hugepages.free_huge_pages(mount.page_size) < size // mount.page_size:
            continue
        path = os.path.join(mount.path, FILE_PREFIX + name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SegmentExists(f"a segment named {name!r} already exists at {path} "
                                f"({entry_text(path)})") from None
        except OSError:
            continue  # not writable for us: try the next mount, then shm
        try:
            os.ftruncate(fd, size)
            # hugetlbfs reserves the pages at mmap time: a shortage fails here,
            # with ENOMEM, instead of as SIGBUS on first touch.
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        except OSError:
            os.close(fd)
            os.unlink(path)
            continue
        os.close(fd)
        return mm, size, SegmentLocation(name, path, BACKING_HUGETLBFS)
    return None, 0, None


# madvise(MADV_POPULATE_WRITE) (Linux 5.14): fault every page in now, and fail with
# an error where touching a page would raise SIGBUS (a full /dev/shm).
MADV_POPULATE_WRITE = 23


def _create_on_shm(name: str, needed: int):
    size = (needed + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    shm_name = "/" + FILE_PREFIX + name
    try:
        shm = posix_ipc.SharedMemory(shm_name, flags=posix_ipc.O_CREX, mode=0o600, size=size)
    except posix_ipc.ExistentialError:
        path = os.path.join(SHM_DIR, FILE_PREFIX + name)
        raise SegmentExists(f"a segment named {name!r} already exists at {path} "
                            f"({entry_text(path)})") from None
    try:
        mm = mmap.mmap(shm.fd, size, flags=mmap.MAP_SHARED)
        try:
            mm.madvise(mmap.MADV_HUGEPAGE)  # a request; smaps says what we got
        except (AttributeError, OSError):
            pass
        _populate(mm, shm.fd, size)
    except OSError as exc:
        shm.unlink()  # nothing half-made may stay behind under the engine's name
        raise SegmentError(f"cannot make a {_size_text(size)} segment in {SHM_DIR}: "
                           f"{exc.strerror}") from None
    finally:
        shm.close_fd()
    return mm, size, SegmentLocation(name, os.path.join(SHM_DIR, FILE_PREFIX + name), BACKING_SHM)


def _populate(mm: mmap.mmap, fd: int, size: int) -> None:
    """Allocate every page now, as an error rather than a later SIGBUS when /dev/shm is
    full. Populating through the mapping, after MADV_HUGEPAGE, lets a huge=advise tmpfs
    give huge pages; fallocate (the fallback before Linux 5.14) allocates without a
    mapping, so there it would not."""
    try:
        mm.madvise(MADV_POPULATE_WRITE)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EFAULT/ENOMEM: no room for the pages
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
        os.posix_fallocate(fd, 0, size)  # an older kernel


def _size_text(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def _prefault(segment: Segment) -> None:
    # One write per 4 KiB page allocates every page now, not on the hot path.
    segment.buf[::mmap.PAGESIZE] = 0


def _write_header(segment: Segment, table: dict[str, tuple[int, int]], locked: bool) -> None:
    header = segment.header
    header["magic"] = SEGMENT_MAGIC
    header["header_size"] = HEADER_REGION_SIZE
    header["layout_hash"] = shm_layouts.layout_hash()
    header["total_size"] = segment.size
    pid, start_ticks = own_identity()
    header["owner_pid"] = pid
    header["owner_start_ticks"] = start_ticks
    header["owner_uid"] = os.getuid()
    header["created_unix_ns"] = time.time_ns()
    header["page_size"] = hugepages.mapping_page_size(segment.base_address)
    header["backing"] = segment.location.backing
    header["locked"] = int(locked)
    header["engine_name"] = segment.name.encode()
    header["section_count"] = len(table)
    for index, (section_name, (offset, size)) in enumerate(table.items()):
        entry = header["sections"][index]
        entry["name"] = section_name.encode()
        entry["offset"] = offset
        entry["size"] = size


def attach_segment(name: str, *, readonly: bool = False) -> Segment:
    """Map an existing, ready segment after validating it; raises SegmentError."""
    location = find_segment(name)
    return attach_location(location, readonly=readonly)


def attach_location(location: SegmentLocation, *, readonly: bool = False) -> Segment:
    name = location.name
    # O_NOFOLLOW: a symlink someone put under the engine's name is refused, never
    # followed to the file it names; O_NONBLOCK: a fifo there cannot hang the open.
    flags = (os.O_RDONLY if readonly else os.O_RDWR) | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(location.path, flags)
    except FileNotFoundError:
        raise SegmentNotFound(f"engine {name!r} went away ({location.path} is gone)") from None
    except PermissionError:
        raise SegmentError(f"permission denied on segment {name!r} ({location.path}): "
                           "it belongs to another user") from None
    except OSError:  # ELOOP (a symlink), EISDIR, ENXIO (a socket)...
        raise SegmentError(f"{location.path} is not a tickpipe segment: it is "
                           f"{entry_text(location.path)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SegmentError(f"{location.path} is not a tickpipe segment: it is "
                               f"{entry_text(location.path)}")
        file_size = st.st_size
        if file_size < HEADER_REGION_SIZE:
            raise SegmentError(f"segment {name!r} is truncated: {file_size} bytes, "
                               f"smaller than its {HEADER_REGION_SIZE}-byte header")
        prot = mmap.PROT_READ if readonly else mmap.PROT_READ | mmap.PROT_WRITE
        # A worker (read-write) maps every page now, so its hot loop takes no
        # page fault on first touch of a ring slot; a read-only tool stays light.
        flags = mmap.MAP_SHARED if readonly else mmap.MAP_SHARED | mmap.MAP_POPULATE
        mm = mmap.mmap(fd, file_size, flags=flags, prot=prot)
    finally:
        os.close(fd)
    segment = Segment(location, mm, file_size, readonly)
    try:
        _validate(segment, file_size)
    except SegmentError:
        segment.close()
        raise
    return segment


def _validate(segment: Segment, file_size: int) -> None:
    name, base = segment.name, segment.base_address
    magic = int(segment.buf[:8].view(np.uint64)[0])
    if magic != SEGMENT_MAGIC:
        raise SegmentError(f"{segment.path} is not a tickpipe segment (magic {magic:#018x})")
    version = lib.tp_load_acquire_u32(base + LAYOUT_VERSION_OFFSET)
    if version == 0:
        raise SegmentError(f"segment {name!r} is still being initialised "
                           "(or its creator died before it was ready)")
    if version != shm_layouts.LAYOUT_VERSION:
        raise SegmentError(f"segment {name!r} has layout version {version}; "
                           f"this tickpipe reads version {shm_layouts.LAYOUT_VERSION}")
    stored_hash = int(segment.buf[LAYOUT_HASH_OFFSET:LAYOUT_HASH_OFFSET + 8].view(np.uint64)[0])
    if stored_hash != shm_layouts.layout_hash():
        raise SegmentError(f"segment {name!r} has layout hash {stored_hash:#018x}, this tickpipe "
                           f"has {shm_layouts.layout_hash():#018x}: built by another tickpipe version")
    total_size = int(segment.buf[TOTAL_SIZE_OFFSET:TOTAL_SIZE_OFFSET + 8].view(np.uint64)[0])
    if total_size != file_size:
        raise SegmentError(f"segment {name!r} is truncated: its header says {total_size} bytes, "
                           f"the file has {file_size}")
    count = int(segment.header["section_count"])
    if count > MAX_SECTIONS:
        raise SegmentError(f"segment {name!r} is corrupt: section count {count} > {MAX_SECTIONS}")
    for section_name, (offset, size) in segment.sections().items():
        if offset < HEADER_REGION_SIZE or offset + size > file_size:
            raise SegmentError(f"segment {name!r} is corrupt: section {section_name!r} "
                               f"at {offset}+{size} lies outside its {file_size} bytes")


def unlink_segment(name: str) -> bool:
    """Remove the segment's name (mappings stay valid until unmapped); False if none."""
    check_engine_name(name)
    removed = False
    for location in segment_locations():
        if location.name == name:
            removed = _remove(location) or removed
    return removed


def _remove(location: SegmentLocation | None) -> bool:
    if location is None:
        return False
    try:
        os.unlink(location.path)
        return True
    except FileNotFoundError:
        return False
