"""The journal on disk: a run directory, and per ring a sequence of files.

    DIR/<run>/run.json              the run: engine, rings, instruments, config, clocks
    DIR/<run>/<ring>.000000.tpj     ring positions [0, per_file)
    DIR/<run>/<ring>.000001.tpj     [per_file, 2 per_file), ...

Each file is made whole when it is first needed (posix_fallocate: a full disk is
found then, as one error, not halfway through a batch), cut to the records it holds
when the journal closes at the end of the run (a short run's files are not 64 MB
each; a file cut short is read as far as it goes, and made whole again if a
restarted journal writes to it), and written with pwrite
from the ring's slots straight to the page cache (faster here than stores into a
shared mapping, whose first touch of each page is a fault). A record's place follows from its ring position
(shm_layouts/journal_file.py), so writing a position again writes the same bytes
to the same place: that is what lets a journal killed at any instruction resume
from its gate with nothing lost or doubled. The page cache holds what is written
the moment it is copied (a kill of any process loses nothing), and the kernel
writes it back. A crash of the machine itself may lose what it had not written back
yet: the journal does not fsync (`sync` after a run forces it).
"""

import json
import os
import time

import numpy as np

from tickpipe import shm_layouts
from tickpipe.engine.role import RoleError
from tickpipe.shm_layouts.journal_file import (
    JOURNAL_HEADER_DTYPE, JOURNAL_HEADER_FIXED, JOURNAL_MAGIC, JOURNAL_RECORDS_COUNT_OFFSET,
    JOURNAL_VERSION, file_name, header_size_for,
)

RUN_FILE = "run.json"
MIB = 1 << 20


class JournalError(RoleError):
    """A journal that cannot be written or read; str() is one line naming the path."""


