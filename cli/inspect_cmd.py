"""`tickpipe ls`, `inspect`, `cleanup`, `halt`, `reduce`, `resume`: the attach inspector
(`halt` also waits for the venue to cancel every working order).

Thin: parse, call engine.snapshot / engine.cleanup / engine.control, print.
The engine modules are imported inside the commands, so `tickpipe --help` and
the other commands do not pay for them; none of them imports numba or the
workers (`tickpipe inspect ENGINE --json` must start and finish in < 300 ms).
Library errors become click.ClickException: one line, exit 1, no traceback.
"""

import json
import sys
import time

import click

from tickpipe.cli.inspect_format import (
    format_histogram, format_listing, format_snapshot, orders_text,
)
from tickpipe.cli.params import FiniteFloatRange


def _attach(engine: str):
    from tickpipe.engine.segment import SegmentError
    from tickpipe.engine.snapshot import Inspector

    try:
        return Inspector.attach(engine)
    except SegmentError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def ls_command(as_json):
    """List every engine segment on this host (POSIX shm and hugetlbfs mounts).

    Shows name, owner pid, state, alive or dead (pid and process start time
    both checked; a zombie is dead), size, backing, page size and age. A dead
    engine's state is "dead" (its last recorded state is in the note); a file
    that is no segment is noted with whose it is.
    """
    from tickpipe.engine.cleanup import list_segments

    infos = list_segments()
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in infos], indent=2))
    else:
        click.echo(format_listing(infos))


