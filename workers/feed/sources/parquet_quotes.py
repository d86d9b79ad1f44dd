"""Parquet quotes and trades: the CSV's columns (csv_quotes.py's docstring: ts_ns,
symbol, kind, bid_px, bid_qty, ask_px, ask_qty, trade_px, trade_qty, aggressor), a
row per record, read by pyarrow (the `parquet` extra).

Each column is read whole by pyarrow's C++ reader and given to the CSV's column-wise
conversion as the text a CSV would hold (a null: an empty cell), so both formats
share one set of checks and one set of errors, here naming the row (1-based). A
float price prints as the shortest text that reads back to it, so the conversion to
price units is the CSV's own. What that costs is paid once per file: the tape is
cached (tape.py).
"""

import numpy as np

from tickpipe.workers.feed.sources.csv_quotes import REQUIRED, records_from_columns
from tickpipe.workers.feed.sources.tape import Recorded, TapeError

READS = (".parquet", ".pq")


def read(path: str, feed: dict) -> Recorded:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise TapeError(f"data file {path!r}: Parquet needs pyarrow: pip install "
                        f"'tickpipe[parquet]' (or pyarrow)") from None
    try:
        table = pq.read_table(path)
    except OSError as exc:  # pyarrow's ArrowInvalid (not Parquet, truncated) is an OSError too
        raise TapeError(f"data file {path!r}: not a readable Parquet file "
                        f"({str(exc).splitlines()[0]})") from None
    except pa.ArrowException as exc:
        raise TapeError(f"data file {path!r}: not a readable Parquet file "
                        f"({str(exc).splitlines()[0]})") from None
    columns = {name.strip().lower(): table.column(name) for name in table.column_names}
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise TapeError(f"data file {path!r}: the file lacks the column(s) {', '.join(missing)} "
                        f"(it has {', '.join(columns) or 'none'})")
    if table.num_rows == 0:
        raise TapeError(f"data file {path!r}: no rows")
    col = {name: _text(pc, column) for name, column in columns.items()}
    return records_from_columns(path, col, np.arange(1, table.num_rows + 1), "row")


def _text(pc, column) -> np.ndarray:
    """A column as the CSV's text: nulls empty."""
    text = pc.cast(column, "string") if str(column.type) not in ("string", "large_string") \
        else column
    return np.asarray(pc.fill_null(text, "").to_numpy(zero_copy_only=False), dtype=str)
