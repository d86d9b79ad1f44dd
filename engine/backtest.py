"""Backtest: the config's strategies, risk and the simulated venue on recorded data (or
the synthetic walk), in one process, on simulated time, with the live kernels.

Nothing here copies a kernel. The engine is built as a live one is (a segment, its rings,
every worker's context and Agent: engine/worker_context.py), in this process; a driver
(engine/backtest_driver.py: a small jitted module generated beside the runners) then
calls each worker's runner (engine/runner.py, the same compiled code the live workers
run) one pass at a time, in a fixed order, and moves the engine's clock
(engine/clock.py: the control block's `sim_clock_ns`) from event to event. This module
runs it bucket by bucket (the equity sampled at each end), steps the journal when the
driver stalls on its gate, closes the run as a live one closes, and reports.

One thread runs every role, so nobody waits: a runner that finds no room returns
(engine/runner.py `wait_for_room` on simulated time) and the consumer's turn makes it.
The same config and data give the same passes in the same order, hence the same
records, byte for byte (docs/backtest.md says what is modelled and what is not).
"""

import copy
import importlib
import os
import threading
import time

import numba
import numpy as np

from tickpipe.engine.backtest_driver import (
    DONE, MAX_SETTLE_ROUNDS, REACHED, STALLED, driver_for, ring_words, watched_words,
)
from tickpipe.engine.backtest_latency import BacktestError, latency_model, latency_ns
from tickpipe.engine.book_checks import check_books
from tickpipe.engine.engine_layout import (
    engine_rings, initialise, inputs_of, pipeline_workers, section_specs, worker_index,
)
from tickpipe.engine.placement import place_workers
from tickpipe.engine.registry import ROLE_MODULES, ROLES, role_of
from tickpipe.engine.report import final_report, positions
from tickpipe.engine.role import RoleError, call
from tickpipe.engine.segment import SegmentError, create_segment
from tickpipe.engine.segment_catalog import pnl_totals
from tickpipe.engine.wait_codes import WAIT_NONE
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, CONTROL_OFFSETS
from tickpipe.shm_layouts.market_data import PRICE_SCALE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import (
    FEED_DEPTH_ROWS, FEED_TICKS, W_PROCESSED, WORKER_DTYPE,
)

# The walk's simulated time starts here (any fixed, nonzero time: 0 on the clock word
# means "live"); a replay's starts at its first record's recorded time.
SYNTHETIC_START_NS = 1_000_000_000
END_OF_TIME = (1 << 63) - 1
DEFAULT_BUCKET_S = 60.0      # equity sampled every this much simulated time (Sharpe, drawdown)
COMPILE_SAY_S = 3.0          # compiling longer than this is said on stderr

def backtest_config(config: dict, seconds: float | None = None) -> dict:
    """The config a backtest runs: a replay at its recorded pace (simulated time: "as fast
    as the machine allows" is the driver's doing, not the feed's), the shared strategy
    runner, no journal; BacktestError for what it cannot run."""
    config = copy.deepcopy(config)
    feed, engine = config["feed"], config["engine"]
    if inputs_of("feed", engine_rings(config)):  # a stream, from a process of its own
        raise BacktestError(f"a backtest runs on recorded data or the synthetic walk, not a "
                            f"live source or another engine's feed ([feed] source = "
                            f"{feed['source']!r})")
    if feed["source"] == "synthetic" and (seconds == 0 or (seconds is None and
                                                           engine["seconds"] == 0)):
        raise BacktestError("a backtest of the synthetic walk needs --seconds > 0 (simulated "
                            "seconds: the walk has no end of its own)")
    if feed["source"] == "synthetic" and engine["rate"] == 0:
        raise BacktestError("a backtest of the synthetic walk needs [engine] rate > 0 (its "
                            "ticks per simulated second; flat out has no time)")
    feed["speed"] = 1.0
    engine["inline_callbacks"] = False
    # a config that trades over FIX live is tested against the built-in venue: fix-sim
    # matches with the same kernels (docs/fix.md), and history has no session to log on to
    config["venue"]["kind"] = "sim"
    # nor is there another engine to send the market data to: no out bridge
    if "bridge_out" in config:
        config["bridge_out"]["listen"] = ""
    engine["wait"] = "spin"
    if seconds is not None:
        engine["seconds"] = seconds
    elif feed["source"] == "file":
        engine["seconds"] = 0.0  # recorded data runs to its end unless told otherwise
    return config


