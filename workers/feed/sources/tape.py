"""The tape: a data file's records as the feed sends them, and how the config gets it.

A reader (FORMATS in this package) turns a file into a Recorded: the records
(MARKET_DATA_DTYPE, `origin_ns` the recorded time, `symbol_id` an index into
`names`) and, per symbol, the price increment its prices show (their gcd). Here
that becomes the run's tape:

- instruments: with no [[instrument]] tables in the config, one per symbol of the
  data, named as in the file, with the tick size its prices show; with tables,
  every symbol of the data must be one of them (the records are renumbered to the
  config's order) and its prices on the instrument's tick;
- time order: a record earlier than the one before it is refused, naming it,
  unless [feed] reorder = true (a stable sort by time);
- depth: with [feed] depth D > 1 a reader of data with levels below the top (MBP-10,
  hftbacktest's book) adds *depth rows*: kind MD_KIND_DEPTH + level (1 .. D-1), that
  level of the symbol's book after the event in bid_px/bid_qty/ask_px/ask_qty (0 and
  0: the side has no such level), origin_ns the event's, trade fields 0, each written
  when its level changed, just before the event's quote (or trade) and at its time
  (so a stable sort keeps them there); the top stays the quote (MD_KIND_QUOTE);
- the tape file: saved as .npy under the user's cache, named by a digest of the
  data file's path, mtime and size, the reader's options and the instruments, so a
  second run of the same data loads it instead of reading the file again, and the
  feed process (and a restarted one) maps it read-only instead of parsing it.

Every problem is a TapeError whose text is one line naming the file.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_DEPTH, MD_KIND_QUOTE

TAPE_DTYPE = MARKET_DATA_DTYPE  # origin_ns: the recorded time; seq: its index in the file
TAPE_VERSION = 2                # part of the cache name: a new reader makes new tapes


class TapeError(Exception):
    """A data file that cannot be replayed; str() is one line naming it."""


@dataclass
class Recorded:
    """What a reader found: records in file order, symbol names, ticks their prices show."""
    records: np.ndarray      # TAPE_DTYPE
    names: list              # symbol_id -> name
    ticks: list              # symbol_id -> gcd of the symbol's prices (price units)
    lines: np.ndarray        # record -> its line or event number in the file (errors)
    unit: str = "line"       # what `lines` counts ("line", "event")
    instruments: list | None = None  # whole [[instrument]] tables, where the data has them


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "tickpipe", "tapes")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return directory
    except OSError:
        directory = os.path.join(tempfile.gettempdir(), f"tickpipe-{os.getuid()}", "tapes")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return directory


def detect_format(path: str, fmt: str, formats: dict) -> str:
    if fmt != "auto":
        return fmt
    if os.path.isdir(path):  # a folder: a journal of an earlier run (journal_replay.py)
        return "journal"
    for name, module in formats.items():
        if path.lower().endswith(module.READS):
            return name
    suffixes = ", ".join(s for module in formats.values() for s in module.READS)
    raise TapeError(f"data file {path!r}: cannot tell its format from its name (known: "
                    f"{suffixes}); set [feed] format")


def prepare(config: dict, formats: dict, given: bool, make_instruments) -> None:
    """Read [feed] file into a tape (or find it cached), set the instruments from it
    (`given` False: the config names none; make_instruments fills in their defaults) or
    check them against it, and put the tape in config['tape']: {path, records, quotes,
    depth_rows}."""
    feed = config["feed"]
    path = os.path.abspath(feed["file"])
    try:
        st = os.stat(path)  # first: a path that is not there says so, whatever its name
    except OSError as exc:
        raise TapeError(f"data file {path!r}: {exc.strerror}") from None
    fmt = detect_format(path, feed["format"], formats)
    key = json.dumps([TAPE_VERSION, path, st.st_mtime_ns, st.st_size, fmt, feed["qty_scale"],
                      feed["instrument"], feed["reorder"], feed.get("depth", 1),
                      [(i["name"], i["tick_size"]) for i in config["instruments"]]
                      if given else None])
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    tape_path = os.path.join(cache_dir(), f"{digest}.npy")
    meta_path = tape_path + ".json"
    if os.path.exists(tape_path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    else:
        recorded = formats[fmt].read(path, feed)
        if not np.any(recorded.records["kind"] < MD_KIND_DEPTH):  # nothing, or depth rows only
            raise TapeError(f"data file {path!r}: no quotes or trades in it")
        records, meta = _arrange(path, recorded, config if given else None, feed["reorder"])
        _save(tape_path, records)
        with open(meta_path + ".tmp", "w") as f:
            json.dump(meta, f)
        os.replace(meta_path + ".tmp", meta_path)
    if not given:
        config["instruments"] = make_instruments(meta["instruments"])
    config["tape"] = {"path": tape_path, "records": meta["records"], "quotes": meta["quotes"],
                      "depth_rows": meta["depth_rows"]}


def _arrange(path: str, recorded: Recorded, config: dict | None, reorder: bool):
    records = recorded.records
    times = records["origin_ns"]
    back = np.flatnonzero(times[1:] < times[:-1])
    if len(back):
        if not reorder:
            i = int(back[0]) + 1
            raise TapeError(f"data file {path!r}: {recorded.unit} {int(recorded.lines[i])}: time "
                            f"{int(times[i])} is before the previous record's "
                            f"{int(times[i - 1])} (set [feed] reorder = true to sort)")
        if np.any(records["kind"] > MD_KIND_DEPTH):
            # a depth row is a level's change since the symbol's record before it in the
            # file: sorted, the changes would apply in another order and leave other levels
            raise TapeError(f"data file {path!r}: its times go back, and its levels below "
                            f"the top ([feed] depth > 1) are changes in file order, which a "
                            f"sort would misapply: sort the file, or set [feed] depth = 1")
        order = np.argsort(times, kind="stable")
        records = records[order]
        lines = recorded.lines[order]
    else:
        lines = recorded.lines
    if config is None and recorded.instruments is not None:
        instruments = recorded.instruments
    elif config is None:
        instruments = [{"name": name, "tick_size": max(1, int(tick))}
                       for name, tick in zip(recorded.names, recorded.ticks)]
    else:
        instruments = config["instruments"]
        index = {i["name"]: k for k, i in enumerate(instruments)}
        remap = np.empty(len(recorded.names), dtype=np.int64)
        for k, name in enumerate(recorded.names):
            if name not in index:
                first = int(lines[np.flatnonzero(records["symbol_id"] == k)[0]])
                raise TapeError(f"data file {path!r}: {recorded.unit} {first}: symbol {name!r} is "
                                f"not a configured [[instrument]] ("
                                f"{', '.join(index) or 'none'})")
            remap[k] = index[name]
            tick = instruments[index[name]]["tick_size"]
            if recorded.ticks[k] % tick:
                raise TapeError(f"data file {path!r}: symbol {name!r} has prices off its tick "
                                f"size {tick} (they share {int(recorded.ticks[k])} price units)")
        records = records.copy()
        records["symbol_id"] = remap[records["symbol_id"]]
    records["seq"] = np.arange(1, len(records) + 1, dtype=np.uint64)
    meta = {"instruments": instruments, "records": int(len(records)),
            "quotes": int(np.count_nonzero(records["kind"] == MD_KIND_QUOTE)),
            "depth_rows": int(np.count_nonzero(records["kind"] > MD_KIND_DEPTH))}
    return records, meta


def _save(tape_path: str, records: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(tape_path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, records, allow_pickle=False)
        os.replace(tmp, tape_path)  # a concurrent reader sees all of it or nothing
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def open_tape(path: str) -> np.ndarray:
    """The tape, mapped read-only (the feed's, at each start): a plain read-only ndarray,
    the type the feed's runner is compiled for whatever the source (the walk's empty
    tape is read-only too)."""
    tape = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    if tape.dtype != TAPE_DTYPE:
        raise TapeError(f"tape {path!r}: records of another layout ({tape.dtype})")
    return tape


def no_tape() -> np.ndarray:
    tape = np.zeros(0, dtype=TAPE_DTYPE)
    tape.flags.writeable = False
    return tape


def price_gcds(records: np.ndarray, n_symbols: int) -> list:
    """Per symbol, the gcd of every nonzero price it shows (1 when it shows none): its
    quotes', trades' and depth rows' (theirs are on the tick too)."""
    out = []
    for k in range(n_symbols):
        rows = records[records["symbol_id"] == k]
        prices = np.concatenate([rows["bid_px"], rows["ask_px"], rows["trade_px"]])
        prices = prices[prices > 0]
        out.append(int(np.gcd.reduce(prices)) if len(prices) else 1)
    return out
