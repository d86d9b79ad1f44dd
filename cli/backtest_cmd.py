"""`tickpipe backtest`: the config's strategies on recorded data, simulated time, one process."""

import json
import math
import sys
import time

import click

from tickpipe.engine.config import ConfigError, load_config


MAX_OPTION = 10_000_000.0  # seconds or microseconds: far beyond any data's or latency's


@click.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False))
@click.option("--data", "data_file", default=None, metavar="FILE",
              help="The market data to run on (.csv, .parquet, hftbacktest .npz, Databento "
                   ".dbn/.dbn.zst, or a journal's run folder; docs/data.md). Without it: the "
                   "synthetic walk, for --seconds of simulated time.")
@click.option("--seconds", type=float, default=None,
              help="Simulated seconds to run (default: the data's end; the walk: [engine] "
                   "seconds).")
@click.option("--latency-us", type=float, default=None,
              help="Order entry latency: a request reaches the venue this long after risk "
                   "sent it (default: [venue] latency_us).")
@click.option("--feed-latency-us", type=float, default=0.0,
              help="Market-data latency: a record reaches the strategies this long after "
                   "its recorded time (the venue sees it at that time).  [default: 0]")
@click.option("--report-latency-us", type=float, default=0.0, help="A report reaches its strategy this long after the venue "
                                "sent it.  [default: 0]")
@click.option("--latency-file", default=None, metavar="FILE",
              help="Latencies from a recorded distribution: JSON {\"market_data_us\": [...], "
                   "\"order_entry_us\": [...], \"reports_us\": [...]}, or a live run's "
                   "`tickpipe run --json` report (its hops' percentiles); overrides the "
                   "constants it gives (docs/backtest.md).")
@click.option("--bucket", "bucket_s", type=float, default=60.0,
              show_default=True, help="Simulated seconds between equity samples (drawdown, "
                                      "Sharpe).")
@click.option("--journal", "journal_dir", default=None, metavar="DIR",
              help="Write every ring's records to a journal under DIR, as `tickpipe run "
                   "--journal` does (docs/journal.md); the same each run.")
