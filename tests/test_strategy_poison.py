"""A poison record: a strategy callback that raises on one record is named (the user's
file and line, the record's symbol, time and fields), and when its restarted process
raises again on the same record, `[[strategy]] on_error` decides: "stop" (as today: the
restart limit ends the run, or retires the strategy for good while another trades),
"retire" the strategy (no more callbacks, its books kept, the run goes on), or "skip"
the record (counted, its state as before it), exactly once.

The runner-level tests run the strategy's real generated runner over a real segment
in this process (and a forked one), the supervisor's part played by engine/on_error.py
itself; the engine-level ones run `tickpipe run` with two strategies and reconcile the
books afterwards (slow).
"""

import json
import os
import signal
import subprocess
import textwrap
import threading
import time

import numpy as np
import pytest

from engine_runs import EngineProcess, unique_name
from forked_worker import forked_loop, ring_position, wait_until, worker_segment
from tickpipe.engine.config import ConfigError, load_config
from tickpipe.engine.engine_layout import (
    strategy_errors, strategy_positions, strategy_state,
)
from tickpipe.engine.on_error import OnError, errors_data, errors_text
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.ring import RingProducer
from tickpipe.engine.strategy_config import strategies_from
from tickpipe.engine.worker_context import build_context
from tickpipe.engine.worker_main import describe_exception
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET
from tickpipe.shm_layouts.fill import EXEC_FILL, FILL_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE
from tickpipe.shm_layouts.ring_header import RING_HEAD_OFFSET, RING_TAIL_OFFSET
from tickpipe.shm_layouts.strategy_errors import ERR_MODE_RETIRED, REC_QUOTE, REC_REPORT
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_FILLS_READ, STRATEGY_MD_READ, STRATEGY_RECORDS_SKIPPED,
)
from tickpipe.workers.strategy.agent import Agent, StrategyRuntimeError

QUOTES = 10
POISON_QTY = 4     # the quote with bid_qty 4 (position 4), when it is the 5th the state saw
POISON_LOTS = 7    # the report of 7 lots

# Raises on one record only, and only from the state just before it: a re-run on any
# other state does not raise (so the test sees that the second failure is named from
# the exact state).
STRATEGY = '''\
import numpy as np
from numba import njit

STATE = np.dtype([("quotes", np.int64), ("fills", np.int64), ("timers", np.int64),
                  ("_pad", np.int64, (5,))])
TIMER_MS = 0


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    if quote.bid_qty == 4 and state.quotes == 5:
        state.quotes = 1 // (state.quotes - 5)


@njit
def on_fill(ctx, state, params, report):
    state.fills += 1
    if report.last_qty == 7:
        raise ValueError("seven lots is too many")
'''
QUOTE_LINE = STRATEGY.splitlines().index("        state.quotes = 1 // (state.quotes - 5)") + 1
FILL_LINE = STRATEGY.splitlines().index('        raise ValueError("seven lots is too many")') + 1


# ---- config --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["explode", "Skip", 1, ["skip"]])
def test_config_when_on_error_is_not_a_mode_then_one_line_names_the_value(value):
    with pytest.raises(ConfigError) as caught:
        strategies_from([{"name": "mine", "module": "m", "on_error": value}], ConfigError)
    message = str(caught.value)
    assert message == (f"config strategy 'mine': on_error = {value!r}: expected \"stop\", "
                       f"\"retire\" or \"skip\"")


def test_config_when_on_error_is_left_out_then_stop_and_print_config_shows_it(tmp_path):
    (tmp_path / "a.toml").write_text(
        '[[strategy]]\nname = "mr"\nmodule = "tickpipe.workers.strategies.mean_reversion"\n'
        '[[strategy]]\nname = "mr2"\nmodule = "tickpipe.workers.strategies.mean_reversion"\n'
        'on_error = "skip"\n')
    config = load_config(os.fspath(tmp_path / "a.toml"))
    assert [s["on_error"] for s in config["strategies"]] == ["stop", "skip"]
    from tickpipe.engine.config import to_toml
    assert 'on_error = "skip"' in to_toml(config)


# ---- the runner: named, watched, skipped, retired --------------------------------------

@pytest.fixture(scope="module")
def strategy_file(tmp_path_factory):
    """One file for every runner-level test: its runner compiles once."""
    path = tmp_path_factory.mktemp("poison") / "poison_strategy.py"
    path.write_text(STRATEGY)
    return path


