"""`tickpipe ls`, `inspect`, `cleanup`, `halt`, `reduce`, `resume`: the attach inspector
(`halt` also waits for the venue to cancel every working order).

Thin: parse, call engine.snapshot / engine.cleanup / engine.control, print.
The engine modules are imported inside the commands, so `tickpipe --help` and
the other commands do not pay for them; none of them imports numba or the
workers (`tickpipe inspect ENGINE --json` must start and finish in < 300 ms).
Library errors become click.ClickException: one line, exit 1, no traceback.
"""

import json
import os
import sys
import time

import click

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
@click.argument("engine")
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
    """Look inside a running (or dead) engine without touching it.

    Maps the segment read-only after checking magic, version, layout hash,
    ready flag and size; never writes, takes no lock. Shows the engine,
    every worker, ring and hop (p50..max, over the run and the last
    interval), risk: trading state, positions and PnL (realised, unrealised at
    the book's mid, fees; in each instrument's currency) by instrument name,
    open and resting orders, rejects; each strategy: its source, params,
    symbols, per-symbol state by field name (read from the segment's
    description of it; the strategy's code is never imported), its P&L and
    its open orders; and the venue's working orders with their queue.
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
    @click.argument("engine")
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
@click.argument("engine")
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
            click.echo(f"engine {engine}: waiting for the venue's cancels: {_orders(working)} "
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
            raise click.ClickException(f"{line}; {_orders(wait.working)} still working there")
        if not as_json:
            click.echo(f"{line}; none is working there")
    elif wait.timed_out:
        raise click.ClickException(
            f"engine {engine}: {_orders(wait.working)} still working at the venue after "
            f"{wait.waited_s:g} s (--timeout {timeout_s:g}); {wait.cancelled:,} cancelled so far")
    elif not as_json:
        click.echo(f"engine {engine}: no order works at the venue; {_orders(wait.cancelled)} "
                   f"cancelled by the kill switch (in {wait.waited_s:.2f} s)")


def _orders(n: int) -> str:
    return f"{n:,} order" if n == 1 else f"{n:,} orders"


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


# ---- text for people ---------------------------------------------------------------

def _table(columns, rows, indent: str = "") -> list[str]:
    """Fixed-width text table. columns: (title, width, cell(row) -> str); width < 0 aligns left."""
    def pad(text, width):
        return f"{text:<{-width}}" if width < 0 else f"{text:>{width}}"
    cells = [[str(cell(row)) for _, _, cell in columns] for row in rows]
    # a column whose cells outgrow it widens, with a space, rather than run into the next
    widths = []
    for k, (title, width, _) in enumerate(columns):
        widest = max([len(line[k]) for line in cells] + [len(title)])
        grown = widest + 1 if widest > abs(width) and abs(width) > 2 else abs(width)
        widths.append(-grown if width < 0 else grown)
    lines = [indent + "".join(pad(title, width) for (title, _, _), width
                              in zip(columns, widths)).rstrip()]
    lines += [indent + "".join(pad(text, width) for text, width in zip(line, widths)).rstrip()
              for line in cells]
    return lines


_GAP = ("", 2, lambda _: "")
LISTING_COLUMNS = (
    ("NAME", -24, lambda i: i.name), ("PID", 8, lambda i: i.owner_pid or "-"), _GAP,
    ("ALIVE", -6, lambda i: {True: "alive", False: "DEAD", None: "?"}[i.alive]),
    ("STATE", -10, lambda i: i.state or "-"), ("SIZE", 9, lambda i: _bytes(i.size)),
    _GAP, ("BACKING", -10, lambda i: i.backing), ("PAGE", 7, lambda i: _bytes(i.page_size)),
    ("AGE", 8, lambda i: _seconds(i.age_s)),
    ("  NOTE", -20, lambda i: "  " + _listing_note(i) if _listing_note(i) else ""),
)
WORKER_COLUMNS = (
    ("WORKER", -10, lambda w: w["role"]), ("PID", 8, lambda w: w["pid"]),
    ("CORE", 5, lambda w: w["core"]), _GAP, ("STATE", -9, lambda w: w["state"]),
    ("ALIVE", -6, lambda w: "yes" if w["alive"] else "NO"),
    ("BEAT", 7, lambda w: _seconds(w["heartbeat_age_s"])), ("RECORDS", 13, lambda w: f"{w['records']:,}"),
    ("RATE/s", 11, lambda w: _rate(w["rate_per_s"])), ("IDLE", 6, lambda w: _percent(w["idle_share"])),
    ("RESTARTS", 9, lambda w: w["restarts"]), ("ERRORS", 7, lambda w: w["errors"]),
    ("  WAIT", -8, lambda w: "  " + w["wait"]),
)
RING_COLUMNS = (
    ("RING", -16, lambda r: r["name"]),
    ("PRODUCER -> CONSUMER", -22, lambda r: f"{r['producer']} -> {r['consumer']}"),
    ("CAPACITY", 10, lambda r: f"{r['capacity']:,}"), ("HEAD", 13, lambda r: f"{r['head']:,}"),
    ("TAIL", 13, lambda r: f"{r['tail']:,}"), ("OCC", 8, lambda r: f"{r['occupancy']:,}"),
    ("HIGH", 8, lambda r: f"{r['high_water']:,}"), ("RATE/s", 11, lambda r: _rate(r["rate_per_s"])),
)
_RUN_FIGURES = ("p50", "p90", "p99", "p999", "max")
LATENCY_COLUMNS = (
    ("LATENCY (us)", -20, lambda hop: hop[0]), ("count", 11, lambda hop: f"{hop[1]['run']['count']:,}"),
    *((name.replace("p999", "p99.9"), 10, lambda hop, k=name: _us(hop[1]["run"][k]))
      for name in _RUN_FIGURES),
    ("  | last interval:", -18, lambda hop: "  |"),
    ("count", 9, lambda hop: _dash((hop[1]["interval"] or {}).get("count"))),
    *((name, 10, lambda hop, k=name: _us((hop[1]["interval"] or {}).get(k)))
      for name in ("p50", "p99", "max")),
)
POSITION_COLUMNS = (
    ("SYMBOL", -17, lambda p: p[0]), ("ID", 6, lambda p: p[1]["symbol_id"]),
    ("POSITION", 10, lambda p: f"{p[1]['position']:,}"),
    ("REALISED PNL", 18, lambda p: _money(p[1]["realised_pnl_ccy"], p[1]["currency"])),
    ("UNREALISED", 16, lambda p: _money(p[1].get("unrealised_pnl_ccy"), p[1]["currency"])),
    ("FEES", 16, lambda p: _money(p[1].get("fees_ccy"), p[1]["currency"])),
    ("NET", 16, lambda p: _money(p[1].get("net_pnl_ccy"), p[1]["currency"])),
    ("OPEN ORD", 10, lambda p: _dash(p[1].get("open_orders"))),
    ("RESTING", 9, lambda p: _dash(p[1].get("venue_resting"))),
)
# Order tables in the text view: at most this many rows each (--json has them all).
ORDER_ROWS = 12
ORDER_COLUMNS = (
    ("ORDER ID", lambda o: str(o["order_id"])), ("SYMBOL", lambda o: o["symbol"]),
    ("SIDE", lambda o: o["side"]), ("STATUS", lambda o: o["status"]),
    ("TYPE", lambda o: o["type"]), ("TIF", lambda o: o["tif"]),
    ("QTY", lambda o: f"{o['qty']:,}"), ("CUM", lambda o: f"{o['cum_qty']:,}"),
    ("LEAVES", lambda o: f"{o['leaves_qty']:,}"), ("PRICE", lambda o: _price(o["price"])),
    ("AVG PX", lambda o: _price(o["avg_px"])),
    ("REJECT", lambda o: "-" if o["reject_reason"] == "none" else o["reject_reason"]),
)
VENUE_COLUMNS = (ORDER_COLUMNS[0], ("STRATEGY", lambda o: o["strategy"]), *ORDER_COLUMNS[1:],
                 ("QUEUE AHEAD", lambda o: f"{o['queue_ahead']:,}"))


def _listing_note(info) -> str:
    """What the STATE column leaves out: a dead engine's last recorded state, and what a
    file that is no segment is and whose (another user's file blocks the name)."""
    if info.kind == "segment":
        return f"last state {info.recorded_state}" if info.alive is False and info.recorded_state \
            else ""
    note = info.kind if info.file_type == "file" else f"{info.kind} ({info.file_type})"
    return note if info.file_uid == os.geteuid() else f"{note} of user {info.file_user}"


def format_listing(infos) -> str:
    if not infos:
        return "no tickpipe segments on this host"
    return "\n".join(_table(LISTING_COLUMNS, infos))


def format_snapshot(data: dict) -> str:
    engine, risk = data["engine"], data["risk"]
    owner = engine["owner"]
    locked = engine["locked"] or engine["workers_mem_locked"]
    # The segment keeps the last state its owner wrote: a dead engine says so first.
    state = engine["state"] if engine["alive"] else f"dead (last state {engine['state']})"
    lines = [
        f"engine {engine['name']}: {state}, trading {engine['trading_state']}, "
        f"owner pid {owner['pid']} uid {owner['uid']} "
        f"{'alive' if engine['alive'] else 'DEAD'}, up {_seconds(engine['uptime_s'])}",
        f"  segment {engine['path']}: {_bytes(engine['size'])}, {engine['backing']}, "
        f"{_bytes(engine['page_size'])} pages, {'locked' if locked else 'not locked'}, "
        + _rate_basis_text(engine),
    ]
    if not engine["alive"]:
        lines.append(f"  POST-MORTEM: the owner (pid {owner['pid']}) is dead; these are the last "
                     f"figures it left, {_seconds(engine['age_s'])} after it made the segment")
    rejects = ", ".join(f"{k} {v:,}" for k, v in risk["rejects"].items() if v) or "none"
    venue_rejects = ", ".join(f"{k} {v:,}" for k, v in risk.get("venue_rejects", {}).items()
                              if v) or "none"
    return "\n".join([
        *lines, "", *_table(WORKER_COLUMNS, data["workers"]),
        "", *_table(RING_COLUMNS, data["rings"]),
        "", *_table(LATENCY_COLUMNS, data["latency_ns"].items()),
        "", f"risk: trading {risk['trading_state']} (set {risk['trading_state_changes']} times), "
            f"intents {risk['intents_read']:,}, orders sent {risk['orders_sent']:,}, "
            f"fills {risk['fills']:,}, exchange rejects {risk['exchange_rejects']:,}, "
            f"open orders {risk.get('open_orders', 0):,}",
        f"  PnL: {_pnl_text(risk)}",
        f"  rejected by risk: {rejects}; by the venue: {venue_rejects}",
        *_table(POSITION_COLUMNS, risk["positions"].items(), indent="  "),
        *(line for name, strategy in data.get("strategies", {}).items()
          for line in ("", *format_strategy(name, strategy))),
        *(("", *format_venue(data["venue"])) if "venue" in data else ()),
    ])


def _pnl_text(figures: dict) -> str:
    """realised, unrealised, fees and net, each by currency."""
    return ", ".join(f"{label} {_money_by_currency(figures.get(key) or {})}"
                     for label, key in (("realised", "realised_pnl_ccy"),
                                        ("unrealised", "unrealised_pnl_ccy"),
                                        ("fees", "fees_ccy"), ("net", "net_pnl_ccy")))


def _by_status_text(by_status: dict) -> str:
    return ", ".join(f"{status} {n:,}" for status, n in by_status.items()) or "none"


def format_orders(orders: list[dict], columns, indent: str = "  ") -> list[str]:
    """Up to ORDER_ROWS orders as a table, then how many more there are."""
    shown = orders[:ORDER_ROWS]
    lines = _auto_table([title for title, _ in columns],
                        [[cell(o) for _, cell in columns] for o in shown], indent=indent)
    if len(orders) > len(shown):
        lines.append(f"{indent}... and {len(orders) - len(shown):,} more orders; "
                     f"--json has them all")
    return lines


def format_venue(venue: dict) -> list[str]:
    """The venue's working orders, every strategy's, with their place in the queue."""
    lines = [f"venue: {_orders(venue['working'])} working; its table: "
             f"{_by_status_text(venue['by_status'])}; kill switch cancelled "
             f"{venue['kill_switch_cancels']:,}"]
    if venue["resting"]:
        lines += format_orders(venue["resting"], VENUE_COLUMNS)
    return lines


# A state's array field shows in the table as its shape and its last few values
# (`--json` has them in full).
ARRAY_TAIL = 3


def format_strategy(name: str, strategy: dict) -> list[str]:
    """One strategy: what it is, then its per-symbol state, one column per field."""
    symbols = strategy.get("symbols")
    timer = strategy.get("timer_ms")
    lines = [f"strategy {name}: {strategy.get('source') or '?'}, "
             f"{len(symbols) if isinstance(symbols, list) else '?'} symbols, "
             f"timer {f'{timer:g} ms' if isinstance(timer, (int, float)) and timer else 'off'}"]
    params = strategy.get("params")
    if isinstance(params, dict):
        lines.append("  params: " + (", ".join(f"{k} {_cell(v)}" for k, v in params.items())
                                     or "none"))
    if strategy.get("error"):
        lines.append(f"  state not shown: {strategy['error']}")
    elif strategy.get("note"):
        lines.append(f"  state not shown: {strategy['note']}")
    for field_ in strategy.get("fields", []):
        if field_.get("unreadable"):
            lines.append(f"  field {field_['name']} not shown: {field_['unreadable']}")
    state = strategy.get("state")
    if not state:
        return lines + _strategy_trading_lines(strategy)
    fields = list(next(iter(state.values())))
    ids = strategy.get("symbol_ids", {})
    held = strategy.get("positions") or {}  # its own rows of strat_pos, where the engine has them

    def own(symbol):
        p = held.get(symbol)
        currency = p.get("currency", "") if p else ""
        return ([f"{p['position']:,}", *(_money(p.get(key), currency) for key in
                                         ("realised_pnl_ccy", "unrealised_pnl_ccy", "fees_ccy"))]
                if p else ["-"] * 4) if held else []
    rows = [[symbol, str(ids.get(symbol, "")), *own(symbol), *(_cell(row[f]) for f in fields)]
            for symbol, row in state.items()]
    lines += _auto_table(["SYMBOL", "ID", *(["POSITION", "REALISED PNL", "UNREALISED", "FEES"]
                                            if held else []),
                          *fields], rows, indent="  ")
    if any(isinstance(value, list) for row in state.values() for value in row.values()):
        lines.append(f"  (an array field shows [its shape] and its last {ARRAY_TAIL} values; "
                     f"--json has them all)")
    return lines + _strategy_trading_lines(strategy)


def _strategy_trading_lines(strategy: dict) -> list[str]:
    """Its P&L over its symbols and its open orders (those neither free nor final)."""
    lines = []
    if "realised_pnl_ccy" in strategy:
        lines.append(f"  PnL: {_pnl_text(strategy)}")
    orders = strategy.get("orders")
    if orders:
        reasons = orders.get("reject_reasons")
        lines.append(f"  orders: {orders['open_count']:,} open; its table: "
                     f"{_by_status_text(orders['by_status'])}"
                     + (f"; rejected: {_by_status_text(reasons)}" if reasons else ""))
        if orders["open"]:
            lines += format_orders(orders["open"], ORDER_COLUMNS)
    return lines


def _auto_table(titles: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    """A text table sized to its cells: the first column aligned left, the others right."""
    widths = [max(len(cell) for cell in column) for column in zip(titles, *rows)]

    def line(cells):
        first, *rest = cells
        return (indent + f"{first:<{widths[0]}}"
                + "".join(f"  {cell:>{width}}" for cell, width in zip(rest, widths[1:]))).rstrip()
    return [line(titles), *(line(row) for row in rows)]


def _cell(value) -> str:
    """A state or param value for people: numbers with separators, arrays compact."""
    if isinstance(value, list):
        shape, flat = _shape(value), list(_flatten(value))
        head = "..., " if len(flat) > ARRAY_TAIL else ""
        return f"[{'x'.join(map(str, shape))}] {head}" + ", ".join(
            _cell(v) for v in flat[-ARRAY_TAIL:])
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and not 1e-4 <= abs(value) < 1e12:
            return f"{value:.6g}"
        text = f"{value:,.4f}".rstrip("0")
        return text + "0" if text.endswith(".") else text  # 2.0, not 2: a float stays one
    return str(value)


def _shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _flatten(value):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _money(amount, currency: str) -> str:
    """A currency amount: at least 2 decimals, up to the 4 a price unit has."""
    if amount is None:
        return "-"
    text = f"{amount:,.4f}"
    text = text[:-2] + text[-2:].rstrip("0")
    return f"{text} {currency}".rstrip()


def _money_by_currency(totals: dict) -> str:
    return ", ".join(_money(amount, currency) for currency, amount in totals.items()) or "-"


def _rate_basis_text(engine: dict) -> str:
    if engine.get("rate_basis") == "window":
        return f"rates over the last {engine['rate_window_s']} s"
    if engine.get("rate_basis") == "since_feed_start":
        return "rates averaged since the feed started"
    return "no rates (engine not running)"


def format_histogram(hop: str, histogram, width: int = 50) -> str:
    """One bar per power-of-two range of latency, from the first to the last non-empty one."""
    from tickpipe.shm_layouts.histogram import LINEAR_LIMIT, bucket_low_value

    buckets = [int(v) for v in histogram["buckets"]]
    total = sum(buckets)
    if total == 0:
        return f"{hop}: no values recorded yet"
    rows = {}  # power of two (the range's low edge) -> count
    for index, value in enumerate(buckets):
        if value:
            low = bucket_low_value(index)
            edge = 0 if low < LINEAR_LIMIT else 1 << (low.bit_length() - 1)
            rows[edge] = rows.get(edge, 0) + value
    edges = sorted(rows)
    peak = max(rows.values())
    lines = [f"{hop}: {total:,} values, max {_us(int(histogram['max_ns']))} us",
             f"  {'from (us)':>12} {'to (us)':>12} {'count':>12}  {'cum %':>7}"]
    cumulative = 0
    for edge in edges:
        count = rows[edge]
        cumulative += count
        upper = LINEAR_LIMIT if edge == 0 else edge * 2
        bar = "#" * max(1, round(width * count / peak))
        lines.append(f"  {_us(edge):>12} {_us(upper):>12} {count:>12,}  {100 * cumulative / total:>6.2f}%"
                     f"  {bar}")
    return "\n".join(lines)


def _us(ns) -> str:
    return "-" if ns is None else f"{ns / 1000:,.1f}"


def _price(value) -> str:
    """A price in currency units, with the 4 decimals of a price unit when it has them."""
    if value is None:
        return "-"
    text = f"{value:,.4f}"
    return text[:-2] + text[-2:].rstrip("0")


def _rate(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _percent(share) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def _dash(value) -> str:
    return "-" if value is None else f"{value:,}"


def _seconds(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _bytes(size) -> str:
    if size is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}{unit}" if size % scale else f"{size // scale}{unit}"
    return f"{size}B"