@click.option("--param", "params", multiple=True, metavar="NAME=V1,V2,...",
              help="Sweep a strategy param over these values (repeat for a grid); every "
                   "combination runs, one process per core.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes for a sweep (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print only the report (or the sweep's "
                                                       "rows) as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="A sweep's rows as CSV.")
@click.option("--plot", "plot_file", default=None, metavar="OUT.png",
              help="Draw the equity curve and the position (needs matplotlib: the `plot` "
                   "extra).")
def backtest(config_file, data_file, seconds, latency_us, feed_latency_us, report_latency_us,
             latency_file, bucket_s, journal_dir, params, jobs, as_json, as_csv, plot_file):
    """Run the config's strategies, risk and the simulated venue on recorded data.

    The kernels are the live engine's (a strategy file runs here unchanged), in one
    process, on simulated time: as fast as the machine allows, and the same config and
    data give the same result every time. With no CONFIG_FILE: the embedded default, as
    `tickpipe run`. docs/backtest.md says what is modelled and what is not.
    """
    from tickpipe.engine.backtest import BacktestError, Backtest
    from tickpipe.engine.backtest_latency import read_latency_file
    from tickpipe.engine.backtest_sweep import SweepError, parse_grid, sweep

    for option, value, low in (("--seconds", seconds, 0), ("--latency-us", latency_us, 0),
                               ("--feed-latency-us", feed_latency_us, 0),
                               ("--report-latency-us", report_latency_us, 0),
                               ("--bucket", bucket_s, 1e-3)):
        if value is not None and not (math.isfinite(value) and low <= value <= MAX_OPTION):
            raise click.ClickException(f"{option} {value:g}: must be from {low:g} to "
                                       f"{MAX_OPTION:g}")
    if plot_file and params:
        raise click.ClickException("--plot draws one run: not with --param (run the "
                                   "combination you want drawn alone)")
    if as_csv and not params:
        raise click.ClickException("--csv prints a sweep's rows: give --param (a single run: "
                                   "--json)")
    overrides = {}
    if data_file is not None:
        overrides["feed"] = {"source": "file", "file": data_file}
    if latency_us is not None:
        overrides["venue"] = {"latency_us": latency_us}
    if journal_dir is not None:
        overrides["journal"] = {"dir": journal_dir}
    try:
        config = load_config(config_file, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if config["feed"]["source"] == "file" and seconds is None:
        seconds = 0.0  # the data's end
    try:
        latency = {"feed_latency_us": feed_latency_us, "report_latency_us": report_latency_us,
                   "latencies": read_latency_file(latency_file) if latency_file else None}
        grid = parse_grid(config, params)
        if grid and config["journal"]["dir"]:
            raise SweepError("--journal with --param: one journal per run is not built; run "
                             "the combination you want journaled alone")
        if grid:
            rows = sweep(config, grid, seconds=seconds, bucket_s=bucket_s, jobs=jobs,
                         latency=latency,
                         progress=None if as_json or as_csv else _sweep_progress)
            click.echo(_rows_text(rows, as_json, as_csv), nl=not as_csv)
            return
        report = Backtest(config, bucket_s=bucket_s, seconds=seconds, **latency,
                          say=(lambda line: None) if as_json else _say).run(
            progress=None if as_json else _Progress())
    except (BacktestError, SweepError) as exc:
        raise click.ClickException(str(exc)) from None
    if plot_file:
        _plot(report, plot_file, config)
        samples = max((len(c) for c in report["backtest"]["equity"].values()), default=0)
        if samples < PLOT_SAMPLES_FEW:  # the curves are a few points: say why, and the cure
            click.echo(f"--plot: {samples} sample(s) of equity, one per --bucket of "
                       f"{report['backtest']['bucket_s']:g} s over "
                       f"{report['backtest']['simulated_s']:g} s simulated: a smaller --bucket "
                       f"draws a curve", err=True)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(format_backtest(report))


PLOT_SAMPLES_FEW = 10  # equity samples below which --plot says its curves are a few points


def _say(line: str) -> None:
    click.echo(line, err=True)


class _Progress:
    """One line on stderr about once a second: events done (of the file's), simulated time,
    events/s; on a terminal it rewrites itself."""

    def __init__(self):
        self.started = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None, sim_s: float) -> None:
        now = time.monotonic()
        if done == 0:  # the run starts (after its compile): events/s counts from here
            self.started = self.last = now
            return
        if now - self.last < 1.0:
            return
        self.last = now
        share = f" ({100 * done / total:.0f} % of {total:,})" if total else ""
        line = (f"backtest: {done:,} events{share}, {sim_s:,.1f} s simulated, "
                f"{done / (now - self.started):,.0f} events/s")
        click.echo(("\r" + line) if self.tty else line, err=True, nl=not self.tty)


def _sweep_progress(done: int, total: int) -> None:
    click.echo(f"sweep: {done} of {total} runs done", err=True)


def format_backtest(report: dict) -> str:
    """The backtest's own lines, then the engine's report (engine/report.py)."""
    from tickpipe.engine.report import format_report
    bt, timing = report["backtest"], report["timing"]
    money = lambda figures: ", ".join(f"{v:,.2f} {c}" for c, v in sorted(figures.items())) or "-"
    sharpe = ", ".join(f"{v} {c}" for c, v in sorted(bt["sharpe_per_bucket"].items())
                       if v is not None) or "-"
    model = bt["latency_model"]

    def latency(name):
        value = model[f"{name}_us"]
        return f"{value:g} us" if not isinstance(value, dict) else \
            f"p50 {value['p50']:g} / p99 {value['p99']:g} us ({value['samples']} samples)"
    lines = [
        f"backtest of {bt['data']}: {bt['events']:,} events, {bt['simulated_s']:,.3f} s "
        f"simulated, in {timing['run_s']:.2f} s ({timing['events_per_s']:,} events/s; "
        f"compile {timing['compile_s']:.1f} s)",
        f"  latency model ({model['kind']}): market data {latency('market_data')}, "
        f"order entry {latency('order_entry')}, reports {latency('reports')}",
        f"  max drawdown {money(bt['max_drawdown'])}; Sharpe per {bt['bucket_s']:g} s bucket "
        f"{sharpe}",
    ]
    body = dict(report, workers=[], memory={"backing": "backtest", "page_size": 4096,
                                            "locked": False}, notes=report.get("notes", []))
    text = format_report(body).splitlines()
    return "\n".join(lines + [line for line in text[1:] if not line.startswith("  workers:")])


def _journal_fills(config: dict, report: dict, symbol: str):
    """(time, price, side) of each fill of `symbol`, from the run's journal; None without
    one."""
    run = config.get("journal_run") or {}
    directory = (report.get("journal") or {}).get("dir") or run.get("dir")
    if not directory:
        return None
    from tickpipe.shm_layouts.fill import EXEC_FILL, EXEC_PARTIAL_FILL
    from tickpipe.shm_layouts.market_data import PRICE_SCALE
    from tickpipe.workers.journal.reader import open as open_journal
    journal = open_journal(directory)
    names = [instrument["name"] for instrument in journal.instruments]
    if symbol not in names:
        return None
    reports = journal.ring("fills_risk")
    picked = reports[((reports["exec_type"] == EXEC_FILL) | (reports["exec_type"] == EXEC_PARTIAL_FILL))
                     & (reports["symbol_id"] == names.index(symbol))]
    return [(int(r["publish_ns"]), int(r["last_px"]) / PRICE_SCALE, int(r["side"]))
            for r in picked]


def _rows_text(rows: list, as_json: bool, as_csv: bool) -> str:
    if as_json:
        return json.dumps(rows, indent=2)
    keys = list(rows[0])
    if as_csv:  # a figure by currency: a column per currency (net_pnl_USD, ...)
        import csv
        import io
        columns = [(k, None) if not isinstance(rows[0][k], dict) else (k, c)
                   for k in keys for c in (sorted({c for row in rows for c in row[k]})
                                           if isinstance(rows[0][k], dict) else [None])]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([k if c is None else f"{k}_{c}" for k, c in columns])
        for row in rows:
            writer.writerow(["" if (v := (row[k] if c is None else row[k].get(c))) is None
                             else v for k, c in columns])
        return out.getvalue()
    cells = [[_cell(row[k]) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{v:,.2f} {k}" if isinstance(v, float) else f"{v} {k}"
                         for k, v in sorted(value.items()) if v is not None) or "-"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _plot(report: dict, path: str, config: dict) -> None:
    """Equity (net P&L by currency) over simulated time; the position of the symbol that
    traded most; its mid with its fills (buys and sells, from the journal when there is
    one: --journal)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise click.ClickException("--plot needs matplotlib: pip install 'tickpipe[plot]'") \
            from None
    bt = report["backtest"]
    figure, (equity, held, price) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    curves = bt["equity"]
    start = bt["start_ns"]
    for currency, curve in sorted(curves.items()):
        equity.plot([(t - start) / 1e9 for t, _ in curve], [v for _, v in curve],
                    label=f"net P&L, {currency}")
    equity.set_ylabel("net P&L")
    equity.set_title(f"backtest of {bt['data']}: {bt['events']:,} events")
    equity.legend()
    most = bt.get("traded_most") or {}
    if most:
        times = [(t - start) / 1e9 for t in most["t"]]
        held.step(times, most["position"], where="post", label=f"position, {most['symbol']}")
        held.set_ylabel("lots")
        held.legend()
        price.plot(times, most["mid"], color="grey", label=f"mid, {most['symbol']}")
        fills = _journal_fills(config, report, most["symbol"])
        if fills is not None:
            for side, marker, color in ((1, "^", "green"), (-1, "v", "red")):
                picked = [(t, px) for t, px, s in fills if s == side]
                if picked:
                    price.scatter([(t - start) / 1e9 for t, _ in picked],
                                  [px for _, px in picked], marker=marker, color=color, s=12,
                                  label="buys" if side > 0 else "sells")
        else:
            price.set_title("(fills are drawn from a journal: add --journal DIR)", fontsize=8)
        price.set_ylabel("price")
        price.legend()
    price.set_xlabel("simulated seconds")
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as exc:
        raise click.ClickException(f"--plot {path}: {exc.strerror}") from None
    finally:
        plt.close(figure)