def poison_config(path, on_error: str, tag: str) -> dict:
    toml = path.parent / f"{tag}.toml"
    toml.write_text(f'[[strategy]]\nname = "mine"\npath = "{path.name}"\nsymbols = ["SYM0"]\n'
                    f'on_error = "{on_error}"\n')
    return load_config(os.fspath(toml), overrides={"engine": {
        "name": f"t-poison-{tag}-{os.getpid()}", "wait": "yield", "ring_capacity": 64}})


def push_quotes(segment, count: int = QUOTES):
    block = np.zeros(count, dtype=MARKET_DATA_DTYPE)
    block["kind"], block["bid_px"], block["ask_px"] = MD_KIND_QUOTE, 999_900, 1_000_100
    block["bid_qty"], block["ask_qty"] = np.arange(count), 10
    block["origin_ns"] = block["publish_ns"] = time.monotonic_ns() + np.arange(count)
    assert RingProducer(segment, "quotes", MARKET_DATA_DTYPE).try_push(block) == count
    return block


def push_reports(segment, lots: list[int]):
    block = np.zeros(len(lots), dtype=FILL_DTYPE)
    block["exec_type"], block["side"], block["symbol_id"] = EXEC_FILL, 1, 0
    block["last_qty"], block["cum_qty"], block["order_qty"] = lots, lots, lots
    block["order_id"] = 1 + np.arange(len(lots))
    block["last_px"] = block["order_px"] = 1_000_100
    block["origin_ns"] = block["publish_ns"] = time.monotonic_ns()
    assert RingProducer(segment, "fills_strategy", FILL_DTYPE).try_push(block) == len(lots)


def stop_all(segment) -> np.ndarray:
    return np.frombuffer(segment.buf, np.uint32, 1, segment.section("control")[0]
                         + STOP_ALL_OFFSET)


def fail_once(context) -> StrategyRuntimeError:
    """Run a fresh strategy process (here) until its callback raises; the error, explained
    as the worker explains it. (A loop that does not raise is stopped after a minute.)"""
    agent = Agent(context)
    agent.warm_up()
    stop = stop_all(context.segment)
    watchdog = threading.Timer(60, lambda: stop.__setitem__(0, 1))
    watchdog.start()
    try:
        with pytest.raises(StrategyRuntimeError) as caught:
            agent.loop(-1)
    finally:
        watchdog.cancel()
    agent.explain_failure(caught.value)
    return caught.value


def run_until(segment, config, section, count, tag):
    """A restarted process over the segment (recovered), forked, until its input
    `section` is consumed through `count`; returns its context."""
    stop_all(segment)[0] = 0  # (the last forked_loop ended with it set)
    context = build_context(segment, "strategy", config)
    agent = Agent(context)
    agent.warm_up()
    with forked_loop(segment, agent):
        wait_until(lambda: ring_position(segment, section, RING_TAIL_OFFSET) == count,
                   f"{tag}: {section} not consumed", time.monotonic() + 60)
    return context


