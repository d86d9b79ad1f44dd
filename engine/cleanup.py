"""Every engine segment on this host, alive or dead, and removing the dead ones.

Listing never maps a segment: it preads the header (and the control block's
state word) through a file descriptor, bounded by fstat, so a truncated,
half-made or foreign file is described, never trusted, and cannot SIGBUS.
An owner is alive only when its pid runs *and* has the start time the header
recorded, so a reused pid is not taken for the owner (a zombie is dead).

Other local users can put anything under an engine's name in /dev/shm (a file,
a symlink to /etc/passwd, a fifo): it is described with whose it is, never
followed (every open is O_NOFOLLOW | O_NONBLOCK), and removed only when root
asks for that name explicitly (`tickpipe cleanup NAME --force`), by unlinking
the directory entry itself.
"""

import os
import stat
import time
from dataclasses import asdict, dataclass

import numpy as np

from tickpipe import shm_layouts
from tickpipe.engine.procinfo import is_alive
from tickpipe.engine.dir_entry import entry_text, file_type, user_name
from tickpipe.engine.segment import SegmentLocation, segment_locations
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_STATE_NAMES, ENGINE_STATE_OFFSET
from tickpipe.shm_layouts.segment_header import BACKING_NAMES, SEGMENT_HEADER_DTYPE, SEGMENT_MAGIC

# What `kind` says about a file named like a segment.
SEGMENT = "segment"            # a ready tickpipe segment of this layout version
INITIALISING = "initialising"  # version word still 0: being made, or its maker died
OTHER_VERSION = "other-version"
NOT_TICKPIPE = "not-tickpipe"  # too short, wrong magic, or no regular file (a symlink, a fifo...)
UNREADABLE = "unreadable"      # no permission to read it

DEAD = "dead"  # the state `ls` shows for an engine whose owner is gone


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
    state: str | None      # the engine state: "dead" once the owner is gone, else the recorded one
    page_size: int | None
    age_s: float | None    # since the creator wrote the header
    recorded_state: str | None = None  # the control block's state word, as the engine left it
    file_type: str = "file"            # of the directory entry (lstat): file, symlink, fifo...
    file_user: str = ""                # login name of file_uid

    @property
    def is_live_engine(self) -> bool:
        """A running engine's own segment. A file that names a running owner but belongs
        to another uid than that owner's is a claim, not an engine: a real segment is
        created by its owner."""
        return bool(self.alive) and self.file_uid == self.owner_uid

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
        # O_NOFOLLOW: a symlink is described, not followed; O_NONBLOCK: a fifo does not hang us.
        fd = os.open(location.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        try:
            st = os.lstat(location.path)
        except FileNotFoundError:
            return None
        # EACCES: a file we may not read; ELOOP (a symlink), ENXIO (a socket): no segment.
        unreadable = isinstance(exc, PermissionError) and stat.S_ISREG(st.st_mode)
        return _info(location, UNREADABLE if unreadable else NOT_TICKPIPE, st)
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
        # The creator writes the magic a moment before its pid: no pid yet, no verdict.
        alive = is_alive(pid, int(header["owner_start_ticks"])) if pid else None
        recorded = _engine_state(fd, header, st.st_size) if kind == SEGMENT else None
        return SegmentInfo(
            name=location.name, path=location.path,
            backing=BACKING_NAMES.get(int(header["backing"]), "unknown"),
            kind=kind, size=st.st_size, file_uid=st.st_uid, inode=st.st_ino,
            owner_pid=pid, owner_uid=int(header["owner_uid"]), alive=alive,
            # The segment keeps the last state its owner wrote ("running" after a SIGKILL):
            # once the owner is gone, that is history, not the engine's state.
            state=DEAD if alive is False else recorded, recorded_state=recorded,
            page_size=int(header["page_size"]) or None,
            age_s=round((time.time_ns() - created_ns) / 1e9, 1) if created_ns > 0 else None,
            file_type=file_type(st), file_user=user_name(st.st_uid))
    finally:
        os.close(fd)


def _info(location: SegmentLocation, kind: str, st: os.stat_result) -> SegmentInfo:
    return SegmentInfo(location.name, location.path, BACKING_NAMES.get(location.backing, "unknown"),
                       kind, st.st_size, st.st_uid, st.st_ino, None, None, None, None, None, None,
                       file_type=file_type(st), file_user=user_name(st.st_uid))


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
                "reason": self.reason, "file_type": self.info.file_type,
                "file_user": self.info.file_user, "file_uid": self.info.file_uid}


