"""`tickpipe bench ...`: latency and throughput runs, tickpipe beside its peers, in one run."""

import json
import os
import signal
import threading
import time

import click

from tickpipe.bench.stats import format_latency_table, format_throughput_table, machine_line, parse_cores
from tickpipe.cli.params import FiniteFloatRange
from tickpipe.engine.config import MAX_RATE

PEER_COUNT = 6  # bench/peers: PEER_NAMES


class ProgressBar:
    """`[####......] 3/8  12.4s  running tickpipe-block ...` on stderr, one line per step.

    Silent with --json (stdout stays pure JSON; stderr then carries nothing)."""

    def __init__(self, total: int, quiet: bool, width: int = 20):
        self.total, self.quiet, self.width = max(total, 1), quiet, width
        self.done = 0
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        self.done += 1
        if self.quiet:
            return
        filled = min(self.width, self.width * (self.done - 1) // self.total)
        bar = "#" * filled + "." * (self.width - filled)
        click.echo(f"[{bar}] {self.done}/{self.total} {time.monotonic() - self.start:6.1f}s  "
                   f"{message}", err=True)


def _parse_cores(text, needed=2):
    try:
        return parse_cores(text, needed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cores") from None


def _emit(report, as_json, text):
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(machine_line(report["machine"]))
        click.echo(text)


def _plot(reports, directory):
    from tickpipe.bench.plots import PlotUnavailable, write_charts
    try:
        for path in write_charts(reports, directory):
            click.echo(f"wrote {path}", err=True)
    except PlotUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _guard(run):
    """Run a bench, turning its failures into one line (exit 1)."""
    from tickpipe.bench.ring_runs import BenchError
    from tickpipe.engine.config import ConfigError
    from tickpipe.engine.supervisor import EngineError
    try:
        return run()
    except (BenchError, EngineError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


cores_option = click.option("--cores", default=None, metavar="A,B",
                            help="The two cores to pin the two sides to "
                                 "(default: the first two this process may use).")
quick_option = click.option("--quick", is_flag=True, help="A short run, for a first look.")
no_peers_option = click.option("--no-peers", is_flag=True, help="Leave out the peers.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
SMOKE_HELP = "For tests: the smallest run that exercises every path; its figures mean nothing."


def smoke_option(what: str):
    """--smoke, its help saying what this bench's smallest run is (the sizes are the
    SMOKE_* constants of its module under bench/)."""
    return click.option("--smoke", is_flag=True, help=f"{SMOKE_HELP} {what}")


def _writable_dir(ctx, param, value):
    """Make DIR now and check it takes files, so a bad path fails before the run, not after."""
    if value is None:
        return None
    try:
        os.makedirs(value, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot create {value!r}: {exc.strerror}") from None
    if not os.access(value, os.W_OK):
        raise click.BadParameter(f"{value!r} is not writable")
    return value


plot_option = click.option("--plot", "plot_dir", default=None, metavar="DIR", callback=_writable_dir,
                           help="Write PNG charts to DIR (needs the 'plot' extra: matplotlib).")


@click.group()
@click.pass_context
def bench(ctx):
    """Latency and throughput benchmarks, measured beside the alternatives in one run.

    Every run names the machine (CPU, cores, kernel, pinning, page size); timings
    are meant as ratios against the reference rows measured in the same run.
    """
    # SIGTERM (a `timeout`, a CI runner) ends a bench the way Ctrl-C does: through
    # the finally blocks that kill its side processes and unlink its segments. The
    # handler is this command's only: a process that ran it in-process gets its own back.
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


def _exit_on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise SystemExit(128 + signum)


def _ringrtt(cores, iterations, no_peers, quiet, smoke=False):
    from tickpipe.bench.ringrtt import (NATIVE_RTT, SMOKE_ITERATIONS, SMOKE_WARMUP, TICKPIPE_WAITS,
                                        run_ringrtt)
    total = len(TICKPIPE_WAITS) + len(NATIVE_RTT) + (0 if no_peers else PEER_COUNT)
    if smoke:
        iterations = SMOKE_ITERATIONS
    return _guard(lambda: run_ringrtt(cores, iterations, peers=not no_peers,
                                      warmup=SMOKE_WARMUP if smoke else None,
                                      progress=ProgressBar(total, quiet)))


@bench.command()
@cores_option
@click.option("--iterations", type=click.IntRange(min=100, max=10_000_000), default=200_000, show_default=True,
              help="Round trips per spinning row (sleeping rows and peers run fewer).")
@quick_option
@smoke_option("20 round trips a row (2 a sleeping one, 1,000 a peer's), 10 unmeasured "
              "first; overrides --quick and --iterations.")
@no_peers_option
@json_option
@plot_option
def ringrtt(cores, iterations, quick, smoke, no_peers, as_json, plot_dir):
    """Round trip of one 64-byte record between two pinned processes.

    Rows: tickpipe with each wait strategy, c-cacheline (a C cache-line
    ping-pong compiled here: the physical limit), c-ring (the same trip through
    two C rings built like tickpipe's: the floor of the ring design),
    c-ring-index (the C rings under the previous rule, publication by head
    index, for comparison) and the Python peers.
    """
    report = _ringrtt(_parse_cores(cores), 5_000 if quick else iterations, no_peers, as_json,
                      smoke)
    _emit(report, as_json, format_latency_table(report["results"], "c-cacheline"))
    if plot_dir:
        _plot({"ringrtt": report}, plot_dir)


def _throughput(cores, records, no_peers, quiet, smoke=False):
    from tickpipe.bench.throughput import SMOKE_RECORDS, run_throughput
    total = 6 + (0 if no_peers else 2 * PEER_COUNT)
    if smoke:
        records = SMOKE_RECORDS
    return _guard(lambda: run_throughput(cores, records, peers=not no_peers,
                                         progress=ProgressBar(total, quiet)))


@bench.command()
@cores_option
@click.option("--records", type=click.IntRange(min=1000, max=100_000_000), default=20_000_000, show_default=True,
              help="Records per tickpipe row (peers move fewer).")
@quick_option
@smoke_option("Twice a ring's capacity of records a row (the ring wraps, the producer waits "
              "for room; a peer's 10,000); overrides --quick and --records.")
@no_peers_option
@json_option
def throughput(cores, records, quick, smoke, no_peers, as_json):
    """64-byte records per second from one pinned process to another, single and batched."""
    report = _throughput(_parse_cores(cores), 200_000 if quick else records, no_peers, as_json,
                         smoke)
    _emit(report, as_json, format_throughput_table(report["results"], "tickpipe-batch64"))


def _pipeline(cores, seconds, quick, no_peers, quiet, smoke=False):
    from tickpipe.bench.pipeline import RATES, SMOKE_RATES, SMOKE_SECONDS, run_pipeline
    from tickpipe.engine.config import ConfigError, parse_core_list
    try:
        chosen = parse_core_list(cores) if cores else None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--cores") from None
    if smoke:
        rates, seconds = SMOKE_RATES, SMOKE_SECONDS
    elif quick:
        rates, seconds = RATES[1:2], 1.0
    else:
        rates = RATES
    total = len(rates) * (1 if no_peers else 2)
    return _guard(lambda: run_pipeline(chosen, seconds, rates=rates,
                                       peers=not no_peers, progress=ProgressBar(total, quiet)))


@bench.command()
@click.option("--cores", default=None, metavar="LIST",
              help="Cores for feed, strategy, risk, gateway (default: automatic placement).")
@click.option("--seconds", type=FiniteFloatRange(min=0.5, max=3600), default=3.0, show_default=True,
              help="Run time per offered rate.")
@quick_option
@smoke_option("100k ticks/s only, 0.3 s a pipeline; overrides --quick and --seconds.")
@no_peers_option
@json_option
@plot_option
def pipeline(cores, seconds, quick, smoke, no_peers, as_json, plot_dir):
    """Tick-to-trade through the four real workers at 10k, 100k, 1M ticks/s and flat out,
    beside the same stages over multiprocessing.Queue (mp.Queue-pipeline)."""
    from tickpipe.bench.pipeline import format_pipeline_table
    report = _pipeline(cores, seconds, quick, no_peers, as_json, smoke)
    _emit(report, as_json, format_pipeline_table(report["results"]))
    if plot_dir:
        _plot({"pipeline": report}, plot_dir)


@bench.command(name="strategy")
@click.option("--runs", type=click.IntRange(min=1, max=1000), default=7, show_default=True)
@json_option
def strategy_cmd(runs, as_json):
    """ns per quote through one strategy loop in this process: the runner with the built-in
    mean reversion plug-in beside the old inline loop (no other worker, no noise from them)."""
    from tickpipe.bench.strategy_bench import run_strategy_bench
    report = _guard(lambda: run_strategy_bench(runs))
    lines = [f"{'name':<18} {'ns/quote':>9} {'vs inline':>10}"]
    for row in report["results"]:
        lines.append(f"{row['name']:<18} {row['ns_per_quote']:>9} {row.get('vs_inline', ''):>10}")
    _emit(report, as_json, "\n".join(lines))


@bench.command()
@click.option("--runs", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="Edits timed, each way (after one unmeasured run).")
@json_option
def edit(runs, as_json):
    """A user's edit loop: a strategy file changed, then `tickpipe run` on it until its
    first order; and changed with a typing mistake, until the one line naming it."""
    from tickpipe.bench.edit_loop import run_edit_bench
    report = _guard(lambda: run_edit_bench(runs, progress=ProgressBar(runs, as_json)))
    lines = [f"{'edit ->':<14} {'median s':>9} {'min s':>7} {'max s':>7}"]
    for key, label in (("edit_to_first_order", "first order"), ("edit_to_mistake", "mistake")):
        row = report[key]
        lines.append(f"{label:<14} {row['median_s']:>9} {row['min_s']:>7} {row['max_s']:>7}")
    lines.append(f"the mistake, as reported: {report['mistake_line']}")
    _emit(report, as_json, "\n".join(lines))


@bench.command()
@click.option("--seconds", type=FiniteFloatRange(min=0.5, max=3600), default=3.0, show_default=True,
              help="Run time of each engine run.")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="Runs per variant and rate, taken in turns.")
@quick_option
@json_option
def plugin(seconds, rounds, quick, as_json):
    """What a strategy plug-in costs: the mean reversion as the old inline loop, as the
    built-in plug-in and as a user's file, in turns, at 100k ticks/s and flat out."""
    from tickpipe.bench.plugin_cost import RATES, format_plugin_table, run_plugin_cost
    rates = RATES[:1] if quick else RATES
    total = len(rates) * (1 if quick else rounds) * 3
    report = _guard(lambda: run_plugin_cost(1.0 if quick else seconds, 1 if quick else rounds,
                                            rates, progress=ProgressBar(total, as_json)))
    _emit(report, as_json, format_plugin_table(report["results"]))


@bench.command(name="mm")
@click.option("--rate", type=click.IntRange(min=1_000, max=1_000_000), default=20_000,
              show_default=True, help="Ticks/s offered by the feed.")
@click.option("--seconds", type=FiniteFloatRange(min=0.5, max=3600), default=5.0,
              show_default=True, help="Run time of each engine run.")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=3, show_default=True)
@quick_option
@smoke_option("One engine run of 0.3 s; overrides --quick, --seconds and --rounds.")
@json_option
def mm_cmd(rate, seconds, rounds, quick, smoke, as_json):
    """The market maker's tick-to-quote-update (tick in -> its new order or replace at the
    venue) beside an IOC strategy's tick-to-trade, p50 and p99, in the same engine runs."""
    from tickpipe.bench.market_maker import (SMOKE_ROUNDS, SMOKE_SECONDS, format_mm_table,
                                             run_mm_bench)
    if smoke:
        rounds, seconds = SMOKE_ROUNDS, SMOKE_SECONDS
    elif quick:
        rounds, seconds = 1, 1.0
    report = _guard(lambda: run_mm_bench(rate, seconds, rounds,
                                         progress=ProgressBar(rounds, as_json)))
    _emit(report, as_json, format_mm_table(report))


@bench.command()
@click.option("--kills", type=click.IntRange(min=0, max=100_000), default=None,
              help="Workers to SIGKILL: half at the default rate, half flat out.  [default: 100; "
                   "with --smoke 2]")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=None,
              help="Seed of the random choices (which worker, when); printed, so a run can be replayed.")
@smoke_option("Every phase and check, one kill in each load phase unless --kills says "
              "otherwise, each after the shortest stretch of load.")
@json_option
def chaos(kills, seed, smoke, as_json):
    """Kill workers under load, then reconcile every count; exit 1 on any difference.

    Runs three strategies (IOCs; resting orders, replaces, cancels), SIGKILLs
    random workers (half at the default rate, half flat out), SIGSTOPs the
    strategy past its heartbeat timeout, SIGKILLs and SIGTERMs the supervisor;
    then checks, through the inspector's view of the kept segment, that every
    record was consumed once, every counter equals the ring position it counts,
    every position agrees between each strategy, risk and the venue, no open
    quantity or order is left for any strategy, every order table is final and
    agrees with the fills, and no worker outlived its supervisor.
    """
    from tickpipe.bench.chaos import SMOKE_KILLS, ChaosError, format_chaos_table, run_chaos
    if kills is None:
        kills = SMOKE_KILLS if smoke else 100
    try:
        report = run_chaos(kills, seed, progress=ProgressBar(kills + 3, as_json), smoke=smoke)
    except ChaosError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:  # not _emit: a chaos report has no machine line to print
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(format_chaos_table(report))
    if report["differences"]:
        raise click.ClickException(f"{report['differences']} difference(s) after {kills} kills "
                                   f"(seed {report['seed']})")


def _placement(cores, seconds, quick, quiet, smoke=False):
    from tickpipe.bench.placement import (PLACEMENTS, RATES, SMOKE_RATES, SMOKE_SECONDS,
                                          SMOKE_WAITS, WAITS, run_placement)
    if smoke:
        rates, waits, seconds = SMOKE_RATES, SMOKE_WAITS, SMOKE_SECONDS
    elif quick:
        rates, waits, seconds = RATES[1:2], ("block",), 1.0
    else:
        rates, waits = RATES, tuple(WAITS)
    total = len(rates) * len(PLACEMENTS) * len(waits)
    return _guard(lambda: run_placement(cores, seconds, rates=rates, waits=waits,
                                        progress=ProgressBar(total, quiet)))


@bench.command()
@cores_option
@click.option("--seconds", type=FiniteFloatRange(min=0.5, max=3600), default=2.0, show_default=True,
              help="Run time per combination.")
@quick_option
@smoke_option("100k ticks/s and block only, every placement, 0.3 s each; overrides --quick "
              "and --seconds.")
@json_option
def placement(cores, seconds, quick, smoke, as_json):
    """Tick-to-trade of the real pipeline for each placement of the four workers on two
    cores (one-core, pairs, spread) and each wait strategy (block, yield, backoff,
    backoff-short), at 10k, 100k and 1M ticks/s: what `wait = "auto"` picks on a
    host with fewer cores than workers comes from this table."""
    from tickpipe.bench.placement import format_placement_table
    report = _placement(_parse_cores(cores), seconds, quick, as_json, smoke)
    best = "; ".join(f"{rate}: {choice}" for rate, choice in report["best"].items())
    _emit(report, as_json, format_placement_table(report["results"]) +
          f"\nlowest p99 with nothing lost, per rate: {best or 'none'}")


@bench.command()
@click.option("--runs", type=click.IntRange(min=1, max=1000), default=7, show_default=True)
@quick_option
@smoke_option("One measured run of 1,000 orders, 10,000 checks alone; overrides --quick and "
              "--runs.")
@json_option
def risk(runs, quick, smoke, as_json):
    """Nanoseconds per pre-trade check, all checks on, in the risk worker's jitted loop."""
    ProgressBar(1, as_json)("risk loop and checks")
    report = _risk(2 if quick else runs, smoke)
    _emit(report, as_json, _risk_table(report["results"]))


def _risk(runs, smoke=False):
    from tickpipe.bench.risk_bench import SMOKE_CHECKS, SMOKE_ORDERS, SMOKE_RUNS, run_risk_bench
    if smoke:
        return run_risk_bench(SMOKE_RUNS, orders=SMOKE_ORDERS, checks=SMOKE_CHECKS)
    return run_risk_bench(runs)


def _risk_table(rows):
    return "\n".join(f"{row['name']:<22} {row['ns_per_order']:>8.1f} ns per order" for row in rows)


@bench.command(name="all")
@cores_option
@click.option("--out", "out_dir", default="bench/out", show_default=True, metavar="DIR",
              callback=_writable_dir,
              help="Where bench-all.json and the charts go.")
@quick_option
@smoke_option("Each section at its own --smoke.")
@no_peers_option
@json_option
def all_benches(cores, out_dir, quick, smoke, no_peers, as_json):
    """Run ringrtt, throughput, pipeline and risk; print each table as it ends, and
    write DIR/bench-all.json and the charts (charts need matplotlib).

    --cores picks the two cores of ringrtt and throughput; the pipeline places its
    four workers itself. --json prints the combined report instead of the tables.
    --quick and --smoke apply to every section.
    """
    from tickpipe.bench.pipeline import format_pipeline_table
    pair = _parse_cores(cores)
    runs = {
        "ringrtt": (lambda: _ringrtt(pair, 5_000 if quick else 200_000, no_peers, as_json, smoke),
                    lambda rows: format_latency_table(rows, "c-cacheline")),
        "throughput": (lambda: _throughput(pair, 200_000 if quick else 20_000_000, no_peers,
                                           as_json, smoke),
                       lambda rows: format_throughput_table(rows, "tickpipe-batch64")),
        "pipeline": (lambda: _pipeline(None, 3.0, quick, no_peers, as_json, smoke),
                     format_pipeline_table),
        "risk": (lambda: _risk(2 if quick else 7, smoke), _risk_table),
    }
    reports = {}
    for section, (run, table) in runs.items():
        reports[section] = run()
        if not as_json:
            click.echo(f"\n== {section} ==")
            _emit(reports[section], False, table(reports[section]["results"]))
    path = os.path.join(out_dir, "bench-all.json")
    with open(path, "w") as f:
        json.dump(reports, f, indent=2)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    click.echo(f"wrote {path}", err=True)
    try:
        from tickpipe.bench.plots import PlotUnavailable, write_charts
        for chart in write_charts(reports, out_dir):
            click.echo(f"wrote {chart}", err=True)
    except PlotUnavailable as exc:
        click.echo(f"charts skipped: {exc}", err=True)


@bench.command(name="backtest")
@click.option("--events", type=click.IntRange(min=10_000, max=100_000_000), default=1_000_000,
              show_default=True, help="Events in the bench's hftbacktest data file.")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="Rounds of the two backtests in turn; medians over rounds.")
@smoke_option("100,000 events, one round; overrides --events and --rounds.")
@json_option
def backtest_bench(events, rounds, smoke, as_json):
    """`tickpipe backtest` beside hftbacktest (`pip install hftbacktest`) on the same .npz
    data with the same quoting loop, in turns: events/s and the ratio (target >= 3x); then
    a sweep of 8 combinations over the cores against the same 8 runs in turn (>= 1.8x)."""
    from tickpipe.bench.backtest_peer import (
        PeerMissing, format_backtest_table, format_sweep_table, run_backtest_bench,
        run_sweep_bench,
    )
    if smoke:
        events, rounds = 100_000, 1
    progress = ProgressBar(rounds + 2, as_json)
    try:
        report = _guard(lambda: run_backtest_bench(
            events, rounds, lambda step: progress(f"round {step} of {rounds} done")))
    except PeerMissing as exc:  # the sweep's half needs no peer: it runs on
        click.echo(f"hftbacktest beside tickpipe skipped: {exc}", err=True)
        report = {"machine": None}
    report["sweep"] = _guard(lambda: run_sweep_bench(events, lambda step: progress(
        "8 runs in turn done" if step == 1 else "the sweep over the cores done")))
    report["machine"] = report["sweep"]["machine"]
    text = format_sweep_table(report["sweep"])
    if "tickpipe" in report:
        text = format_backtest_table(report) + "\n" + text
    _emit(report, as_json, text)


@bench.command(name="fix")
@click.option("--latency-orders", type=click.IntRange(min=10, max=1_000_000), default=2000,
              show_default=True, help="Orders sent one at a time for the latency figures.")
@click.option("--rate", type=click.IntRange(min=1, max=1_000_000), default=10_000,
              show_default=True, help="Orders a second in the sustained phase.")
@click.option("--seconds", type=FiniteFloatRange(min=0.1, max=3600), default=2.0,
              show_default=True, help="Length of the sustained phase.")
@smoke_option("200 orders one at a time, then half a second at --rate.")
@json_option
def fix_bench(latency_orders, rate, seconds, smoke, as_json):
    """Orders over a real FIX 4.4 session on loopback (QuickFIX; `tickpipe venue fix-sim`
    in a process of its own): the order path's hops (ring, Python, QuickFIX + TCP send,
    round trip) p50/p99, then a sustained rate (target 10,000/s, lost = 0)."""
    from tickpipe.bench.fix_venue import BenchError, format_fix_table, run_fix_bench
    if smoke:
        latency_orders, seconds = 200, 0.5
    _two_phases(as_json, ("latency done", "sustained rate done"), BenchError,
                lambda progress: run_fix_bench(latency_orders, rate, seconds, progress),
                format_fix_table)


def _two_phases(as_json, done, error, run, format_table) -> None:
    """A bench of two phases: a progress bar saying `done[0]`, then `done[1]`; its
    `error` one line; the report printed (as JSON, or its table)."""
    bar = ProgressBar(2, as_json)
    try:
        report = run(lambda step: bar(done[step - 1]))
    except error as exc:
        raise click.ClickException(str(exc)) from None
    _emit(report, as_json, format_table(report))


@bench.command()
@click.option("--trips", type=click.IntRange(min=10, max=1_000_000), default=5000,
              show_default=True, help="Round trips for each batch size.")
@click.option("--seconds", type=FiniteFloatRange(min=0.1, max=3600), default=3.0,
              show_default=True, help="Length of the throughput phase.")
@click.option("--batch", type=click.IntRange(min=1, max=4096), default=64, show_default=True,
              help="Records a batch (64 bytes each).")
@smoke_option("100 round trips, 0.3 s of throughput.")
@json_option
def transports(trips, seconds, batch, smoke, as_json):
    """ZeroMQ and Eclipse Zenoh side by side on loopback, for carrying rings between
    engines: the round trip of 1 and of --batch 64-byte records, and lossless records/s
    in batches, each against a peer in a process of its own. Needs the extra:
    pip install 'tickpipe[bridge]'."""
    from tickpipe.bench.transports import (
        BenchError, format_transports_table, run_transports_bench,
    )
    if smoke:
        trips, seconds = 100, 0.3
    _two_phases(as_json, ("zeromq done", "zenoh done"), BenchError,
                lambda progress: run_transports_bench(trips, seconds, batch, progress),
                format_transports_table)


@bench.command(name="bridge")
@click.option("--rate", type=click.IntRange(min=1, max=1_000_000), default=2000,
              show_default=True, help="Ticks a second of the synthetic feed (engines part).")
@click.option("--seconds", type=FiniteFloatRange(min=0.5, max=3600), default=10.0,
              show_default=True, help="Length of each engine run and of each throughput run.")
@click.option("--trips", type=click.IntRange(min=10, max=1_000_000), default=3000,
              show_default=True, help="Batches timed through the bridge and ZeroMQ.")
@click.option("--batch", type=click.IntRange(min=1, max=1024), default=64, show_default=True,
              help="Records a batch (64 bytes each).")
@smoke_option("2 s engine runs, 100 trips, 0.3 s of throughput.")
@json_option
def bridge_bench(rate, seconds, trips, batch, smoke, as_json):
    """What carrying a ring between engines costs: tick-to-trade in one engine and split
    over two bridged engines (same rate); a batch through the real bridge workers beside
    ZeroMQ's bare round trip; and the bridge's records/s flat out, lost = 0. Needs the
    extra: pip install 'tickpipe[bridge]'."""
    from tickpipe.bench.bridge import BenchError, format_bridge_table, run_bridge_bench
    if smoke:
        seconds, trips = 2.0, 100
    _two_phases(as_json, ("engines done", "bridge workers done"), BenchError,
                lambda progress: run_bridge_bench(rate, seconds, trips, batch, progress),
                format_bridge_table)


@bench.command(name="fix-engine")
@click.option("--seconds", type=FiniteFloatRange(min=1, max=3600), default=20.0,
              show_default=True, help="Length of each of the two runs.")
@click.option("--rate", type=click.IntRange(min=1, max=1_000_000), default=2000,
              show_default=True, help="Ticks a second of the synthetic feed.")
@click.option("--wait", type=click.Choice(["auto", "spin", "yield", "backoff", "block"]),
              default="auto", show_default=True,
              help="The pipeline's wait strategy in both runs ([engine] wait). On a host "
                   "with fewer cores than busy threads, block leaves the venue processes "
                   "a core.")
@smoke_option("3 s runs.")
@json_option
def fix_engine_bench(seconds, rate, wait, smoke, as_json):
    """What trading over FIX costs the engine: the market maker with the built-in venue,
    then over a FIX session to fix-sim on loopback (the fix_venue process between the
    gateway and QuickFIX), same config: tick-to-trade, the way back, orders and fills a
    second, and the venue process's send and ack latencies."""
    from tickpipe.bench.fix_engine import (
        BenchError, format_fix_engine_table, run_fix_engine_bench,
    )
    if smoke:
        seconds = 3.0
    _two_phases(as_json, ("built-in venue run done", "FIX run done"), BenchError,
                lambda progress: run_fix_engine_bench(seconds, rate, wait, progress),
                format_fix_engine_table)


@bench.command()
@click.option("--records", type=click.IntRange(min=1_000, max=100_000_000), default=1_000_000,
              show_default=True, help="Records in each data file (MBP-10 at depth 10 makes "
                                      "about 6.5 tape rows of 64 B a record).")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="Rounds of the seven runs in turn; medians over rounds.")
