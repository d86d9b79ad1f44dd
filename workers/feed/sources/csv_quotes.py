"""CSV quotes and trades: one record per line, columns found by the header's names.

    ts_ns,symbol,kind,bid_px,bid_qty,ask_px,ask_qty,trade_px,trade_qty,aggressor
    1700000000000000000,ACME,quote,101.25,300,101.26,200,,,
    1700000000000150000,ACME,trade,101.25,300,101.26,200,101.26,5,buy

  ts_ns            required; integer ns, any epoch (the replay keeps their spacing)
  symbol           required; an instrument's name
  bid_px, ask_px   required; decimal prices in currency units (101.25), bid < ask
                   on a quote; a trade's may be empty (0: the feed sends them as read)
  bid_qty, ask_qty lots, default 1
  kind             quote (default) or trade (also q, t)
  trade_px, trade_qty   a trade's price and lots: required on a trade line
  aggressor        buy or sell (also b, s, 1, -1) on a trade; default none

Any other column is ignored; the order of columns is free. The file is read by
numpy's C reader into columns and converted column by column (no Python per line);
a value that does not convert is found again, only then, to name its line.
"""

import re

import numpy as np

from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE
from tickpipe.workers.feed.sources.tape import TAPE_DTYPE, Recorded, TapeError, price_gcds

READS = (".csv",)
REQUIRED = ("ts_ns", "symbol", "bid_px", "ask_px")
KINDS = {"quote": MD_KIND_QUOTE, "q": MD_KIND_QUOTE, "trade": MD_KIND_TRADE, "t": MD_KIND_TRADE}
SIDES = {"buy": 1, "b": 1, "1": 1, "+1": 1, "sell": -1, "s": -1, "-1": -1, "": 0}
MAX_QTY = 2**31 - 1


def read(path: str, feed: dict) -> Recorded:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = f.readline()
            if not header.strip():
                raise TapeError(f"data file {path!r}: empty (a CSV needs a header line: "
                                f"{','.join(REQUIRED)}, ...)")
            # a quoted header (pandas', pyarrow's writers) names the same columns
            columns = [c.strip().strip('"').strip().lower() for c in header.strip().split(",")]
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise TapeError(f"data file {path!r}: line 1: the header lacks "
                                f"{', '.join(missing)} (it has {', '.join(columns)})")
            try:
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # no rows: an empty result, said below
                    table = np.loadtxt(f, dtype=str, delimiter=",", ndmin=2, comments=None,
                                       quotechar='"')
            except ValueError as exc:
                found = re.search(r"at row (\d+)", str(exc))
                where = f"line {int(found.group(1)) + 1}: " if found else ""
                raise TapeError(f"data file {path!r}: {where}{_first_line(exc)}") from None
    except UnicodeDecodeError as exc:
        raise TapeError(f"data file {path!r}: not a UTF-8 text CSV (byte {exc.start})") from None
    except OSError as exc:
        raise TapeError(f"data file {path!r}: {exc.strerror}") from None
    if table.shape[0] == 0 or table.shape[1] != len(columns):
        if table.shape[0] == 0:
            raise TapeError(f"data file {path!r}: a header and no records")
        raise TapeError(f"data file {path!r}: line 2: {table.shape[1]} values, the header "
                        f"names {len(columns)}")
    col = {name: table[:, i] for i, name in enumerate(columns)}
    return records_from_columns(path, col, np.arange(2, table.shape[0] + 2), "line")


