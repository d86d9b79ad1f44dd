"""Parquet quotes and trades (workers/feed/sources/parquet_quotes.py): the CSV's columns,
typed, written by pyarrow's own writer; the tape equals the CSV's of the same records,
and bad input is one line naming the row."""

import os

import numpy as np
import pytest

from test_feed_sources import HEADER, file_config, quote_rows, tape_of, write_csv
from tickpipe.engine.config import ConfigError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def typed_table(rows) -> "pa.Table":
    """The rows as Parquet users keep them: numbers as numbers, empty cells as nulls."""
    columns = {name: [row[i] for row in rows] for i, name in enumerate(HEADER)}

    def numbers(values, kind):
        return [None if v == "" else kind(v) for v in values]

    return pa.table({
        "ts_ns": pa.array(columns["ts_ns"], pa.int64()),
        "symbol": pa.array(columns["symbol"], pa.string()),
        "kind": pa.array(columns["kind"], pa.string()),
        "bid_px": pa.array(numbers(columns["bid_px"], float), pa.float64()),
        "bid_qty": pa.array(columns["bid_qty"], pa.int32()),
        "ask_px": pa.array(numbers(columns["ask_px"], float), pa.float64()),
        "ask_qty": pa.array(columns["ask_qty"], pa.int32()),
        "trade_px": pa.array(numbers(columns["trade_px"], float), pa.float64()),
        "trade_qty": pa.array(numbers(columns["trade_qty"], int), pa.int64()),
        "aggressor": pa.array([v or None for v in columns["aggressor"]], pa.string()),
    })


def test_a_parquet_file_makes_the_same_tape_as_the_csv_of_its_records(tmp_path):
    rows = quote_rows(2000)
    pq.write_table(typed_table(rows), tmp_path / "day.parquet")
    from_parquet = file_config(tmp_path / "day.parquet")      # format by the suffix
    from_csv = file_config(write_csv(tmp_path / "day.csv", rows))
    assert from_parquet["instruments"] == from_csv["instruments"]
    assert np.array_equal(tape_of(from_parquet), tape_of(from_csv))
    assert from_parquet["tape"]["records"] == len(rows)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop_columns(["ask_px"]), "lacks the column(s) ask_px"),
    (lambda t: t.set_column(0, "ts_ns", pa.array([1, None, 3], pa.int64())),
     "row 2: ts_ns '' is not an integer"),
    (lambda t: t.set_column(2, "bid_px", pa.array([1.0, 3.0, 1.0], pa.float64())),
     "row 2: a quote with bid_px 3 not below ask_px 2"),
    (lambda t: t.slice(0, 0), "no rows"),
    (lambda t: t.set_column(2, "bid_px", pa.array([1.0, None, 1.0], pa.float64())),
     "row 2: a quote with no bid_px"),
])
def test_bad_parquet_input_is_one_line_naming_the_row(tmp_path, edit, message):
    table = pa.table({"ts_ns": pa.array([1, 2, 3], pa.int64()),
                      "symbol": pa.array(["A", "A", "A"]),
                      "bid_px": pa.array([1.0, 1.0, 1.0]), "ask_px": pa.array([2.0, 2.0, 2.0])})
    pq.write_table(edit(table), tmp_path / "bad.parquet")
    with pytest.raises(ConfigError) as caught:
        file_config(tmp_path / "bad.parquet")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_that_is_not_parquet_is_one_line(tmp_path):
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ConfigError) as caught:
        file_config(os.fspath(tmp_path / "fake.parquet"))
    assert "not a readable Parquet file" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_csv_written_with_quoted_fields_reads_as_the_plain_one(tmp_path):
    """pyarrow's (and pandas') CSV writers quote text: the same records either way."""
    import pyarrow.csv as pcsv
    rows = quote_rows(300)
    pcsv.write_csv(typed_table(rows), tmp_path / "quoted.csv")
    assert '"ACME"' in (tmp_path / "quoted.csv").read_text()
    quoted = tape_of(file_config(tmp_path / "quoted.csv"))
    plain = tape_of(file_config(write_csv(tmp_path / "plain.csv", rows)))
    assert np.array_equal(quoted, plain)
