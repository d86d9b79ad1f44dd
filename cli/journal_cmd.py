"""`tickpipe journal ls | cat | export`: a run's journal (docs/journal.md), read back.

DIR is a run's folder or the folder given to `tickpipe run --journal` (then its
latest run). Times are the records' origin_ns, shown as UTC through the run's own
clock pair (run.json "clock"); --from/--to take seconds from the run's start (1.5)
or a UTC time (2026-12-03T16:31:05.25).
"""

import csv
import json
import sys
from contextlib import nullcontext
from datetime import datetime, timezone

import click
import numpy as np

# Names a user reaches for, to the ring that carries them (strategy 1's where per strategy).
RING_ALIASES = {"ticks": "md_venue", "requests": "intents", "reports": "fills_strategy"}


def _open(path: str):
    from tickpipe.workers.journal.files import JournalError
    from tickpipe.workers.journal.reader import open as open_journal
    try:
        return open_journal(path)
    except JournalError as exc:
        raise click.ClickException(str(exc)) from None


def _records(journal, ring: str):
    from tickpipe.workers.journal.files import JournalError
    try:
        return journal.ring(RING_ALIASES.get(ring, ring))
    except JournalError as exc:
        raise click.ClickException(str(exc)) from None


class _Clock:
    """origin_ns (CLOCK_MONOTONIC) <-> UTC, through the pair of readings run.json took."""

    def __init__(self, run: dict):
        clock = run.get("clock") or {}
        self.unix0, self.mono0 = int(clock.get("unix_ns", 0)), int(clock.get("monotonic_ns", 0))

    def utc(self, origin_ns: int) -> str:
        unix_ns = self.unix0 + (int(origin_ns) - self.mono0)
        return datetime.fromtimestamp(unix_ns / 1e9, tz=timezone.utc).isoformat(
            timespec="microseconds").replace("+00:00", "Z")

    def parse(self, text: str, option: str) -> int:
        """A --from/--to value as origin_ns."""
        try:
            return self.mono0 + int(float(text) * 1e9)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{text!r} is neither seconds from the run's start nor a "
                                     f"UTC time like 2026-12-03T16:31:05", param_hint=option) \
                from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return self.mono0 + (int(moment.timestamp() * 1e9) - self.unix0)


@click.group()
def journal():
    """Read a journal written by `tickpipe run --journal DIR` (docs/journal.md)."""


@journal.command("ls")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def ls_command(directory, as_json):
    """Each ring of the run: files, records, bytes, the time span it covers."""
    from tickpipe.workers.journal.files import JournalError
    journal_ = _open(directory)
    clock = _Clock(journal_.run)
    rings = []
    for ring in journal_.rings:
        try:
            records = journal_.ring(ring)
        except JournalError as exc:
            rings.append({"ring": ring, "error": str(exc)})
            continue
        times = records["origin_ns"]
        rings.append({"ring": ring, "files": len(journal_.files(ring)), "records": len(records),
                      "bytes": int(records.nbytes),
                      "from": clock.utc(times.min()) if len(times) else None,
                      "to": clock.utc(times.max()) if len(times) else None})
    data = {"run": journal_.name, "dir": journal_.dir, "engine": journal_.run.get("engine"),
            "instruments": [i["name"] for i in journal_.instruments], "rings": rings}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"journal {data['dir']} (engine {data['engine']}, "
               f"{len(data['instruments'])} instruments)")
    click.echo(f"  {'ring':<18}{'files':>6}{'records':>14}{'MB':>10}  span (UTC)")
    for ring in rings:
        if "error" in ring:
            click.echo(f"  {ring['ring']:<18} unreadable: {ring['error']}")
            continue
        span = f"{ring['from']} .. {ring['to']}" if ring["records"] else "-"
        click.echo(f"  {ring['ring']:<18}{ring['files']:>6}{ring['records']:>14,}"
                   f"{ring['bytes'] / 1e6:>10.2f}  {span}")


