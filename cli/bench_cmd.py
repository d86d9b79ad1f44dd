"""`tickpipe bench ...`: latency and throughput runs, tickpipe beside its peers."""

import json

import click

from bench.stats import format_latency_table, format_throughput_table, machine_line, parse_cores


def _cores_option(needed=2):
    return click.option("--cores", default=None, metavar="A,B",
                        help=f"The {needed} cores to pin the two sides to (default: the first "
                             f"{needed} this process may use).")


def _parse_cores(text, needed=2):
    try:
        return parse_cores(text, needed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cores") from None


def _progress(quiet):
    def report(message):
        if not quiet:
            click.echo(f"  running {message} ...", err=True)
    return report


def _emit(report, as_json, table):
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(machine_line(report["machine"]))
        click.echo(table)


@click.group()
def bench():
    """Latency and throughput benchmarks, measured beside the alternatives in one run."""


@bench.command()
@_cores_option()
@click.option("--iterations", type=click.IntRange(min=100), default=200_000, show_default=True,
              help="Round trips per spinning row (sleeping rows and peers run fewer).")
@click.option("--quick", is_flag=True, help="A short run (for tests and smoke checks).")
@click.option("--no-peers", is_flag=True, help="Only tickpipe and the C limit.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def ringrtt(cores, iterations, quick, no_peers, as_json):
    """Round trip of one 64-byte record between two pinned processes.

    Rows: tickpipe with each wait strategy, c-cacheline (a C cache-line
    ping-pong compiled here: the physical limit) and the Python peers.
    """
    from bench.ring_runs import BenchError
    from bench.ringrtt import run_ringrtt

    chosen = _parse_cores(cores)
    try:
        report = run_ringrtt(chosen, 5_000 if quick else iterations, peers=not no_peers,
                             progress=_progress(as_json))
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(report, as_json, format_latency_table(report["results"], "c-cacheline"))


@bench.command()
@_cores_option()
@click.option("--records", type=click.IntRange(min=1000), default=20_000_000, show_default=True,
              help="Records per tickpipe row (peers move fewer).")
@click.option("--quick", is_flag=True, help="A short run (for tests and smoke checks).")
@click.option("--no-peers", is_flag=True, help="Only tickpipe and the C ring.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def throughput(cores, records, quick, no_peers, as_json):
    """64-byte records per second from one pinned process to another."""
    from bench.ring_runs import BenchError
    from bench.throughput import run_throughput

    chosen = _parse_cores(cores)
    try:
        report = run_throughput(chosen, 200_000 if quick else records, peers=not no_peers,
                                progress=_progress(as_json))
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(report, as_json, format_throughput_table(report["results"], "tickpipe-batch64"))