def test_a_callback_raising_on_a_quote_is_named_then_skipped_once(strategy_file):
    config = poison_config(strategy_file, "skip", "skip")
    policy = OnError(config)
    with worker_segment(config, "strategy") as (segment, context):
        block = push_quotes(segment)
        # 1: the record is named at once; the line only where the re-run can find it
        # (it failed part-way through its batch: the re-run's state is the batch's start)
        first = fail_once(context)
        assert "strategy 'mine' (poison_strategy.py) raised ZeroDivisionError" in str(first)
        assert f"in on_quote on quote SYM0 #{POISON_QTY} (" in str(first)
        assert f"bid_px=999900 ask_px=1000100 bid_qty={POISON_QTY} ask_qty=10" in str(first)
        assert first.failure.exact is False
        assert policy.after_death(segment, "strategy", os.getpid()) is None  # restart it
        errors = strategy_errors(segment, 0)[0]
        assert (int(errors["watch_kind"]), int(errors["watch_position"])) == (REC_QUOTE,
                                                                             POISON_QTY)
        # 2: the restarted process gives the record a batch of its own: the second failure
        # is re-run from the exact state, and names the user's file and line
        second = fail_once(build_context(segment, "strategy", config))
        assert second.failure.exact is True
        line = describe_exception(second)
        assert line.startswith("StrategyRuntimeError: strategy 'mine' (poison_strategy.py) "
                               "raised ZeroDivisionError: integer division by zero in on_quote "
                               f"on quote SYM0 #{POISON_QTY} (")
        assert line.endswith(f", raised at {strategy_file}:{QUOTE_LINE} in on_quote"), line
        assert f'File "{strategy_file}", line {QUOTE_LINE}, in on_quote' in second.log_text
        assert "state.quotes = 1 // (state.quotes - 5)" in second.log_text
        # the records before it were committed in their own batch: not replayed again
        assert ring_position(segment, "quotes", RING_TAIL_OFFSET) == POISON_QTY
        # 3: the same record twice: on_error "skip"
        assert policy.after_death(segment, "strategy", os.getpid()) == "skip"
        context = run_until(segment, config, "quotes", QUOTES, "skip")
        state = strategy_state(segment, 0, load_plugin(config["strategies"][0]).state_dtype)
        assert int(state[0]["quotes"]) == QUOTES - 1  # every other quote applied once
        counters = context.row["counters"]
        assert int(counters[STRATEGY_RECORDS_SKIPPED]) == 1
        assert int(counters[STRATEGY_MD_READ]) == QUOTES  # consumed all the same
        data = errors_data(segment, 0, "skip")
        assert data["records_skipped"] == 1 and data["mode"] == "trading"
        last = data["last_skipped"]
        assert (last["kind"], last["symbol"], last["position"]) == ("quote", "SYM0", POISON_QTY)
        assert last["origin_ns"] == int(block["origin_ns"][POISON_QTY])
        assert last["fields"] == {"bid_px": 999_900, "ask_px": 1_000_100, "bid_qty": POISON_QTY,
                                  "ask_qty": 10}
        assert errors_text(data).startswith('on_error = "skip": 1 record skipped, the last: '
                                            f"quote SYM0 #{POISON_QTY} (")
        # 4: a later process is still told to skip it (the supervisor cannot know whether
        # the last one committed past it): once committed past, it never comes again
        assert policy.after_death(segment, "strategy", 0) is None  # a kill: names no record
        assert int(strategy_errors(segment, 0)[0]["skip_position"]) == POISON_QTY
        push_quotes(segment)
        context = run_until(segment, config, "quotes", 2 * QUOTES, "again")
        assert int(context.row["counters"][STRATEGY_RECORDS_SKIPPED]) == 1
        # the second block's bid_qty 4 is the 14th quote the state saw: not poison
        assert int(state[0]["quotes"]) == 2 * QUOTES - 1


def test_a_skip_killed_before_its_commit_is_skipped_once_by_the_next_process(strategy_file):
    """The skip is a change of shared state in the batch that consumes the record: a
    process that skipped it but did not commit leaves nothing of it, and the next one,
    told again, skips it once."""
    config = poison_config(strategy_file, "skip", "kill")
    policy = OnError(config)
    with worker_segment(config, "strategy") as (segment, context):
        push_quotes(segment)
        fail_once(context)
        policy.after_death(segment, "strategy", os.getpid())
        fail_once(build_context(segment, "strategy", config))
        assert policy.after_death(segment, "strategy", os.getpid()) == "skip"
        # a process that skips the record in an open batch and dies before the commit
        # (its batch never commits: the test stops it there)
        context = build_context(segment, "strategy", config)
        agent = Agent(context)
        agent.warm_up()
        from tickpipe.engine.commit import X_BATCH
        # (the quotes before it were committed by the process that failed on it)
        assert ring_position(segment, "quotes", RING_TAIL_OFFSET) == POISON_QTY
        runner, ctx = agent.runner, agent.ctx
        runner.begin_batch(ctx, 0, 0)
        runner.on_record(ctx, 0, POISON_QTY, 0)   # skipped, counted in the open batch
        assert int(ctx.txn[X_BATCH]) != 0
        assert int(context.row["counters"][STRATEGY_RECORDS_SKIPPED]) == 1  # uncommitted
        # ... killed here; the next process recovers (rolls the open batch back)
        policy.after_death(segment, "strategy", 0)
        context = run_until(segment, config, "quotes", QUOTES, "after the kill")
        assert int(context.row["counters"][STRATEGY_RECORDS_SKIPPED]) == 1
        assert int(context.row["counters"][STRATEGY_MD_READ]) == QUOTES
        state = strategy_state(segment, 0, load_plugin(config["strategies"][0]).state_dtype)
        assert int(state[0]["quotes"]) == QUOTES - 1