@smoke_option("200,000 records, one round; overrides --records and --rounds.")
@json_option
def replay(records, rounds, smoke, as_json):
    """The whole pipeline with the feed replaying a data file flat out (CSV, hftbacktest
    .npz, DBN MBP-1 and MBP-10), beside the synthetic feed flat out, and what keeping 10
    levels of the book costs (MBP-10 and the walk at --depth 10): ticks/s and lost, in
    turns in one run."""
    from tickpipe.bench.replay import format_replay_table, progress_steps, run_replay_bench
    steps = progress_steps(1 if smoke else rounds)
    progress = ProgressBar(steps, as_json)
    report = _guard(lambda: run_replay_bench(records, rounds, smoke, progress))
    _emit(report, as_json, format_replay_table(report))


@bench.command()
@click.option("--seconds", type=click.FloatRange(min=0.1, max=600), default=3.0, show_default=True,
              help="Each run's length.")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="Rounds of the four runs in turn; medians over rounds.")
@smoke_option("0.3 s runs, one round; overrides --seconds and --rounds.")
@json_option
def journal(seconds, rounds, smoke, as_json):
    """The journal's cost: journal on vs off, in turns in one run: tick-to-trade p50 at
    100 k ticks/s, ticks/s flat out, and the journal's write rate (MB/s)."""
    from tickpipe.bench.journal import format_journal_table, run_journal_bench
    progress = ProgressBar(4 * (1 if smoke else rounds), as_json)
    report = _guard(lambda: run_journal_bench(seconds, rounds, smoke, progress))
    _emit(report, as_json, format_journal_table(report))


