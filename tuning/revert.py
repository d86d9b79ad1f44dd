"""revert: put back exactly what the state file saved, newest change first.

A file is restored to its saved bytes and read back to prove it; a file tuning
created is removed; a mount tuning made is unmounted and its directory removed.
What cannot be restored stays in the state file, so revert can be run again.
"""

from __future__ import annotations

import os
from pathlib import Path

from tickpipe.tuning.file_items import restore_value
from tickpipe.tuning.findings import TuningError
from tickpipe.tuning.host import KERNEL_PREFIXES
from tickpipe.tuning.state import TuningState, decode_original, load_state, remove_state, save_state


class RestoreFailed(Exception):
    pass


def _restore_file(host, entry: dict, dry_run: bool) -> str:
    path = entry["path"]
    original = decode_original(entry["original"])
    current = host.read_bytes(path)
    if original is None:
        if current is None:
            return f"{path}: already absent"
        if not dry_run:
            host.remove(path)
        return f"{path}: removed (tuning created it)"
    if current == original:
        return f"{path}: already {_show(original)}"
    if path.startswith(KERNEL_PREFIXES):
        # A kernel file takes the value, not what it prints ("always [madvise] never" -> "madvise").
        data = restore_value(original.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    else:
        data = original
    if dry_run:
        return f"{path}: would restore {_show(original)} (now {_show(current)})"
    try:
        host.write(path, data)
    except OSError as err:
        raise RestoreFailed(f"{path}: cannot write {_show(data)}: {err.strerror or err}") from None
    after = host.read_bytes(path)
    if after != original:
        raise RestoreFailed(f"{path}: wrote {_show(data)} but it reads {_show(after)}, "
                            f"not the saved {_show(original)}")
    return f"{path}: restored {_show(original)} (was {_show(current)})"


def _show(raw: bytes | None) -> str:
    if raw is None:
        return "(none)"
    text = raw.decode("utf-8", "replace").strip()
    return text if "\n" not in text and len(text) < 60 else f"<{len(raw)} bytes>"


def _restore_mount(host, entry: dict, dry_run: bool) -> str:
    path = entry["path"]
    mounted = any(m.target == path and m.fstype == entry["fstype"] for m in host.mounts())
    if not mounted:
        return f"{path}: not mounted any more"
    if dry_run:
        return f"{path}: would unmount {entry['fstype']}"
    try:
        host.syscalls.unmount(host.path(path))
    except OSError as err:
        raise RestoreFailed(f"{path}: cannot unmount ({err.strerror or err}); stop the engine using it first") from None
    return f"{path}: unmounted {entry['fstype']}"


def _restore_mkdir(host, entry: dict, dry_run: bool) -> str:
    path = entry["path"]
    if not host.is_dir(path):
        return f"{path}: already removed"
    if dry_run:
        return f"{path}: would remove the directory tuning made"
    try:
        os.rmdir(host.path(path))
    except OSError as err:
        raise RestoreFailed(f"{path}: cannot remove the directory tuning made: {err.strerror or err}") from None
    return f"{path}: removed the directory tuning made"


def _restore_owner(host, entry: dict, dry_run: bool) -> str:
    path = entry["path"]
    if dry_run:
        return f"{path}: would restore owner {entry['uid']}:{entry['gid']} mode {entry['mode']:o}"
    try:
        os.chown(host.path(path), entry["uid"], entry["gid"])
        os.chmod(host.path(path), entry["mode"])
    except OSError as err:
        raise RestoreFailed(f"{path}: cannot restore its owner: {err.strerror or err}") from None
    return f"{path}: owner {entry['uid']}:{entry['gid']}, mode {entry['mode']:o} restored"


RESTORERS = {"file": _restore_file, "mount": _restore_mount, "mkdir": _restore_mkdir, "owner": _restore_owner}


def revert_changes(host, state_file: Path, echo, dry_run: bool = False) -> bool:
    """Restore everything in the state file; True when all of it came back (state file removed)."""
    state = load_state(state_file)
    if state is None:
        raise TuningError(f"nothing to revert: no state file at {state_file} (tune apply was not run, "
                          "or was already reverted)")
    echo(f"Restoring {len(state.changes)} saved value(s) from {state_file} (saved {state.saved_at})")
    pending = list(reversed(state.changes))
    failures: list[tuple[dict, str]] = []
    # Two passes: a restore may depend on a later one (intel_pstate refuses an EPP
    # write until the governor is no longer performance).
    for _ in range(2):
        failures = []
        for entry in pending:
            try:
                echo(f"  {RESTORERS[entry['kind']](host, entry, dry_run)}")
            except RestoreFailed as err:
                failures.append((entry, str(err)))
        pending = [entry for entry, _ in failures]
        if not pending or dry_run:
            break
    if dry_run:
        return True
    if failures:
        for _, reason in failures:
            echo(f"  NOT RESTORED {reason}")
        save_state(state_file, TuningState(list(reversed(pending)), state.saved_at))
        echo(f"{len(failures)} value(s) kept in {state_file}; fix the cause and run revert again")
        return False
    remove_state(state_file)
    echo(f"Everything restored; removed {state_file}")
    return True