def test_a_report_skipped_still_moves_the_position_but_not_the_state(strategy_file):
    config = poison_config(strategy_file, "skip", "report")
    policy = OnError(config)
    lots = [1, 2, POISON_LOTS, 3]
    with worker_segment(config, "strategy") as (segment, context):
        push_reports(segment, lots)
        first = fail_once(context)
        assert "raised ValueError: seven lots is too many in on_fill on report SYM0 #2 (" \
            in str(first)
        assert "exec_type=fill side=1 last_qty=7" in str(first)
        policy.after_death(segment, "strategy", os.getpid())
        second = fail_once(build_context(segment, "strategy", config))
        assert describe_exception(second).endswith(
            f", raised at {strategy_file}:{FILL_LINE} in on_fill")
        assert policy.after_death(segment, "strategy", os.getpid()) == "skip"
        context = run_until(segment, config, "fills_strategy", len(lots), "report")
        state = strategy_state(segment, 0, load_plugin(config["strategies"][0]).state_dtype)
        assert int(state[0]["fills"]) == len(lots) - 1      # on_fill left out once
        positions = strategy_positions(segment, 0, config["feed"]["symbols"])
        assert int(positions[0]["position"]) == sum(lots)   # the engine's books: all of it
        assert int(context.row["counters"][STRATEGY_FILLS_READ]) == len(lots)
        assert int(context.row["counters"][STRATEGY_RECORDS_SKIPPED]) == 1
        assert errors_data(segment, 0, "skip")["last_skipped"]["fields"]["last_qty"] == 7


def test_a_retired_strategy_calls_nothing_more_but_reads_its_rings(strategy_file):
    config = poison_config(strategy_file, "retire", "retire")
    policy = OnError(config)
    with worker_segment(config, "strategy") as (segment, context):
        push_quotes(segment)
        fail_once(context)
        policy.after_death(segment, "strategy", os.getpid())
        fail_once(build_context(segment, "strategy", config))
        assert policy.after_death(segment, "strategy", os.getpid()) == "retire"
        assert int(strategy_errors(segment, 0)[0]["mode"]) == ERR_MODE_RETIRED
        push_reports(segment, [2, 3])
        context = build_context(segment, "strategy", config)
        agent = Agent(context)
        agent.warm_up()
        with forked_loop(segment, agent):
            wait_until(lambda: ring_position(segment, "quotes", RING_TAIL_OFFSET) == QUOTES
                       and ring_position(segment, "fills_strategy", RING_TAIL_OFFSET) == 2,
                       "the retired strategy left its rings unread", time.monotonic() + 60)
        state = strategy_state(segment, 0, load_plugin(config["strategies"][0]).state_dtype)
        assert int(state[0]["quotes"]) == POISON_QTY  # none after the one it failed on
        assert int(state[0]["fills"]) == 0
        assert int(strategy_positions(segment, 0, 1)[0]["position"]) == 5  # books kept
        assert ring_position(segment, "intents", RING_HEAD_OFFSET) == 0  # sent nothing
        data = errors_data(segment, 0, "retire")
        assert data["mode"] == "retired" and data["records_skipped"] == 1
        assert errors_text(data).startswith('on_error = "retire": retired: no callback is '
                                            'called any more; 1 record skipped')


TIMER_STRATEGY = '''\
import numpy as np
from numba import njit

STATE = np.dtype([("timers", np.int64), ("_pad", np.int64, (7,))])
TIMER_MS = 1


@njit
def on_timer(ctx, state, params, now_ns):
    state.timers += 1
    if state.timers == 1:
        raise ValueError("no timer yet")
'''


