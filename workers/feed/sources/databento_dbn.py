"""Databento's DBN files (plain or zstd-compressed): the MBP-1, TBBO, MBP-10 and Trades
schemas.

A DBN file is a metadata header (schema, symbology) and then fixed-size records of
that schema. The header is decoded by `databento-dbn` (Databento's own library: an
optional extra, `pip install 'tickpipe[data]'`); the records are read by numpy as
the C structs they are (RECORD_DTYPES below, offsets as DBN lays them out), a
column at a time: no Python per record. zstd frames are undone by `zstandard`.

  mbp-1, tbbo  each record carries the top of the book after it (levels[0]): a quote,
               or a trade (action 'T') with that top beside it
  mbp-10       the same from levels[0]; with [feed] depth D > 1, before each record
               a depth row (tape.py: kind MD_KIND_DEPTH + level) for each of levels
               1..D-1 that differs from that level in the instrument's previous record
               (the first record: from an empty level), whether or not the record's
               top is sent
  trades       trades only, no top of the book

Times are ts_recv (when the data reached Databento's capture: the local side's
view); prices go from DBN's 1e-9 units to PRICE_SCALE (rounded); a side whose price
is DBN's UNDEF_PRICE is empty, and a quote with an empty or crossed side is not sent.
A trade's side is the aggressor's ('B': a buy hit the ask). Instruments are named by
the file's symbology (its mappings: raw symbol -> instrument_id); an instrument the
mappings do not name is called by its id.
"""

import numpy as np

from tickpipe.shm_layouts.market_data import (
    MAX_DEPTH_LEVELS, MD_KIND_DEPTH, MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE,
)
from tickpipe.workers.feed.sources.tape import TAPE_DTYPE, Recorded, TapeError, price_gcds

READS = (".dbn", ".dbn.zst")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DBN_PRICE_SCALE = 1_000_000_000
UNDEF_PRICE = 2**63 - 1

_HEADER = [("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"),
           ("ts_event", "<u8"), ("price", "<i8"), ("size", "<u4"), ("action", "u1"),
           ("side", "u1"), ("flags", "u1"), ("depth", "u1"), ("ts_recv", "<u8"),
           ("ts_in_delta", "<i4"), ("sequence", "<u4")]
_LEVEL = [("bid_px", "<i8"), ("ask_px", "<i8"), ("bid_sz", "<u4"), ("ask_sz", "<u4"),
          ("bid_ct", "<u4"), ("ask_ct", "<u4")]


def _record_dtype(levels: int) -> np.dtype:
    fields = list(_HEADER)
    if levels:
        fields.append(("levels", np.dtype(_LEVEL), (levels,)))
    dtype = np.dtype(fields)  # packed: DBN's structs have no padding
    assert dtype.itemsize == 48 + 32 * levels
    return dtype


# schema -> (its records' dtype, rtype)
RECORD_DTYPES = {"mbp-1": (_record_dtype(1), 1), "tbbo": (_record_dtype(1), 1),
                 "mbp-10": (_record_dtype(10), 10), "trades": (_record_dtype(0), 0)}


def read(path: str, feed: dict) -> Recorded:
    raw = _bytes(path)
    if raw[:3] != b"DBN":
        raise TapeError(f"data file {path!r}: not a DBN file (no 'DBN' at its start)")
    if len(raw) < 8:
        raise TapeError(f"data file {path!r}: truncated in its header")
    length = int.from_bytes(raw[4:8], "little")
    if len(raw) < 8 + length:
        raise TapeError(f"data file {path!r}: truncated in its metadata ({len(raw)} of "
                        f"{8 + length} bytes)")
    metadata = _metadata(path, raw[:8 + length])
    schema = str(metadata.schema)
    if schema not in RECORD_DTYPES:
        raise TapeError(f"data file {path!r}: schema {schema} is not one tickpipe replays "
                        f"({', '.join(RECORD_DTYPES)})")
    dtype, rtype = RECORD_DTYPES[schema]
    body = memoryview(raw)[8 + length:]
    whole = len(body) // dtype.itemsize
    if len(body) % dtype.itemsize:
        raise TapeError(f"data file {path!r}: truncated: {len(body) % dtype.itemsize} bytes of a "
                        f"partial {schema} record after record {whole}")
    records = np.frombuffer(body, dtype=dtype, count=whole)
    if whole == 0:
        raise TapeError(f"data file {path!r}: no records")
    foreign = (records["rtype"] != rtype) | (records["length"] != dtype.itemsize // 4)
    if foreign.any():
        i = int(np.flatnonzero(foreign)[0])
        raise TapeError(f"data file {path!r}: record {i + 1}: rtype {int(records['rtype'][i])} "
                        f"(length {int(records['length'][i]) * 4} B) in a {schema} file")
    depth = min(max(int(feed.get("depth", 1)), 1), MAX_DEPTH_LEVELS)
    return _tape(path, records, schema, _names(metadata), depth if schema == "mbp-10" else 1)


def _bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise TapeError(f"data file {path!r}: {exc.strerror}") from None
    if raw[:4] != ZSTD_MAGIC:
        return raw
    try:
        import zstandard
    except ImportError:
        raise TapeError(f"data file {path!r}: zstd-compressed, and zstandard is not installed "
                        f"(pip install 'tickpipe[data]')") from None
    try:
        import io
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw),
                                                             read_across_frames=True)
        return reader.read()
    except zstandard.ZstdError as exc:
        raise TapeError(f"data file {path!r}: its zstd compression is broken ({exc})") from None