def _agent(worker: str, context):
    """The worker's Agent, as its process would make it; a strategy's on the shared
    runner (the inlined tier is a per-strategy module the driver would have to import)."""
    cls = importlib.import_module(ROLE_MODULES[role_of(worker)]).Agent
    if getattr(cls, "use_inlined", False):
        cls = type(cls.__name__, (cls,), {"use_inlined": False})
    return cls(context)


class Backtest:
    """One backtest of `config` (engine/config.py, validated): `run()` returns its report."""

    def __init__(self, config: dict, *, bucket_s: float = DEFAULT_BUCKET_S,
                 seconds: float | None = None, feed_latency_us: float = 0.0,
                 report_latency_us: float = 0.0, latencies: dict | None = None,
                 say=lambda line: None, every_pass: bool = False):
        self.config = backtest_config(config, seconds)
        # market data to the strategies, reports back to them (the venue sees the market at
        # its recorded time), order entry ([venue] latency_us): constants, or samples of
        # a recorded distribution each (`latencies`, read by read_latency_file)
        latencies = latencies or {}
        self.samples = {
            "market_data": latency_ns(latencies.get("market_data_us", [feed_latency_us])),
            "reports": latency_ns(latencies.get("reports_us", [report_latency_us])),
            "order_entry": latency_ns(latencies.get("order_entry_us",
                                             [self.config["venue"]["latency_us"]]))}
        self.latency_file = latencies.get("file")
        self.bucket_ns = int(bucket_s * 1e9)
        if self.bucket_ns <= 0:
            raise BacktestError(f"--bucket {bucket_s!r}: must be > 0 seconds")
        self.say = say
        # every role a pass in every settle round, none skipped: slower, the same results
        # (the reference tests/test_backtest.py compares the driver's skipping with)
        self.every_pass = every_pass
        self.name = f"bt-{os.getpid()}-{id(self) & 0xffffff:x}"
        self.config["engine"]["name"] = self.name

    def run(self, progress=None) -> dict:
        """Run to the data's end (or [engine] seconds of simulated time); `progress(done,
        total, sim_s)` is called once with done = 0 when the run starts (compiled), then
        between buckets. Returns the report."""
        config = self.config
        workers = pipeline_workers(config)
        journal = bool(config["journal"]["dir"])
        if journal:
            workers += ("journal",)
        for name in dict.fromkeys(role_of(w) for w in workers):  # compile; the journal's run
            if ROLES[name].prepare:
                try:
                    call(ROLES[name].prepare, config, self.say)
                except RoleError as exc:
                    raise BacktestError(str(exc)) from None
        try:
            segment = create_segment(self.name, section_specs(config),
                                     use_hugetlbfs=config["engine"]["use_hugetlbfs"])
        except SegmentError as exc:
            raise BacktestError(str(exc)) from None
        try:
            return self._run(segment, workers, progress)
        finally:
            segment.close()
            try:
                os.unlink(segment.path)
            except FileNotFoundError:
                pass

    def _run(self, segment, workers, progress) -> dict:
        config = self.config
        initialise(segment, config, place_workers(workers, None, "spin"))
        # one thread runs every role in turn: an idle pass returns at once (engine/idle.py)
        segment.view("workers", WORKER_DTYPE)["wait"][[worker_index(w) for w in workers]] = \
            WAIT_NONE
        control = segment.view("control", CONTROL_DTYPE)[0]
        tape = config.get("tape")
        start = SYNTHETIC_START_NS
        if tape is not None:
            first = np.load(tape["path"], mmap_mode="r")[0]["origin_ns"] if tape["records"] else 0
            start = max(int(first), 1)
        control["sim_clock_ns"] = start
        if config["journal"]["dir"]:
            _simulated_clock(config["journal_run"]["dir"], start)
        control["feed_started_ns"] = start
        control["feed_go"] = 1
        segment.mark_ready()
        agents = {worker: _agent(worker, build_context(segment, worker, config))
                  for worker in workers}
        started = time.perf_counter()
        # a cold cache compiles for minutes, and a user saw nothing meanwhile
        slow = threading.Timer(COMPILE_SAY_S, self.say, args=(
            "compiling the backtest's loops: minutes the first time on a machine, then "
            "numba's cache has them",))
        slow.daemon = True
        slow.start()
        try:
            for agent in agents.values():
                agent.warm_up()
            driver, clock, args = self._driven(segment, workers, agents)
            # compiled (or loaded) now, not in the first drive(): its minutes are compile_s,
            # not run time (a first run reported 2 events/s)
            driver.drive.compile(tuple(numba.typeof(a) for a in (clock, *args, start)))
        finally:
            slow.cancel()  # said or not, never after an error's line
        journal = agents.get("journal")  # a background role's loop, stepped from here
        compile_s = time.perf_counter() - started
        end_ns = start + int(config["engine"]["seconds"] * 1e9) \
            if config["engine"]["seconds"] > 0 else None
        total = tape["records"] if tape is not None else None
        feed_row = segment.view("workers", WORKER_DTYPE)[0]["counters"]

        def events() -> int:
            return int(feed_row[FEED_TICKS]) + int(feed_row[FEED_DEPTH_ROWS])

        equity = []  # (simulated ns, {currency: net P&L}) at each bucket's end
        if progress is not None:
            progress(0, total, 0.0)  # compiled: the run starts
        started = time.perf_counter()
        until = start
        status = REACHED
        while status == REACHED:
            until += self.bucket_ns
            if end_ns is not None:
                until = min(until, end_ns)
            status = driver.drive(clock, *args, until)
            if status == STALLED:
                written = int(journal.words[W_PROCESSED]) if journal is not None else 0
                if journal is not None:
                    journal.step()  # its gate moves: the producers have room again
                if journal is None or int(journal.words[W_PROCESSED]) == written:
                    if feed_next_due(agents["feed"]) >= 0:
                        raise BacktestError("the backtest stalled: nothing can move though "
                                            "the data goes on (a bug; please report it)")
                    status = DONE  # nothing was held: the data is all done
                else:
                    status = REACHED
                    until -= self.bucket_ns  # the same bucket goes on
                    continue
            equity.append((int(clock[0]), *_sample(segment)))
            if progress is not None:
                progress(events(), total, (int(clock[0]) - start) / 1e9)
            if end_ns is not None and until >= end_ns:
                break
        ran_s = time.perf_counter() - started
        self._close(segment, driver, clock, args, control, journal)
        # the books add up as a live run's must (engine/book_checks.py): every strategy's
        # P&L and position to the engine's, the engine's to the venue's
        failures = check_books(segment, drained=True)
        report = final_report(segment, state="books_wrong" if failures else "completed",
                              seconds=(int(clock[0]) - start) / 1e9, notes=failures,
                              config=config)
        report["engine"] = "backtest"
        report["ended_by"] = "data-end" if status == DONE else "seconds"
        report.pop("workers", None)  # pids and cores of this process: not a result
        report.pop("memory", None)
        report.pop("rates", None)
        made = events()
        report["backtest"] = {
            "data": os.path.basename(config["feed"]["file"]) if tape is not None else "synthetic",
            "events": made,
            "simulated_s": report["seconds"],
            "start_ns": start,  # simulated time at the start (a replay's first record's)
            "latency_model": latency_model(self.samples, self.latency_file),
            "bucket_s": self.bucket_ns / 1e9,
            **_risk_figures([(t, net) for t, net, _ in equity], self.bucket_ns),
            "traded_most": _symbol_curves(equity),
        }
        report["timing"] = {"events_per_s": round(made / ran_s) if ran_s > 0 else None,
                            "run_s": round(ran_s, 3), "compile_s": round(compile_s, 3)}
        return report

    def _driven(self, segment, workers, agents) -> tuple:
        """The driver for these agents' runners (engine/backtest_driver.py), the clock word
        it moves, and drive()'s arguments after the clock (until_ns comes last)."""
        config = self.config
        strategy_workers = [w for w in workers if role_of(w) == "strategy"]
        strategies = [agents[w] for w in strategy_workers]
        delays = np.zeros((2, max(len(self.samples["market_data"]), len(self.samples["reports"]))),
                          dtype=np.int64)
        for row, name in ((0, "market_data"), (1, "reports")):  # K samples a row: repeat
            delays[row] = np.resize(self.samples[name], delays.shape[1])
        for agent in strategies:
            agent.ctx = agent.ctx._replace(delays=delays)
        gateway_ctx = agents["gateway"].ctx
        agents["gateway"].ctx = gateway_ctx._replace(entry_latency=self.samples["order_entry"])
        runners = {"feed": agents["feed"].runner, "strategy": strategies[0].runner,
                   "risk": agents["risk"].runner, "gateway": agents["gateway"].runner}
        assert all(agent.runner is runners["strategy"] for agent in strategies)
        offset = segment.section("control")[0] + CONTROL_OFFSETS["sim_clock_ns"]
        clock = segment.buf[offset:offset + 8].view(np.int64)
        watched, seen = watched_words(segment, config, strategy_workers + ["risk", "gateway"])
        args = (agents["feed"].ctx, tuple(agent.ctx for agent in strategies),
                agents["risk"].ctx, agents["gateway"].ctx, ring_words(segment, config),
                watched, seen, self.every_pass)
        return driver_for(runners), clock, args

    def _close(self, segment, driver, clock, args, control, journal) -> None:
        """The close of a live run: the feed stops, risk refuses new orders and the venue
        cancels every working one (the gateway's sweep, a chunk a pass), and time goes on
        until nothing is in flight (requests and reports a modelled latency still holds),
        so the run ends with every order final; the journal takes the last of it."""
        control["closing"] = 1
        control["stop_feed"] = 1
        resting = segment.view("symbols", SYMBOL_STATS_DTYPE)["venue_resting"]
        for _ in range(MAX_SETTLE_ROUNDS):
            status = driver.drive(clock, *args, END_OF_TIME)
            if journal is not None:
                written = int(journal.words[W_PROCESSED])
                journal.step()
                if status == STALLED and int(journal.words[W_PROCESSED]) != written:
                    continue
            if status == STALLED:
                raise BacktestError("the backtest stalled at its close (a bug; please report "
                                    "it with the config)")
            if int(resting.sum()) == 0:
                break
        if journal is not None:
            journal.step()
            journal.close()