def test_an_on_timer_that_raises_is_named_by_its_symbol_and_line(tmp_path):
    path = tmp_path / "timer_strategy.py"
    path.write_text(TIMER_STRATEGY)
    config = poison_config(path, "skip", "timer")
    policy = OnError(config)
    with worker_segment(config, "strategy") as (segment, context):
        error = fail_once(context)
        assert "raised ValueError: no timer yet in on_timer on timer SYM0 (fired at " \
            in str(error)
        line = TIMER_STRATEGY.splitlines().index('        raise ValueError("no timer yet")') + 1
        # a timer's state row is committed before it fires: the re-run is exact at once
        assert describe_exception(error).endswith(f", raised at {path}:{line} in on_timer")
        policy.after_death(segment, "strategy", os.getpid())
        fail_once(build_context(segment, "strategy", config))
        assert policy.after_death(segment, "strategy", os.getpid()) == "skip"
        # the next process skips one firing for SYM0 (counted, committed with the timer's
        # batch); a timer has no record to skip for good: its next firing, from the same
        # state, raises again
        context = build_context(segment, "strategy", config)
        third = fail_once(context)
        assert describe_exception(third).endswith(f", raised at {path}:{line} in on_timer")
        assert int(context.row["counters"][STRATEGY_RECORDS_SKIPPED]) == 1
        last = errors_data(segment, 0, "skip")["last_skipped"]
        assert (last["kind"], last["symbol"]) == ("timer", "SYM0")
        # ... as a new failure (the skip was the last one's answer): the restart policy's,
        # and the next process is not told to skip again (one firing of one process)
        assert policy.after_death(segment, "strategy", os.getpid()) is None
        assert int(strategy_errors(segment, 0)[0]["skip_kind"]) == 0


def test_a_death_that_names_no_record_is_left_to_the_restart_policy(strategy_file):
    config = poison_config(strategy_file, "skip", "signal")
    policy = OnError(config)
    with worker_segment(config, "strategy") as (segment, _context):
        row = strategy_errors(segment, 0)[0]
        row["failed_kind"], row["failed_position"], row["failed_pid"] = REC_REPORT, 3, 4242
        assert policy.after_death(segment, "strategy", 4242) is None
        # killed twice on the same position (SIGKILL names nothing): no verdict
        assert policy.after_death(segment, "strategy", 4243) is None
        assert policy.after_death(segment, "strategy", 4244) is None
        # a failure, then the same failure by the next process: the verdict
        row["failed_pid"] = 4245
        assert policy.after_death(segment, "strategy", 4245) is None
        row["failed_pid"] = 4246
        assert policy.after_death(segment, "strategy", 4246) == "skip"


# ---- the engine: two strategies, each mode, the books reconciled ----------------------

TALLY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                     "chaos_strategy.py")
POISON_POSITION = 3000  # the quote at this position of its ring (seq = position + 1)
ENGINE_STRATEGY = open(TALLY).read().replace(
    "    state.quotes += 1\n",
    "    state.quotes += 1\n"
    f"    if quote.seq == {POISON_POSITION + 1}:\n"
    f"        state.quotes = state.quotes // (quote.seq - {POISON_POSITION + 1})\n", 1)
assert ENGINE_STRATEGY != open(TALLY).read(), "bench/chaos_strategy.py: no on_quote to poison"
ENGINE_LINE = ENGINE_STRATEGY.splitlines().index(
    f"        state.quotes = state.quotes // (quote.seq - {POISON_POSITION + 1})") + 1


# A start under a concurrent suite with a cold numba cache can take minutes: this only
# bounds a hang, each wait ends on what it waits for.
HANG_S = 600
# Bounds, not timings (each only ends a hang): under a concurrent suite a restart can take
# longer than the default 5 s restart window (the restart limit would then never be
# reached), a starved worker can miss a 5 s heartbeat, a warm-up or a drain take minutes.
UNDER_LOAD = """\
restart_window_s = 3600.0
heartbeat_timeout_s = 600.0
ready_timeout_s = 600
drain_timeout_s = 600
"""
GONE_ON = 1000  # records past the poison one: the run went on after the verdict


def verdict_in(inspector, on_error: str, retired_at: list) -> bool:
    """Whether on_error's verdict on "mine" is in, and the run has gone on past it: "stop",
    retired at the restart limit and the feed ticking on for the other strategy;
    "retire" and "skip", the strategy's own ring read on past the poison record. (Read
    straight from the segment: a whole snapshot polled would take CPU from the engine.)"""
    from tickpipe.engine.report import counts
    if on_error == "stop":
        if not retired_at:
            if not int(inspector.control["retired"][1]):  # "mine" is strategy 1
                return False
            retired_at.append(counts(inspector.segment)["ticks"])
        return counts(inspector.segment)["ticks"] > retired_at[0] + GONE_ON
    errors = errors_data(inspector.segment, 1, on_error)
    read = int(inspector.worker_rows["strategy2"]["counters"][STRATEGY_MD_READ])
    decided = errors["mode"] == "retired" if on_error == "retire" else \
        errors["records_skipped"] == 1
    return decided and read > POISON_POSITION + GONE_ON


