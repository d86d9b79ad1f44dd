"""Every engine segment on this host, alive or dead, and removing the dead ones.

Listing never maps a segment: it preads the header (and the control block's
state word) through a file descriptor, bounded by fstat, so a truncated,
half-made or foreign file is described, never trusted, and cannot SIGBUS.
An owner is alive only when its pid runs *and* has the start time the header
recorded, so a reused pid is not taken for the owner.
"""

import os
import stat
import time
from dataclasses import asdict, dataclass

import numpy as np

from tickpipe import shm_layouts
from tickpipe.engine.procinfo import is_alive
from tickpipe.engine.segment import SegmentLocation, segment_locations
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_STATE_NAMES, ENGINE_STATE_OFFSET
from tickpipe.shm_layouts.segment_header import BACKING_NAMES, SEGMENT_HEADER_DTYPE, SEGMENT_MAGIC

# What `kind` says about a file named like a segment.
SEGMENT = "segment"            # a ready tickpipe segment of this layout version
INITIALISING = "initialising"  # version word still 0: being made, or its maker died
OTHER_VERSION = "other-version"
NOT_TICKPIPE = "not-tickpipe"  # too short, or wrong magic
UNREADABLE = "unreadable"      # no permission to read it


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    path: str
    backing: str
    kind: str
    size: int              # bytes, from fstat
    file_uid: int
    inode: int
    owner_pid: int | None
    owner_uid: int | None
    alive: bool | None     # None: cannot tell (not a tickpipe segment, unreadable, no owner yet)
    state: str | None      # the control block's engine state, when readable
    page_size: int | None
    age_s: float | None    # since the creator wrote the header

    def as_dict(self) -> dict:
        return asdict(self)


def list_segments(locations: list[SegmentLocation] | None = None) -> list[SegmentInfo]:
    """Describe every segment file in /dev/shm and on every hugetlbfs mount."""
    found = []
    for location in segment_locations() if locations is None else locations:
        info = describe(location)
        if info is not None:
            found.append(info)
    return found


def describe(location: SegmentLocation) -> SegmentInfo | None:
    """What the file at `location` is, read through a descriptor; None if it vanished."""
    try:
        fd = os.open(location.path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        try:
            st = os.stat(location.path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return _info(location, UNREADABLE, st)
    try:
        st = os.fstat(fd)
        raw = os.pread(fd, SEGMENT_HEADER_DTYPE.itemsize, 0) if stat.S_ISREG(st.st_mode) else b""
        if len(raw) < SEGMENT_HEADER_DTYPE.itemsize:
            return _info(location, NOT_TICKPIPE, st)
        header = np.frombuffer(raw, dtype=SEGMENT_HEADER_DTYPE)[0]
        if int(header["magic"]) != SEGMENT_MAGIC:
            return _info(location, NOT_TICKPIPE, st)
        version = int(header["layout_version"])
        kind = INITIALISING if version == 0 else \
            SEGMENT if version == shm_layouts.LAYOUT_VERSION else OTHER_VERSION
        pid = int(header["owner_pid"])
        created_ns = int(header["created_unix_ns"])
        return SegmentInfo(
            name=location.name, path=location.path,
            backing=BACKING_NAMES.get(int(header["backing"]), "unknown"),
            kind=kind, size=st.st_size, file_uid=st.st_uid, inode=st.st_ino,
            owner_pid=pid, owner_uid=int(header["owner_uid"]),
            # The creator writes the magic a moment before its pid: no pid yet, no verdict.
            alive=is_alive(pid, int(header["owner_start_ticks"])) if pid else None,
            state=_engine_state(fd, header, st.st_size) if kind == SEGMENT else None,
            page_size=int(header["page_size"]) or None,
            age_s=round((time.time_ns() - created_ns) / 1e9, 1) if created_ns > 0 else None)
    finally:
        os.close(fd)


def _info(location: SegmentLocation, kind: str, st: os.stat_result) -> SegmentInfo:
    return SegmentInfo(location.name, location.path, BACKING_NAMES.get(location.backing, "unknown"),
                       kind, st.st_size, st.st_uid, st.st_ino, None, None, None, None, None, None)


def _engine_state(fd: int, header, file_size: int) -> str | None:
    """The control block's engine state word, if the section table names one inside the file."""
    for entry in header["sections"][:min(int(header["section_count"]), len(header["sections"]))]:
        if entry["name"] != b"control":
            continue
        offset = int(entry["offset"]) + ENGINE_STATE_OFFSET
        if int(entry["size"]) < CONTROL_DTYPE.itemsize or offset + 4 > file_size:
            return None
        word = os.pread(fd, 4, offset)
        return ENGINE_STATE_NAMES.get(int.from_bytes(word, "little"), "?") if len(word) == 4 else None
    return None


@dataclass(frozen=True)
class CleanupResult:
    info: SegmentInfo
    removed: bool
    reason: str  # why it was (or was not) removed, for a person

    def as_dict(self) -> dict:
        return {"name": self.info.name, "path": self.info.path, "removed": self.removed,
                "reason": self.reason}


def cleanup_dead(*, dry_run: bool = False,
                 locations: list[SegmentLocation] | None = None) -> list[CleanupResult]:
    """Remove every tickpipe segment whose owner is dead; never a live one.

    Files that are not tickpipe segments (or cannot be read) are left alone and
    reported. Just before each unlink the owner is checked again on the same
    inode, so an engine that started meanwhile under that name is not touched.
    """
    results = []
    for info in list_segments(locations):
        if info.kind in (NOT_TICKPIPE, UNREADABLE):
            results.append(CleanupResult(info, False, f"left alone: {info.kind.replace('-', ' ')}"))
        elif info.alive:
            results.append(CleanupResult(info, False, f"left alone: owner pid {info.owner_pid} "
                                                      "is running"))
        elif info.alive is None:
            results.append(CleanupResult(info, False, "left alone: being created (no owner yet)"))
        elif dry_run:
            results.append(CleanupResult(info, False, f"would remove: owner pid {info.owner_pid} "
                                                      "is gone"))
        else:
            results.append(remove_if_still_dead(info))
    return results


def remove_if_still_dead(info: SegmentInfo) -> CleanupResult:
    """Unlink a dead engine's segment, after checking the owner again on the same inode."""
    again = describe(SegmentLocation(info.name, info.path, 0))
    if again is None:
        return CleanupResult(info, False, "already gone")
    if again.alive is not False or again.inode != info.inode:
        return CleanupResult(info, False, "left alone: a new engine took the name meanwhile")
    try:
        os.unlink(info.path)
    except FileNotFoundError:
        return CleanupResult(info, False, "already gone")
    except PermissionError:
        return CleanupResult(info, False, "not removed: permission denied (it belongs to "
                                          f"uid {info.file_uid})")
    return CleanupResult(info, True, f"removed: owner pid {info.owner_pid} is gone")