def _simulated_clock(run_dir: str, start_ns: int) -> None:
    """A backtest's journal: its records carry simulated time (a replay's: the data's own,
    in Unix ns), so the run's clock pair maps that time to itself (`tickpipe journal`
    shows and selects the data's times, not the machine's), taken at the run's start
    (`--from 5` is five seconds into the data, not into 1970)."""
    import json
    from tickpipe.workers.journal.files import RUN_FILE
    path = os.path.join(run_dir, RUN_FILE)
    with open(path) as f:
        run = json.load(f)
    run["clock"] = {"unix_ns": start_ns, "monotonic_ns": start_ns, "simulated": True}
    with open(path + ".tmp", "w") as f:
        json.dump(run, f, indent=1)
    os.replace(path + ".tmp", path)


def feed_next_due(feed_agent) -> int:
    """The feed's next due time (-1: none), from Python."""
    from tickpipe.workers.feed.agent import next_event_ns
    return int(next_event_ns(feed_agent.ctx))


def _sample(segment) -> tuple[dict, dict]:
    """The engine's net P&L by currency now (realised + marked to the mids - fees), and
    each symbol's (position, mid in currency units)."""
    books = positions(segment)
    net = dict(pnl_totals(books.values()).get("net_pnl_ccy") or {})
    return net, {name: (row["position"], None if row.get("mid_px") is None
                        else row["mid_px"] / PRICE_SCALE) for name, row in books.items()}