def run_two(tmp_path, on_error: str):
    """`tickpipe run` of tally and the poisoned "mine", with no run time of its own: it is
    stopped (SIGTERM) once the verdict is in and the run has gone on past it, however long
    the start and the two restarts took. Returns the run (as a CompletedProcess), its
    report, the kept segment's inspector view, mine.py's path, and how long the feed had
    run when the stop was sent."""
    (tmp_path / "tally.py").write_text(open(TALLY).read())
    (tmp_path / "mine.py").write_text(ENGINE_STRATEGY)
    (tmp_path / "two.toml").write_text(textwrap.dedent(f"""
        [engine]
        rate = 20000
        max_restarts = 1
        [[strategy]]
        name = "tally"
        path = "tally.py"
        [[strategy]]
        name = "mine"
        path = "mine.py"
        symbols = ["SYM0", "SYM1"]
        on_error = "{on_error}"
    """).replace("[engine]\n", "[engine]\n" + UNDER_LOAD, 1))
    from tickpipe.engine.snapshot import Inspector
    name = unique_name(f"poison-{on_error}")
    engine = EngineProcess(name, "--seconds", "0", "--keep",
                           config_file=os.fspath(tmp_path / "two.toml"))
    try:
        engine.wait_running(timeout=HANG_S).close()
        inspector = Inspector.attach(name)
        try:
            deadline, retired_at = time.monotonic() + HANG_S, []
            while not verdict_in(inspector, on_error, retired_at):
                if engine.proc.poll() is not None:
                    raise AssertionError(f"on_error {on_error!r}: the engine exited before "
                                         f"the verdict: {engine.proc.stderr.read()}")
                assert time.monotonic() < deadline, f"on_error {on_error!r}: no verdict " \
                    f"in {HANG_S} s"
                time.sleep(0.05)
            ran_s = (time.monotonic_ns() - int(inspector.control["feed_started_ns"])) / 1e9
        finally:
            inspector.close()
        engine.proc.send_signal(signal.SIGTERM)
        out, err = engine.proc.communicate(timeout=HANG_S)
        inspector = Inspector.attach(name)
        try:
            data = inspector.snapshot().data
        finally:
            inspector.close()
    finally:
        engine.kill()  # (and unlinks the kept segment)
    proc = subprocess.CompletedProcess(engine.proc.args, engine.proc.returncode, out, err)
    return proc, json.loads(out), data, os.fspath(tmp_path / "mine.py"), ran_s


def books_agree(report: dict, data: dict, strategies: list[str]) -> None:
    """Every count of the finished run agrees: nothing left in a ring but what is reported
    stranded, each intent an order or a reject, each order at the venue, each position the
    same at risk and the venue, and for each strategy named, its own position the same
    as risk's for it."""
    assert report["lost"] == sum(report["stranded"].values())
    assert report["intents"] == report["orders_sent"] + sum(report["rejected"].values())
    assert report["orders_at_venue"] == report["orders_sent"]
    for symbol, row in report["positions"].items():
        assert row["position"] == row["venue_net_qty"], (symbol, row)
    for name in strategies:
        for symbol, p in data["strategies"][name]["positions"].items():
            assert p["position"] == p["risk_position"], (name, symbol, p)
            assert p["open_buy_qty"] == p["open_sell_qty"] == 0, (name, symbol, p)


def tally_agrees(data: dict, name: str, worker: str, skipped: int = 0) -> None:
    """The strategy's own state (bench/chaos_strategy.py) against the engine's counts:
    every quote it read applied once, but the skipped ones."""
    rings = {ring["name"]: ring for ring in data["rings"]}
    counters = {w["role"]: w["counters"] for w in data["workers"]}
    suffix = worker.removeprefix("strategy")
    state = data["strategies"][name]["state"]
    assert sum(s["quotes"] + s["trades"] for s in state.values()) == \
        counters[worker]["md_read"] - skipped
    assert sum(s["reports"] for s in state.values()) == counters[worker]["fills_read"]
    assert sum(s["sent"] for s in state.values()) == rings[f"intents{suffix}"]["head"]
    for symbol, s in state.items():
        own = data["strategies"][name]["positions"][symbol]
        assert s["position"] == own["position"], (name, symbol)