@bench.command()
@click.option("--repeats", type=click.IntRange(min=1, max=100), default=5, show_default=True)
@smoke_option("One start of each kind, without the unmeasured engine start first that warms "
              "numba's cache; overrides --repeats.")
@json_option
def startup(repeats, smoke, as_json):
    """Start-up with a warm numba cache: `tickpipe run` to the first tick, and a worker
    process's launch to its first record."""
    from tickpipe.bench.startup import SMOKE_REPEATS, run_startup
    if smoke:
        repeats = SMOKE_REPEATS
    ProgressBar(1, as_json)(f"{repeats} engine starts and {repeats} worker starts")
    report = _guard(lambda: run_startup(repeats, warm=not smoke))
    lines = [f"{r['name']:<32} median {r['median_s']:.3f} s  max {r['max_s']:.3f} s"
             for r in report["results"]]
    _emit(report, as_json, "\n".join(lines))


@bench.command()
@click.option("--seconds", type=FiniteFloatRange(min=5, max=7 * 86400), default=60.0, show_default=True)
@click.option("--rate", type=click.IntRange(min=0, max=MAX_RATE), default=0, show_default=True,
              help="Offered ticks/s; 0 = flat out.")
@smoke_option("A run of 1 s, every worker sampled every 0.2 s; overrides --seconds.")
@json_option
def soak(seconds, rate, smoke, as_json):
    """Resident memory of every worker over a long run: flat means no allocation on the hot path."""
    from tickpipe.bench.soak import SMOKE_SECONDS, run_soak
    if smoke:
        seconds = SMOKE_SECONDS
    ProgressBar(1, as_json)(f"engine at rate {rate or 'max'} for {seconds:g} s")
    report = _guard(lambda: run_soak(seconds, rate=rate))
    lines = [f"{r['name']:<18} first {r['first_bytes']:>12,} B  last {r['last_bytes']:>12,} B  "
             f"growth {r['growth_bytes']:>+10,} B  ({r['samples']} samples)"
             for r in report["results"]]
    lines.append(f"run: {report['run']}")
    _emit(report, as_json, "\n".join(lines))