def _metadata(path: str, header: bytes):
    try:
        import databento_dbn
    except ImportError:
        raise TapeError(f"data file {path!r}: DBN needs databento-dbn "
                        f"(pip install 'tickpipe[data]')") from None
    try:
        return databento_dbn.Metadata.decode(header)
    except Exception as exc:  # the library's own error type varies by version
        raise TapeError(f"data file {path!r}: its DBN metadata does not decode "
                        f"({' '.join(str(exc).split())[:160]})") from None


def _names(metadata) -> dict:
    """instrument_id -> raw symbol, from the file's mappings."""
    names = {}
    for raw_symbol, intervals in (metadata.mappings or {}).items():
        for interval in intervals:
            symbol = interval["symbol"] if isinstance(interval, dict) else interval.symbol
            if str(symbol).isdigit():
                names.setdefault(int(symbol), raw_symbol)
    return names


def _prices(values: np.ndarray) -> np.ndarray:
    """DBN prices (1e-9, UNDEF_PRICE for none) in price units (0 for none)."""
    empty = values == UNDEF_PRICE
    units = np.rint(values.astype(np.float64) * (PRICE_SCALE / DBN_PRICE_SCALE)).astype(np.int64)
    return np.where(empty, 0, units)


def _tape(path: str, records: np.ndarray, schema: str, names: dict, depth: int = 1) -> Recorded:
    n = len(records)
    out = np.zeros(n, dtype=TAPE_DTYPE)
    out["origin_ns"] = records["ts_recv"].astype(np.int64)
    trade = (records["action"] == ord("T")) if schema != "trades" else np.ones(n, dtype=bool)
    out["kind"] = np.where(trade, MD_KIND_TRADE, MD_KIND_QUOTE)
    out["trade_px"] = np.where(trade, _prices(records["price"]), 0)
    out["trade_qty"] = np.where(trade, np.minimum(records["size"], 2**31 - 1), 0)
    out["aggressor_side"] = np.where(trade & (records["side"] == ord("B")), 1,
                                     np.where(trade & (records["side"] == ord("A")), -1, 0))
    if schema != "trades":
        top = records["levels"][:, 0]
        out["bid_px"], out["ask_px"] = _prices(top["bid_px"]), _prices(top["ask_px"])
        out["bid_qty"] = np.minimum(top["bid_sz"], 2**31 - 1)
        out["ask_qty"] = np.minimum(top["ask_sz"], 2**31 - 1)
    keep = trade | ((out["bid_px"] > 0) & (out["ask_px"] > 0) & (out["bid_px"] < out["ask_px"]))
    ids, first, inverse = np.unique(records["instrument_id"], return_index=True,
                                    return_inverse=True)
    order = np.argsort(first)  # instruments numbered as they first appear
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    out["symbol_id"] = rank[inverse]
    labels = [names.get(int(ids[k]), str(int(ids[k]))) for k in order]
    if not keep.any():
        raise TapeError(f"data file {path!r}: no quote with both sides and no trade in it")
    if depth > 1:
        kept, lines = _with_depth(records, out, keep, depth)
    else:
        kept, lines = out[keep], np.flatnonzero(keep) + 1
    return Recorded(kept, labels, price_gcds(kept, len(labels)), lines, "record")


def _level(levels: np.ndarray, level: int):
    """One level of every record as a depth row's values: (bid_px, bid_qty, ask_px, ask_qty),
    a side at UNDEF_PRICE 0 and 0."""
    pair = levels[:, level]
    values = []
    for px, sz in (("bid_px", "bid_sz"), ("ask_px", "ask_sz")):
        empty = pair[px] == UNDEF_PRICE
        values.append(_prices(pair[px]))
        values.append(np.where(empty, 0, np.minimum(pair[sz], 2**31 - 1)).astype(np.int64))
    return values


def _with_depth(records: np.ndarray, out: np.ndarray, keep: np.ndarray, depth: int):
    """The records (`out`, those `keep` sent) with, before each, its depth rows: levels
    1..depth-1 that differ from the same instrument's previous record. Column at a time:
    one pass over the levels finds the changes, a second writes the rows where they go;
    returns (the rows, each row's record number)."""
    n = len(records)
    symbol = out["symbol_id"].astype(np.int64)
    order = np.argsort(symbol, kind="stable")  # each instrument's records in file order
    prev = np.full(n, -1, dtype=np.int64)     # the instrument's previous record, -1 none
    same = symbol[order[1:]] == symbol[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    first = prev < 0
    levels = records["levels"]
    changed = np.zeros((n, depth - 1), dtype=bool)
    for level in range(1, depth):
        for values in _level(levels, level):
            before = np.where(first, 0, values[prev])
            changed[:, level - 1] |= values != before
    rows = changed.sum(axis=1)
    count = rows + keep
    start = np.cumsum(count) - count
    made = np.zeros(int(count.sum()), dtype=out.dtype)
    lines = np.empty(len(made), dtype=np.int64)
    at = start[keep] + rows[keep]                    # the record after its depth rows
    made[at] = out[keep]
    lines[at] = np.flatnonzero(keep) + 1
    rank = np.cumsum(changed, axis=1, dtype=np.int8) - changed  # its depth rows before it
    for level in range(1, depth):
        which = np.flatnonzero(changed[:, level - 1])
        at = start[which] + rank[which, level - 1]
        made["origin_ns"][at] = out["origin_ns"][which]
        made["symbol_id"][at] = out["symbol_id"][which]
        made["kind"][at] = MD_KIND_DEPTH + level
        bid_px, bid_qty, ask_px, ask_qty = _level(levels[which], level)
        made["bid_px"][at], made["bid_qty"][at] = bid_px, bid_qty
        made["ask_px"][at], made["ask_qty"][at] = ask_px, ask_qty
        lines[at] = which + 1
    return made, lines