def _selected(journal_, ring, symbol, time_from, time_to):
    records = _records(journal_, ring)
    names = [i["name"] for i in journal_.instruments]
    clock = _Clock(journal_.run)
    keep = np.ones(len(records), dtype=bool)
    if symbol is not None:
        if symbol not in names:
            raise click.BadParameter(f"{symbol!r} is not an instrument of this run "
                                     f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})",
                                     param_hint="--symbol")
        keep &= records["symbol_id"] == names.index(symbol)
    if time_from is not None:
        keep &= records["origin_ns"] >= clock.parse(time_from, "--from")
    if time_to is not None:
        keep &= records["origin_ns"] <= clock.parse(time_to, "--to")
    return records[keep], names, clock


def _rows(records, names, clock):
    """Each record as a dict: its public fields, the symbol's name, the time in UTC."""
    fields = [name for name in records.dtype.names if not name.startswith("_")]
    for record in records:
        row = {name: record[name].item() for name in fields}
        row["symbol"] = names[row["symbol_id"]] if row["symbol_id"] < len(names) else None
        row["time"] = clock.utc(row["origin_ns"])
        yield row


_RING_HELP = ("The ring: a section name (`tickpipe journal ls` lists them) or ticks, requests, "
              "reports (strategy 1's).")


@journal.command("cat")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--ring", required=True, help=_RING_HELP)
@click.option("--symbol", default=None, help="Only this instrument's records.")
@click.option("--from", "time_from", default=None, metavar="T",
              help="From this time: seconds from the run's start, or a UTC time.")
@click.option("--to", "time_to", default=None, metavar="T", help="Up to this time (as --from).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line (JSON Lines).")
def cat_command(directory, ring, symbol, time_from, time_to, limit, as_json):
    """Print a ring's records, in the order the ring carried them."""
    records, names, clock = _selected(_open(directory), ring, symbol, time_from, time_to)
    if limit is not None:
        records = records[:limit]
    rows = _rows(records, names, clock)
    try:
        if as_json:
            for row in rows:
                click.echo(json.dumps(row))
            return
        first = True
        for row in rows:
            if first:
                click.echo(" ".join(f"{key}" for key in row))
                first = False
            click.echo(" ".join(str(value) for value in row.values()))
    except BrokenPipeError:  # `| head`
        sys.stderr.close()


@journal.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--ring", required=True, help=_RING_HELP)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="parquet needs pyarrow (pip install pyarrow).")
@click.option("--output", "-o", default=None, metavar="FILE",
              help="Where to write (default: <ring>.csv / .parquet here; '-' for stdout, csv).")
@click.option("--symbol", default=None, help="Only this instrument's records.")
@click.option("--from", "time_from", default=None, metavar="T", help="As `journal cat`.")
@click.option("--to", "time_to", default=None, metavar="T", help="As `journal cat`.")
def export_command(directory, ring, fmt, output, symbol, time_from, time_to):
    """Write a ring's records to a CSV or Parquet file, a column per field."""
    records, names, clock = _selected(_open(directory), ring, symbol, time_from, time_to)
    fields = [name for name in records.dtype.names if not name.startswith("_")]
    output = output or f"{RING_ALIASES.get(ring, ring)}.{fmt}"
    symbols = np.array(names + [""], dtype=object)[np.minimum(records["symbol_id"], len(names))]
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise click.ClickException("--format parquet needs pyarrow: pip install pyarrow") \
                from None
        columns = {name: pa.array(records[name]) for name in fields}
        columns["symbol"] = pa.array(symbols.tolist(), type=pa.string())
        try:
            pq.write_table(pa.table(columns), output)
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc}") from None
    else:
        try:
            f = sys.stdout if output == "-" else open(output, "w", newline="")
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc.strerror}") from None
        with f if output != "-" else nullcontext(f):
            writer = csv.writer(f)
            writer.writerow(fields + ["symbol"])
            columns = [records[name].tolist() for name in fields] + [symbols.tolist()]
            writer.writerows(zip(*columns))
    if output != "-":
        click.echo(f"{len(records):,} records of {RING_ALIASES.get(ring, ring)} -> {output}",
                   err=True)
