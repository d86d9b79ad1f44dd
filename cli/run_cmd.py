"""`tickpipe run`: start the engine, watch it, print the final report."""

import json

import click

from tickpipe.engine.config import ConfigError, load_config, parse_core_list, to_toml


@click.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False))
@click.option("--seconds", type=float, default=None,
              help="Run time in seconds; 0 runs until Ctrl-C (default from config: 10).")
@click.option("--rate", type=int, default=None,
              help="Ticks per second offered by the feed; 0 = as fast as the rings take them.")
@click.option("--cores", default=None, metavar="LIST",
              help="Cores for feed, strategy, risk, gateway, e.g. 2,3,4,5 (default: automatic).")
@click.option("--wait", type=click.Choice(["auto", "spin", "yield", "backoff", "block"]),
              default=None, help="Wait strategy (auto: spin only for a worker that owns a core).")
@click.option("--data", "data_file", default=None, metavar="FILE",
              help="Replay this market-data file (.csv, .parquet, hftbacktest .npz, Databento "
                   ".dbn/.dbn.zst, or a journal's run folder; docs/data.md) instead of the "
                   "synthetic feed, until its end unless --seconds says otherwise.")
@click.option("--speed", type=float, default=None,
              help="Replay pace: 1 = as recorded (default), 10 = ten times faster, 0 = flat out.")
@click.option("--depth", type=int, default=None, metavar="LEVELS",
              help="Levels of each symbol's book to keep, 1-10 (default 1: the top only); "
                   "data with depth fills them (docs/data.md, 'Depth').")
@click.option("--journal", "journal_dir", default=None, metavar="DIR",
              help="Write every ring's records to a journal under DIR, a folder per run "
                   "(docs/journal.md; read it with `tickpipe journal`).")
@click.option("--name", default=None, help="Engine (segment) name; default 'tickpipe'.")
@click.option("--keep", is_flag=True, help="Keep the segment after the run, for a post-mortem.")
@click.option("--lock-memory", is_flag=True, default=None, help="mlockall in every worker.")
@click.option("--json", "as_json", is_flag=True,
              help="Print only the final report, as JSON (its notes say what happened on "
                   "the way: a worker restarted, and why).")
@click.option("--print-config", is_flag=True, help="Print the effective config as TOML and exit.")
def run(config_file, seconds, rate, cores, wait, data_file, speed, depth, journal_dir, name, keep,
        lock_memory, as_json, print_config):
    """Run the engine: feed -> strategy -> risk -> gateway, four pinned processes.

    With no CONFIG_FILE it runs the embedded default: a synthetic feed, a
    mean-reversion strategy, pre-trade risk and a gateway trading against the
    built-in simulated exchange. One status line a second while it runs;
    Ctrl-C (or SIGTERM) stops the feed, drains every ring and prints the report.

    A config file adds what the default leaves out: your strategies, recorded or live
    market data, a FIX venue ([venue] kind = "fix"), and [[bridge]] tables that join
    two engines over ZeroMQ (docs/bridges.md; examples/two-hosts).
    """
    from tickpipe.engine.report import failure_line, format_report
    from tickpipe.engine.supervisor import EngineError, run_engine

    overrides = {"engine": {}}
    try:
        if data_file is not None:
            overrides["feed"] = {"source": "file", "file": data_file}
            if seconds is None:
                seconds = 0.0  # the data's end stops the run
        if speed is not None:
            overrides.setdefault("feed", {})["speed"] = speed
        if depth is not None:
            overrides.setdefault("feed", {})["depth"] = depth
        if journal_dir is not None:
            overrides["journal"] = {"dir": journal_dir}
        if seconds is not None:
            overrides["engine"]["seconds"] = seconds
        if rate is not None:
            overrides["engine"]["rate"] = rate
        if cores is not None:
            overrides["engine"]["cores"] = parse_core_list(cores)
        if wait is not None:
            overrides["engine"]["wait"] = wait
        if name is not None:
            overrides["engine"]["name"] = name
        if lock_memory:
            overrides["engine"]["lock_memory"] = True
        config = load_config(config_file, overrides)
    except ConfigError as exc:
        given = dict(overrides["engine"], **{k: v for k, v in overrides.get("feed", {}).items()
                                              if k in ("speed", "depth")})
        raise click.ClickException(_option_error(exc, given, {
            "seconds": seconds, "rate": rate, "cores": cores, "speed": speed,
            "depth": depth})) from None
    if print_config:
        click.echo(to_toml(config), nl=False)
        return

    def say(line):
        if not as_json:
            click.echo(line, err=True)

    try:
        report = run_engine(config, keep=keep, say=say, status=say)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(format_report(report))
    # Anything but a clean stop (a worker given up, a drain that timed out) is a
    # failed run: exit 1 with one line saying why, after the report.
    failure = failure_line(report)
    if failure:
        raise click.ClickException(failure)


def _option_error(exc: ConfigError, given: dict, typed: dict) -> str:
    """The error line, naming the option the user typed rather than the config key it set."""
    section, key = exc.field or (None, None)
    if section not in ("engine", "feed") or key not in given:
        return str(exc)
    if key == "name":  # the reason already quotes the name
        return exc.reason
    return f"--{key.replace('_', '-')} {typed.get(key, given[key])!r}: {exc.reason}"