@pytest.mark.slow
@pytest.mark.parametrize("on_error", ["stop", "retire", "skip"])
def test_run_when_a_callback_raises_on_one_record_then_on_error_decides_and_books_agree(
        tmp_path, on_error):
    proc, report, data, mine, ran_s = run_two(tmp_path, on_error)
    assert "Traceback" not in proc.stderr
    # first death: restarted, the record named; second, on the same record: the user's
    # line named, and on_error ("stop": as today, the restart limit; with another strategy
    # trading, that retires this one for good)
    said = [note for note in report["notes"] if "restarted after" in note] + \
        [note for note in report["notes"] if "died again on the same record" in note
         or "reached the limit" in note]
    assert len(said) == 2, report["notes"]
    assert "strategy 'mine' (mine.py) raised ZeroDivisionError" in said[0]
    assert f"in on_quote on quote SYM0 #{POISON_POSITION} (t+" in said[0] or \
        f"in on_quote on quote SYM1 #{POISON_POSITION} (t+" in said[0]
    assert f", raised at {mine}:{ENGINE_LINE} in on_quote" in said[1], said[1]
    rings = {ring["name"]: ring for ring in data["rings"]}
    counters = {w["role"]: w["counters"] for w in data["workers"]}
    mine_errors = data["strategies"]["mine"]["on_error"]
    if on_error == "stop":
        assert proc.returncode == 1 and report["state"] == "failed"
        assert said[1].endswith("strategy 'mine' retired, the other strategies trade on")
        assert f", raised at {mine}:{ENGINE_LINE} in on_quote" in proc.stderr  # its one line
        # what is left unread is mine's, and counted: read + stranded = published
        assert set(report["stranded"]) <= {"quotes2", "fills_strategy2"}, report["stranded"]
        assert counters["strategy2"]["md_read"] + report["stranded"]["quotes2"] == \
            rings["quotes2"]["head"]
        assert counters["strategy2"]["md_read"] == POISON_POSITION
        books_agree(report, data, ["tally"])
        tally_agrees(data, "tally", "strategy")
        assert mine_errors["records_skipped"] == 0
        return
    # retire and skip: the run goes on after the verdict until it is told to stop (it has
    # no run time of its own), stops cleanly, nothing stranded
    assert "died again on the same record" in said[1]
    assert f'on_error = "{on_error}"' in said[1]
    assert proc.returncode == 0, proc.stderr
    assert report["state"] == "stopped"
    assert report["stopped_by"] == "SIGTERM" and report["seconds"] >= ran_s
    assert not report["stranded"]
    assert report["ticks_consumed"] == report["ticks"]
    assert counters["strategy2"]["md_read"] == rings["quotes2"]["head"]
    books_agree(report, data, ["tally", "mine"])
    tally_agrees(data, "tally", "strategy")
    assert mine_errors["records_skipped"] == 1
    last = mine_errors["last_skipped"]
    assert (last["kind"], last["position"]) == ("quote", POISON_POSITION)
    assert last["symbol"] in ("SYM0", "SYM1")
    assert report["strategies"]["mine"]["on_error"] == dict(mine_errors, last_skipped=dict(
        last, text=report["strategies"]["mine"]["on_error"]["last_skipped"]["text"]))
    if on_error == "skip":
        assert mine_errors["mode"] == "trading"
        tally_agrees(data, "mine", "strategy2", skipped=1)
        # it went on trading after the skip
        assert counters["strategy2"]["md_read"] > POISON_POSITION + GONE_ON
    else:
        assert mine_errors["mode"] == "retired"
        assert "the other strategies trade on" in said[1]
        state = data["strategies"]["mine"]["state"]
        assert sum(s["quotes"] + s["trades"] for s in state.values()) == POISON_POSITION
        assert counters["strategy2"]["md_read"] > POISON_POSITION + GONE_ON  # its ring drained