@click.command("inspect")
@click.argument("engine", default="tickpipe", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print one snapshot as JSON (keys engine, workers, rings, latency_ns, risk, "
                   "strategies, venue; every open order in full); with --watch, one JSON line "
                   "per refresh.")
@click.option("--watch", type=FiniteFloatRange(min=0.01), is_flag=False, flag_value=1.0,
              default=None, metavar="[SECONDS]",
              help="Refresh in place every SECONDS (default 1) like top; rates are over the "
                   "last 3 s of refreshes (at least the last one), interval percentiles over "
                   "the time between refreshes.")
@click.option("--sample", "sample_s", type=FiniteFloatRange(min=0.0, max=10.0), default=0.2,
              show_default=True, metavar="SECONDS",
              help="Before the first view, count for this long so that its rates are over a "
                   "recent window, not since start-up (which would include the warm-up). "
                   "0 shows at once, with rates averaged since the feed started.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="With --watch: stop after this many refreshes.")
@click.option("--hist", "hist_hop", default=None, metavar="HOP",
              help="Print this hop's latency histogram (e.g. tick_to_trade) as text bars.")
@click.option("--serve", type=click.IntRange(0, 65535), default=None, metavar="PORT",
              help="Serve the figures at http://BIND:PORT/metrics for Prometheus (0: any port).")
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address --serve listens on.")
def inspect_command(engine, as_json, watch, count, hist_hop, serve, bind, sample_s):
    """Look inside a running (or dead) engine without touching it (ENGINE: its name,
    default 'tickpipe', the name `tickpipe run` gives it).

    Maps the segment read-only after checking magic, version, layout hash,
    ready flag and size; never writes, takes no lock. Shows the engine,
    every worker, ring and hop (p50..max, over the run and the last
    interval), risk: trading state, positions and PnL (realised, unrealised at
    the book's mid, fees; in each instrument's currency) by instrument name,
    open and resting orders, rejects; each strategy: its source, params,
    symbols, per-symbol state by field name (read from the segment's
    description of it; the strategy's code is never imported), its P&L and
    its open orders; the venue's working orders with their queue; and, with
    [feed] depth > 1, each symbol's book by level.
    """
    from tickpipe.shm_layouts.histogram import HOPS

    if hist_hop is not None and hist_hop not in HOPS:
        raise click.BadParameter(f"{hist_hop!r} is not a hop; hops: {', '.join(HOPS)}",
                                 param_hint="--hist")
    if serve is not None and (as_json or watch is not None or hist_hop is not None):
        raise click.UsageError("--serve runs a server; it does not combine with --json, "
                               "--watch or --hist")
    if as_json and hist_hop is not None:
        raise click.UsageError("--hist prints text bars; it does not combine with --json")
    if count is not None and watch is None:
        raise click.UsageError("--count needs --watch")
    inspector = _attach(engine)
    try:
        if serve is None and watch is None:
            _show(inspector.sampled_snapshot(sample_s), as_json, hist_hop, HOPS)
            return
        if serve is not None:
            _serve(inspector, serve, bind)
        else:
            _step_aside(inspector)
            _watch(inspector, watch, count, as_json, hist_hop, HOPS, sample_s)
    finally:
        inspector.close()


def _show(snapshot, as_json, hist_hop, hops, *, compact=False):
    if as_json:
        click.echo(json.dumps(snapshot.data, separators=(",", ":")) if compact
                   else json.dumps(snapshot.data, indent=2))
        return
    click.echo(format_snapshot(snapshot.data))
    if hist_hop is not None:
        click.echo()
        click.echo(format_histogram(hist_hop, snapshot.histograms[hops.index(hist_hop)]))


def _watch(inspector, seconds, count, as_json, hist_hop, hops, sample_s):
    clear = sys.stdout.isatty() and not as_json
    refreshes = 0
    try:
        while True:
            snapshot = inspector.snapshot() if refreshes else inspector.sampled_snapshot(sample_s)
            if clear:
                click.echo("\x1b[H\x1b[2J", nl=False)  # home and clear, like top
            _show(snapshot, as_json, hist_hop, hops, compact=True)
            refreshes += 1
            if count is not None and refreshes >= count:
                return
            if not clear and not as_json:
                click.echo()
            time.sleep(seconds)
    except KeyboardInterrupt:
        pass


def _step_aside(inspector) -> str:
    """A long-running inspector keeps off the workers' cores (this process and the
    threads it starts afterwards: scheduling policy and affinity are inherited)."""
    from tickpipe.engine.snapshot import step_aside

    return step_aside(inspector)


def _serve(inspector, port, bind):
    from tickpipe.engine.metrics import MetricsUnavailable, require_prometheus_client, serve

    try:
        require_prometheus_client()
    except MetricsUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    aside = _step_aside(inspector)  # before the server thread starts, so that it inherits it
    try:
        host, bound_port = serve(inspector, port, bind)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
    url_host = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
    click.echo(f"serving engine {inspector.name!r} at http://{url_host}:{bound_port}/metrics "
               f"(Ctrl-C stops); {aside}", err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


@click.command("cleanup")
@click.argument("engines", nargs=-1, metavar="[ENGINE]...")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--force", is_flag=True,
              help="Take the named ENGINEs back from whatever holds their names: a file, "
                   "symlink or fifo another user put there, or a half-made segment. Only the "
                   "directory entry is removed (a link is never followed); a running engine "
                   "is still spared. Needs ENGINE names, and root for other users' files.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def cleanup_command(engines, dry_run, force, as_json):
    """Remove the segments of dead engines (never a live one) and say what was removed.

    With ENGINE names, only those segments are considered; without, every one
    on this host. Files that are not segments are left alone, with whose they
    are, unless --force names them.
    """
    from tickpipe.engine.cleanup import cleanup_dead
    from tickpipe.engine.segment import SegmentError, check_engine_name, segment_locations

    if force and not engines:
        raise click.UsageError("--force takes names back one by one: give the ENGINE names")
    locations = None
    if engines:
        for engine in engines:
            try:
                check_engine_name(engine)
            except SegmentError as exc:
                raise click.ClickException(str(exc)) from None
        locations = [location for location in segment_locations() if location.name in engines]
        missing = sorted(set(engines) - {location.name for location in locations})
        if missing:
            raise click.ClickException(f"no tickpipe segment named {', '.join(missing)}")
    results = cleanup_dead(dry_run=dry_run, force=force, locations=locations)
    if as_json:
        click.echo(json.dumps([result.as_dict() for result in results], indent=2))
    elif not results:
        click.echo("no tickpipe segments on this host")
    else:
        for result in results:
            click.echo(f"{result.info.name} ({result.info.path}): {result.reason}")
    # --force was asked to free these names: a script must see when one is still taken.
    kept = [r.info.name for r in results if force and not dry_run and not r.removed
            and r.reason != "already gone"]
    if kept:
        raise click.ClickException(f"not taken back: {', '.join(kept)}")


def _trading_state_command(verb: str, state: str, summary: str):
    @click.command(verb, help=f"{summary}\n\nSets the trading state in ENGINE's control block "
                              f"to {state}; only the engine's owner or root may. If it is "
                              f"{state} already, nothing changes and nothing is counted.")
    @click.argument("engine", default="tickpipe", required=False)
    @click.option("--json", "as_json", is_flag=True,
                  help="Print the outcome as JSON (engine, before, after, changed, changes).")
    def command(engine, as_json):
        from dataclasses import asdict

        from tickpipe.engine.control import set_trading_state
        from tickpipe.engine.segment import SegmentError

        try:
            change = set_trading_state(engine, state)
        except SegmentError as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            click.echo(json.dumps(asdict(change)))
        else:
            click.echo(_change_line(change))
    return command


@click.command("halt")
@click.argument("engine", default="tickpipe", required=False)
@click.option("--timeout", "timeout_s", type=FiniteFloatRange(min=0.0), default=10.0,
              show_default=True, metavar="SECONDS",
              help="Wait this long for the venue to cancel every working order; 0: do not "
                   "wait.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the outcome as JSON (engine, before, after, changed, changes, and "
                   "cancels: cancelled, working, waited_s, gateway_running, timed_out).")
def halt_command(engine, timeout_s, as_json):
    """Stop all new orders and cancel every working one (the kill switch).

    Sets the trading state in ENGINE's control block to HALTED (only the
    engine's owner or root may; if it is HALTED already, nothing is counted):
    risk refuses every new order and the venue cancels every working one.
    Then waits until the venue holds no working order and says how many the
    kill switch cancelled; exit 1 if they are not all cancelled within
    --timeout, or if no gateway runs to cancel them.
    """
    from dataclasses import asdict

    from tickpipe.engine.control import halt_and_wait, set_trading_state
    from tickpipe.engine.segment import SegmentError

    def progress(waited_s, working):
        if not as_json:
            click.echo(f"engine {engine}: waiting for the venue's cancels: {orders_text(working)} "
                       f"still working after {waited_s:.1f} s (timeout {timeout_s:g} s)",
                       err=True)

    try:
        if timeout_s == 0:
            change, wait = set_trading_state(engine, "HALTED"), None
        else:
            change, wait = halt_and_wait(engine, timeout_s, progress)
    except SegmentError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**asdict(change), "cancels": asdict(wait) if wait else None}))
    else:
        click.echo(_change_line(change))
    if wait is None:
        return
    if not wait.gateway_running:
        line = f"engine {engine}: no gateway is running to cancel the venue's orders"
        if wait.working:
            raise click.ClickException(f"{line}; {orders_text(wait.working)} still working there")
        if not as_json:
            click.echo(f"{line}; none is working there")
    elif wait.timed_out:
        raise click.ClickException(
            f"engine {engine}: {orders_text(wait.working)} still working at the venue after "
            f"{wait.waited_s:g} s (--timeout {timeout_s:g}); {wait.cancelled:,} cancelled so far")
    elif not as_json:
        click.echo(f"engine {engine}: no order works at the venue; {orders_text(wait.cancelled)} "
                   f"cancelled by the kill switch (in {wait.waited_s:.2f} s)")


def _change_line(change) -> str:
    if change.changed:
        return (f"engine {change.engine}: trading state {change.before} -> {change.after} "
                f"(change #{change.changes})")
    return (f"engine {change.engine}: trading state already {change.after}; "
            f"nothing changed (still {change.changes} changes)")


reduce_command = _trading_state_command("reduce", "REDUCING",
                                        "Let through only orders that reduce a position.")
resume_command = _trading_state_command("resume", "ACTIVE", "Let all orders through again.")

COMMANDS = (ls_command, inspect_command, cleanup_command, halt_command, reduce_command,
            resume_command)
