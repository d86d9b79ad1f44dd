"""The state file: every original value apply replaced, so revert can put it back.

JSON, written atomically (temp file, fsync, rename) before apply's first write.
A file's original bytes are kept as text decoded with surrogateescape, so any
bytes, not just UTF-8, round-trip exactly. Entries, in the order apply made them:

  {"kind": "file",  "path": P, "original": TEXT or null (tuning created the file)}
  {"kind": "mkdir", "path": P}                      tuning created this directory
  {"kind": "mount", "path": P, "fstype": "hugetlbfs"}   tuning mounted this
  {"kind": "owner", "path": P, "uid": U, "gid": G, "mode": M}   original ownership
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tickpipe.tuning.findings import TuningError

DEFAULT_STATE_FILE = "/var/lib/tickpipe/tuning-state.json"
STATE_FORMAT = "tickpipe-tuning-state"
STATE_VERSION = 1


def encode_original(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def decode_original(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


@dataclass
class TuningState:
    changes: list[dict] = field(default_factory=list)
    saved_at: str = ""

    def has(self, kind: str, path: str) -> bool:
        return any(entry["kind"] == kind and entry["path"] == path for entry in self.changes)

    def record(self, entry: dict) -> bool:
        """Keep the first original of a path: a second apply must not save tuned values as originals."""
        if self.has(entry["kind"], entry["path"]):
            return False
        self.changes.append(entry)
        return True


def load_state(state_file: Path) -> TuningState | None:
    try:
        text = state_file.read_text()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise TuningError(f"cannot read the state file {state_file}: {err.strerror}") from None
    try:
        data = json.loads(text)
        if data.get("format") != STATE_FORMAT or data.get("version") != STATE_VERSION:
            raise ValueError("not a tickpipe tuning state file of version 1")
        return TuningState(changes=list(data["changes"]), saved_at=data.get("saved_at", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise TuningError(f"the state file {state_file} is damaged ({err}); "
                          "restore by hand from its contents") from None


def save_state(state_file: Path, state: TuningState) -> None:
    state.saved_at = state.saved_at or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    data = {"format": STATE_FORMAT, "version": STATE_VERSION, "saved_at": state.saved_at,
            "changes": state.changes}
    try:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=state_file.parent, prefix=f".{state_file.name}.")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, state_file)
    except OSError as err:
        raise TuningError(f"cannot write the state file {state_file}: {err.strerror or err}") from None


def remove_state(state_file: Path) -> None:
    state_file.unlink(missing_ok=True)
