"""A journal read back, as numpy structured arrays: `tickpipe.journal.open(DIR)`.

    journal = tickpipe.journal.open("journal/")      # a run's folder, or the folder of runs
    reports = journal.ring("fills_strategy")         # FILL_DTYPE records, in ring order
    journal.rings, journal.instruments, journal.run  # what the run was

Every record read is checked: the files' headers (magic, format, the layout the
writer was built with) and each record's seq, which must be its ring position + 1,
so a gap or a doubled record is found, never passed on. A file cut short (a copy,
a full disk) gives its records up to its last complete one.
"""

import builtins
import json
import os

import numpy as np

from tickpipe import shm_layouts
from tickpipe.shm_layouts.fill import FILL_DTYPE
from tickpipe.shm_layouts.journal_file import (
    JOURNAL_HEADER_DTYPE, JOURNAL_HEADER_FIXED, JOURNAL_MAGIC, JOURNAL_SUFFIX, JOURNAL_VERSION,
)
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
from tickpipe.shm_layouts.ring_directory import (
    RECORD_FILL, RECORD_MARKET_DATA, RECORD_ORDER, RECORD_ORDER_INTENT,
)
from tickpipe.workers.journal.files import RUN_FILE, JournalError

RECORD_DTYPES = {RECORD_MARKET_DATA: MARKET_DATA_DTYPE, RECORD_ORDER_INTENT: ORDER_INTENT_DTYPE,
                 RECORD_ORDER: ORDER_DTYPE, RECORD_FILL: FILL_DTYPE}


def find_run(path: str) -> str:
    """The run folder `path` names: itself when it holds run.json, else the latest run
    in it (run folders are named by their start time)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isfile(os.path.join(path, RUN_FILE)):
        return path
    if not os.path.isdir(path):
        raise JournalError(f"journal {path!r}: no such directory")
    runs = sorted(name for name in os.listdir(path)
                  if os.path.isfile(os.path.join(path, name, RUN_FILE)))
    if not runs:
        raise JournalError(f"journal {path!r}: no journal in it (no run.json here or in a "
                           f"folder under it)")
    return os.path.join(path, runs[-1])


def open(path: str) -> "Journal":  # noqa: A001 (the name users reach for)
    return Journal(find_run(path))


class Journal:
    def __init__(self, run_dir: str):
        self.dir = run_dir
        try:
            with builtins.open(os.path.join(run_dir, RUN_FILE)) as f:
                self.run = json.load(f)
        except (OSError, ValueError) as exc:
            raise JournalError(f"journal {run_dir!r}: its run.json cannot be read: {exc}") \
                from None
        if not shm_layouts.journal_readable(self.run.get("layout_hash") or 0):
            raise JournalError(
                f"journal {run_dir!r}: written by another tickpipe layout (version "
                f"{self.run.get('layout_version')}, hash {self.run.get('layout_hash', 0):#018x}); "
                f"this tickpipe reads version {shm_layouts.LAYOUT_VERSION}, hash "
                f"{shm_layouts.layout_hash():#018x}")
        self.rings = [ring["ring"] for ring in self.run["rings"]]
        self._specs = {ring["ring"]: ring for ring in self.run["rings"]}
        self.instruments = self.run.get("instruments") or []

    @property
    def name(self) -> str:
        return os.path.basename(self.dir)

    def dtype(self, ring: str) -> np.dtype:
        return RECORD_DTYPES[self._spec(ring)["record_kind"]]

    def _spec(self, ring: str) -> dict:
        try:
            return self._specs[ring]
        except KeyError:
            raise JournalError(f"journal {self.dir!r}: no ring {ring!r} (rings: "
                               f"{', '.join(self.rings)})") from None

    def files(self, ring: str) -> list[str]:
        self._spec(ring)
        prefix = ring + "."
        return sorted(os.path.join(self.dir, name) for name in os.listdir(self.dir)
                      if name.startswith(prefix) and name.endswith(JOURNAL_SUFFIX)
                      and name[len(prefix):-len(JOURNAL_SUFFIX)].isdigit())

    def ring(self, ring: str) -> np.ndarray:
        """Every record the ring carried, in order, checked (module docstring)."""
        dtype = self.dtype(ring)
        parts, expected = [], 0
        for path in self.files(ring):
            records = _read_file(path, dtype)
            if len(records) == 0:
                continue
            first = int(records["seq"][0]) - 1
            if first != expected:
                raise JournalError(f"journal file {path!r}: starts at ring position {first:,}, "
                                   f"expected {expected:,} (a file is missing)")
            bad = np.flatnonzero(records["seq"] != np.arange(first + 1, first + 1 + len(records),
                                                             dtype=np.uint64))
            if len(bad):
                raise JournalError(f"journal file {path!r}: record {int(bad[0]):,} has seq "
                                   f"{int(records['seq'][bad[0]]):,}, expected "
                                   f"{first + 1 + int(bad[0]):,} (a gap or a record twice)")
            parts.append(records)
            expected = first + len(records)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def count(self, ring: str) -> int:
        """Records of the ring, from the files' headers (nothing read but them)."""
        return sum(_header(path)[1] for path in self.files(ring))


def _header(path: str):
    """(header, records it holds complete) of one journal file, checked."""
    try:
        with builtins.open(path, "rb") as f:
            raw = f.read(JOURNAL_HEADER_FIXED)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise JournalError(f"journal file {path!r}: {exc.strerror}") from None
    if len(raw) < JOURNAL_HEADER_FIXED or raw[:8] != JOURNAL_MAGIC:
        raise JournalError(f"journal file {path!r}: not a tickpipe journal file")
    header = np.frombuffer(raw, dtype=JOURNAL_HEADER_DTYPE)[0]
    if int(header["format_version"]) != JOURNAL_VERSION:
        raise JournalError(f"journal file {path!r}: format version {int(header['format_version'])}"
                           f"; this tickpipe reads {JOURNAL_VERSION}")
    if not shm_layouts.journal_readable(int(header["layout_hash"])):
        raise JournalError(f"journal file {path!r}: written by another tickpipe layout (version "
                           f"{int(header['layout_version'])}); this tickpipe reads version "
                           f"{shm_layouts.LAYOUT_VERSION}")
    record_size = int(header["record_size"])
    on_disk = max(0, size - int(header["header_size"])) // record_size
    return header, min(int(header["records"]), on_disk)


def _read_file(path: str, dtype: np.dtype) -> np.ndarray:
    header, count = _header(path)
    if int(header["record_size"]) != dtype.itemsize:
        raise JournalError(f"journal file {path!r}: {int(header['record_size'])}-byte records, "
                           f"not the {dtype.itemsize} of its ring")
    return np.fromfile(path, dtype=dtype, count=count, offset=int(header["header_size"]))
