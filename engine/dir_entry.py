"""A directory entry described without following it: what it is and whose.

For the one-line messages about a name someone else holds under /dev/shm or a
hugetlbfs mount (engine/segment.py, engine/cleanup.py): lstat and readlink
only, so a symlink planted at an engine's name is described, never followed.
"""

import os
import pwd
import stat


def user_name(uid: int) -> str:
    """The login name of `uid`, or "uid N" when the password database has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


_FILE_TYPES = ((stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"), (stat.S_ISDIR, "directory"),
               (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"))


def file_type(st: os.stat_result) -> str:
    """What an lstat result is: file, symlink, directory, fifo, socket or device."""
    return next((name for is_type, name in _FILE_TYPES if is_type(st.st_mode)), "device")


def entry_text(path: str) -> str:
    """What the directory entry at `path` is and whose, for a one-line message, e.g.
    "a symlink to '/etc/passwd' owned by user nobody (uid 65534)". lstat and readlink
    only: a link is described, never followed."""
    try:
        st = os.lstat(path)
    except OSError:
        return "an entry that is gone"
    kind = file_type(st)
    what = f"a {kind}"
    if kind == "symlink":
        try:
            what += f" to {ascii(os.readlink(path))}"  # ascii(): a hostile target stays one line
        except OSError:
            pass
    return f"{what} owned by user {user_name(st.st_uid)} (uid {st.st_uid})"