def _symbol_curves(equity: list) -> dict:
    """The position and mid of the symbol that traded most (the one --plot draws), at
    each bucket's end."""
    if not equity:
        return {}
    traded = {}
    for _, _, books in equity:
        for name, (position, _) in books.items():
            traded[name] = traded.get(name, 0) + abs(position)
    name = max(traded, key=traded.get)
    return {"symbol": name, "t": [t for t, _, _ in equity],
            "position": [books[name][0] for _, _, books in equity],
            "mid": [books[name][1] for _, _, books in equity]}


def _risk_figures(equity: list, bucket_ns: int) -> dict:
    """Max drawdown and the Sharpe ratio of the bucket-to-bucket changes of net P&L, by
    currency (per bucket: not annualised, since a bucket is whatever the user chose),
    and the equity curve itself."""
    out = {"max_drawdown": {}, "sharpe_per_bucket": {}, "equity": {}}
    currencies = sorted({c for _, net in equity for c in net})
    for currency in currencies:
        curve = np.array([net.get(currency, 0.0) for _, net in equity], dtype=np.float64)
        peak = np.maximum.accumulate(np.concatenate(([0.0], curve)))[1:]
        out["max_drawdown"][currency] = round(float((peak - curve).max()) if len(curve) else 0.0, 4)
        changes = np.diff(np.concatenate(([0.0], curve)))
        std = float(changes.std())
        out["sharpe_per_bucket"][currency] = round(float(changes.mean()) / std, 4) \
            if len(changes) > 1 and std > 0 else None
        out["equity"][currency] = [[t, round(float(v), 4)] for (t, _), v in zip(equity, curve)]
    return out