def prepare_run(config: dict, say=None) -> None:
    """Make this run's directory under [journal] dir and describe the run in it; put
    where it is in config["journal_run"]. JournalError (one line) when it cannot."""
    from tickpipe.engine.engine_layout import engine_rings

    base = os.path.abspath(os.path.expanduser(config["journal"]["dir"]))
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{config['engine']['name']}"
    run_dir = os.path.join(base, run_id)
    suffix = 1
    try:
        os.makedirs(base, exist_ok=True)
        while True:
            try:
                os.mkdir(run_dir)
                break
            except FileExistsError:  # two runs in one second: the second gets -2
                suffix += 1
                run_dir = os.path.join(base, f"{run_id}-{suffix}")
        roll = config["journal"]["roll_mb"] * MIB
        rings = [{"ring": spec.section, "producer": spec.producer, "consumer": spec.consumer,
                  "record_kind": spec.record_kind, "record_size": spec.dtype.itemsize,
                  "per_file": max(1, roll // spec.dtype.itemsize)}
                 for spec in engine_rings(config)]
        run = {"run": os.path.basename(run_dir), "engine": config["engine"]["name"],
               "layout_version": shm_layouts.LAYOUT_VERSION,
               "layout_hash": shm_layouts.layout_hash(),
               "clock": {"unix_ns": time.time_ns(), "monotonic_ns": time.monotonic_ns()},
               "rings": rings, "instruments": config["instruments"],
               "config": {key: value for key, value in config.items()
                          if key not in ("tape", "journal_run")}}
        _write_json(os.path.join(run_dir, RUN_FILE), run)
    except OSError as exc:
        raise JournalError(f"journal dir {base!r}: cannot write a journal there: "
                           f"{exc.strerror}") from None
    config["journal_run"] = {"dir": run_dir, "per_file": {r["ring"]: r["per_file"] for r in rings}}


def _write_json(path: str, data: dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(path + ".tmp", path)


class RingFiles:
    """One ring's journal files, written in position order by the one journal process.

    `write(words, position)` copies whole records (uint64 rows) to their places,
    rolling to the next file as positions cross per_file; `commit(position)` then
    says, in each file's header, how many records it holds up to `position`."""

    def __init__(self, run_dir: str, ring: str, dtype: np.dtype, per_file: int,
                 description: dict):
        self.run_dir, self.ring, self.dtype = run_dir, ring, np.dtype(dtype)
        self.per_file = per_file
        self.record_words = self.dtype.itemsize // 8
        self.description = json.dumps(description, default=str).encode()
        self.index = -1
        self.file = None

    # -- one file ------------------------------------------------------------
    def _open(self, index: int, position: int) -> None:
        """Open file `index`, making it if it is not there; its header says it holds the
        records below `position` (a restart writes the rest again)."""
        self.close()
        path = os.path.join(self.run_dir, file_name(self.ring, index))
        self.header_size = header_size_for(len(self.description))
        size = self.header_size + self.per_file * self.dtype.itemsize
        first = index * self.per_file
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size < size:
                    os.posix_fallocate(fd, 0, size)
                if os.pread(fd, len(JOURNAL_MAGIC), 0) != JOURNAL_MAGIC:
                    header = np.zeros(1, dtype=JOURNAL_HEADER_DTYPE)[0]
                    header["format_version"] = JOURNAL_VERSION
                    header["header_size"] = self.header_size
                    header["layout_hash"] = shm_layouts.layout_hash()
                    header["layout_version"] = shm_layouts.LAYOUT_VERSION
                    header["record_size"] = self.dtype.itemsize
                    header["first_position"] = first
                    header["per_file"] = self.per_file
                    header["file_index"] = index
                    header["json_len"] = len(self.description)
                    os.pwrite(fd, self.description, JOURNAL_HEADER_FIXED)
                    os.pwrite(fd, header.tobytes()[len(JOURNAL_MAGIC):], len(JOURNAL_MAGIC))
                    os.pwrite(fd, JOURNAL_MAGIC, 0)  # last: a file with it is described
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            raise JournalError(f"journal file {path!r}: {exc.strerror}") from None
        self.fd, self.path, self.index = fd, path, index
        self._set_count(max(0, position - first))

    def _set_count(self, records: int) -> None:
        self.records_in_file = records
        try:
            os.pwrite(self.fd, np.uint64(records).tobytes(), JOURNAL_RECORDS_COUNT_OFFSET)
        except OSError as exc:
            raise JournalError(f"journal file {self.path!r}: {exc.strerror}") from None

    def write(self, words: np.ndarray, position: int) -> None:
        """Write records (rows of uint64 words, contiguous: a ring's slots) that hold ring
        positions position, position + 1, ...: one pwrite per file they fall in, from
        the ring's memory straight to the page cache."""
        done = 0
        while done < len(words):
            at = position + done
            index = at // self.per_file
            if index != self.index:
                if self.file_open:
                    self._set_count(self.per_file)  # a file left behind is full
                self._open(index, at)
            slot = at - index * self.per_file
            take = min(len(words) - done, self.per_file - slot)
            offset = self.header_size + slot * self.dtype.itemsize
            try:
                os.pwrite(self.fd, words[done:done + take], offset)
            except OSError as exc:
                raise JournalError(f"journal file {self.path!r}: {exc.strerror}") from None
            done += take

    def commit(self, position: int) -> None:
        """The current file holds every record below `position` (in the page cache)."""
        if self.file_open:
            self._set_count(position - self.index * self.per_file)

    @property
    def file_open(self) -> bool:
        return self.index >= 0

    def close(self, trim: bool = False) -> None:
        """Close the current file; `trim`: the run is over, so cut it to the records it
        holds (the space allocated past them would stay on disk for nothing)."""
        if self.file_open:
            try:
                if trim:
                    os.ftruncate(self.fd, self.header_size
                                 + self.records_in_file * self.dtype.itemsize)
            except OSError as exc:
                raise JournalError(f"journal file {self.path!r}: {exc.strerror}") from None
            finally:
                os.close(self.fd)
                self.index = -1