def records_from_columns(path: str, col: dict, lines: np.ndarray, unit: str) -> Recorded:
    """The records of columns by name (this module's docstring says which): strings as
    the CSV has them, or typed (a Parquet file's numbers); `lines` numbers each record
    for errors, counted in `unit` ("line", "row")."""
    n = len(lines)
    records = np.zeros(n, dtype=TAPE_DTYPE)
    records["origin_ns"] = _ints(path, col["ts_ns"], "ts_ns", lines, unit)
    kinds = np.full(n, MD_KIND_QUOTE, dtype=np.uint8)
    if "kind" in col:
        kinds = _codes(path, col["kind"], "kind", KINDS, lines, unit, default="quote")
    records["kind"] = kinds
    records["bid_px"] = _prices(path, col["bid_px"], "bid_px", lines, unit)
    records["ask_px"] = _prices(path, col["ask_px"], "ask_px", lines, unit)
    for name in ("bid_qty", "ask_qty"):
        records[name] = _ints(path, col[name], name, lines, unit, default=1, maximum=MAX_QTY) \
            if name in col else 1
    trade = kinds == MD_KIND_TRADE
    for name in ("bid_px", "ask_px"):  # a quote is its two prices: none may be missing
        empty = ~trade & (np.char.strip(col[name]) == "")
        if empty.any():
            first = int(lines[np.flatnonzero(empty)[0]])
            raise TapeError(f"data file {path!r}: {unit} {first}: a quote with no {name}")
    if trade.any():
        for name in ("trade_px", "trade_qty"):
            if name not in col:
                first = int(lines[np.flatnonzero(trade)[0]])
                raise TapeError(f"data file {path!r}: {unit} {first}: a trade, and no {name} "
                                f"column")
            empty = trade & (np.char.strip(col[name]) == "")
            if empty.any():
                first = int(lines[np.flatnonzero(empty)[0]])
                raise TapeError(f"data file {path!r}: {unit} {first}: a trade with no {name}")
        records["trade_px"] = np.where(trade, _prices(path, col["trade_px"], "trade_px", lines, unit), 0)
        records["trade_qty"] = np.where(trade, _ints(path, col["trade_qty"], "trade_qty", lines,
                                                     unit, default=0, maximum=MAX_QTY), 0)
        if "aggressor" in col:
            sides = _codes(path, col["aggressor"], "aggressor", SIDES, lines, unit, default="")
            records["aggressor_side"] = np.where(trade, sides.astype(np.int8), 0)
    quote = ~trade
    crossed = quote & (records["bid_px"] >= records["ask_px"])
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        raise TapeError(f"data file {path!r}: {unit} {int(lines[i])}: a quote with bid_px "
                        f"{col['bid_px'][i]} not below ask_px {col['ask_px'][i]}")
    names, first, inverse = np.unique(col["symbol"], return_index=True, return_inverse=True)
    order = np.argsort(first)                 # symbols numbered as they first appear
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    records["symbol_id"] = rank[inverse]
    names = [str(names[k]).strip() for k in order]
    if "" in names:
        row = int(lines[first[order[names.index('')]]])
        raise TapeError(f"data file {path!r}: {unit} {row}: no symbol")
    return Recorded(records, names, price_gcds(records, len(names)), lines, unit)


def _first_line(exc: Exception) -> str:
    return str(exc).split(";")[0].strip()


def _bad(path, values, name, lines, convert, unit):
    """The first value `convert` refuses: its line, for the error (the slow path)."""
    for i, value in enumerate(values):
        try:
            convert(value)
        except (ValueError, OverflowError):
            return TapeError(f"data file {path!r}: {unit} {int(lines[i])}: {name} {str(value)!r} "
                             f"is not {'an integer' if convert is int else 'a number'}")
    return TapeError(f"data file {path!r}: column {name} does not convert")


def _ints(path, values, name, lines, unit, default=None, maximum=None):
    values = np.char.strip(values)
    if default is not None:
        values = np.where(values == "", str(default), values)
    try:
        out = values.astype(np.int64)
    except (ValueError, OverflowError):
        raise _bad(path, values, name, lines, int, unit) from None
    bad = out < 0 if maximum is None else (out < 0) | (out > maximum)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TapeError(f"data file {path!r}: {unit} {int(lines[i])}: {name} {int(out[i])} is out "
                        f"of range")
    return out


def _prices(path, values, name, lines, unit):
    values = np.char.strip(values)
    values = np.where(values == "", "0", values)
    try:
        out = np.rint(values.astype(np.float64) * PRICE_SCALE)
    except ValueError:
        raise _bad(path, values, name, lines, float, unit) from None
    bad = ~np.isfinite(out) | (out < 0) | (out > 2**53)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TapeError(f"data file {path!r}: {unit} {int(lines[i])}: {name} {str(values[i])!r} "
                        f"is not a price")
    return out.astype(np.int64)


def _codes(path, values, name, table, lines, unit, default):
    values = np.char.lower(np.char.strip(values))
    values = np.where(values == "", default, values)
    known = np.isin(values, list(table))
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise TapeError(f"data file {path!r}: {unit} {int(lines[i])}: {name} {str(values[i])!r} is "
                        f"not one of {', '.join(k for k in table if k)}")
    out = np.zeros(len(values), dtype=np.int64)
    for key, code in table.items():
        out[values == key] = code
    return out