def cleanup_dead(*, dry_run: bool = False, force: bool = False,
                 locations: list[SegmentLocation] | None = None) -> list[CleanupResult]:
    """Remove every tickpipe segment whose owner is dead; never a live one.

    Files that are not tickpipe segments (or cannot be read) are left alone and
    reported, with whose they are. Just before each unlink the owner is checked
    again on the same inode, so an engine that started meanwhile under that name
    is not touched. With `force` (for names a person gave), whatever holds the
    name is removed unless it is a live engine's own segment: see take_back.
    """
    results = []
    for info in list_segments(locations):
        if force:
            results.append(take_back(info, dry_run=dry_run))
        elif info.kind in (NOT_TICKPIPE, UNREADABLE):
            what = "not a tickpipe segment" if info.kind == NOT_TICKPIPE else "cannot be read"
            results.append(CleanupResult(info, False, f"left alone: {what}, {whose(info)}"
                                                      f"{force_hint(info.name)}"))
        elif info.alive:
            results.append(CleanupResult(info, False, f"left alone: owner pid {info.owner_pid} "
                                                      "is running"))
        elif info.alive is None:
            results.append(CleanupResult(info, False, "left alone: being created (no owner yet)"
                                                      f"{force_hint(info.name)}"))
        elif dry_run:
            results.append(CleanupResult(info, False, f"would remove: owner pid {info.owner_pid} "
                                                      "is gone"))
        else:
            results.append(remove_if_still_dead(info))
    return results


def force_hint(name: str) -> str:
    return f"; as root, `tickpipe cleanup {name} --force` takes the name back"


def whose(info: SegmentInfo) -> str:
    """"a symlink to '/etc/passwd' owned by user nobody (uid 65534)", from lstat now."""
    return entry_text(info.path)


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
        return CleanupResult(info, False, "not removed: permission denied (it belongs to user "
                                          f"{info.file_user or user_name(info.file_uid)}, "
                                          f"uid {info.file_uid})")
    return CleanupResult(info, True, f"removed: owner pid {info.owner_pid} is gone")


def take_back(info: SegmentInfo, *, dry_run: bool = False) -> CleanupResult:
    """`tickpipe cleanup NAME --force`: free the name from whatever holds it (a foreign
    file, a symlink, a fifo, a half-made or dead engine's segment), except a live
    engine's own segment.

    Only the directory entry goes (unlink, or rmdir for an empty directory): a
    symlink's target is never opened, truncated or chmod'ed, and a file someone
    else still has open stays theirs. The entry is checked again (lstat, same inode)
    right before, so a live engine that took the name meanwhile is spared; what is
    left is the instant between that check and the unlink, which no path-based
    call can close.
    """
    if info.is_live_engine:
        return CleanupResult(info, False, f"left alone: engine {info.name!r} is running "
                                          f"(owner pid {info.owner_pid}); stop it first")
    what = whose(info)
    if dry_run:
        return CleanupResult(info, False, f"would remove: {what}")
    again = describe(SegmentLocation(info.name, info.path, 0))
    if again is None:
        return CleanupResult(info, False, "already gone")
    if again.inode != info.inode or again.is_live_engine:
        return CleanupResult(info, False, "left alone: it changed meanwhile; run cleanup again")
    try:
        if again.file_type == "directory":
            os.rmdir(info.path)  # only an empty one: nothing inside is walked or followed
        else:
            os.unlink(info.path)  # the entry itself, never what a link points to
    except FileNotFoundError:
        return CleanupResult(info, False, "already gone")
    except PermissionError:
        return CleanupResult(info, False, f"not removed: permission denied on {what}; "
                                          "only root (or its owner) may remove it")
    except OSError as exc:  # ENOTEMPTY: a directory with something in it
        return CleanupResult(info, False, f"not removed: {what}: {exc.strerror}; "
                                          "remove it by hand")
    return CleanupResult(info, True, f"removed: {what}")


def name_taken_reason(info: SegmentInfo) -> str | None:
    """Why `tickpipe run` may not reclaim this entry for its engine, in one line that says
    whose it is and how root takes it back; None when it may (a dead engine's segment)."""
    name, path, what = info.name, info.path, whose(info)
    if info.kind == NOT_TICKPIPE:
        return (f"{path} ({what}) exists and is not a tickpipe segment; remove it or pick "
                f"another engine name{force_hint(name)}")
    if info.kind == UNREADABLE:
        return (f"{path} ({what}) exists and cannot be read; pick another engine name"
                f"{force_hint(name)}")
    if info.alive and not info.is_live_engine:
        return (f"{path} ({what}) names running pid {info.owner_pid} of uid {info.owner_uid} "
                "as its owner but is not that user's file; pick another engine name"
                f"{force_hint(name)}")
    if info.alive:
        return (f"engine {name!r} is already running (owner pid {info.owner_pid}, user "
                f"{user_name(info.owner_uid)}); stop it first or pick another name")
    if info.alive is None:
        return (f"segment {path} ({what}) is being created by another process; wait, or if "
                f"that process is gone{force_hint(name)}")
    return None
