"""A strategy that cannot run is found before any process starts: one line naming the
strategy (and the field, or the user's file and line), exit 1, no segment left.

Those error paths run `tickpipe run` in this process (click's CliRunner, the same
arguments): each fails in the config or in the compile step, before any engine exists,
and a guard fails the test should one get as far as creating a segment (a real engine
must not start inside pytest). The behaviours about processes, a callback that raises
and is restarted, a strategy retired while another trades on, run a real engine each.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from tickpipe.cli.main import tickpipe
from tickpipe.engine.segment import SegmentNotFound, find_segment
from engine_runs import EngineProcess, unique_name

TALLY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                     "chaos_strategy.py")
GOOD = """
    import numpy as np
    from numba import njit
    import tickpipe as tp
    PARAMS = {"qty": 5, "ratio": 0.5}
    STATE = np.dtype([("seen", np.int64)])
    @njit
    def on_quote(ctx, state, params, quote):
        state.seen += 1
"""
# A start under a concurrent suite with a cold numba cache can take minutes: these only
# bound a hang, each wait ends on what it waits for.
HANG_S = 600
# Bounds, not timings (each only ends a hang): under a concurrent suite a restart can take
# longer than the default 5 s restart window (the restart limit would then never be
# reached), a starved worker can miss a 5 s heartbeat, a warm-up take minutes. The drain
# keeps its default: these runs end failed whatever the drain does, and once a strategy is
# given up (not retired) at the limit, a feed blocked on its full ring is not stopped and
# the drain ends only at its timeout (a slow restart lets the ring fill first).
UNDER_LOAD = """\
restart_window_s = 3600.0
heartbeat_timeout_s = 600.0
ready_timeout_s = 600
"""


@pytest.fixture
def in_tmp_path(tmp_path, monkeypatch):
    """`tickpipe run` here, in tmp_path (its relative paths as a user types them), with a
    guard: an in-process run that got past its config and compile errors would create a
    segment and start real workers inside pytest; it fails the test instead."""
    import tickpipe.engine.supervisor as supervisor

    def no_engine_here(name, *args, **kwargs):
        raise AssertionError(f"run {name!r} got past its config and compile errors: an engine "
                             "would start inside pytest")
    monkeypatch.setattr(supervisor, "create_segment", no_engine_here)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke_run(*args: str):
    return CliRunner().invoke(tickpipe, ["run", *args])


def run_config(tmp_path, toml: str, module: str | None = GOOD, name: str = "mine"):
    if module is not None:
        (tmp_path / "strat.py").write_text(textwrap.dedent(module))
    engine = unique_name("bad-strategy")
    (tmp_path / "my.toml").write_text(textwrap.dedent(toml).replace("NAME", name))
    result = invoke_run("my.toml", "--seconds", "1", "--name", engine)
    with pytest.raises(SegmentNotFound):
        find_segment(engine)  # nothing was created
    return result


def one_line_error(result) -> str:
    # a library error must have become a ClickException (SystemExit 1), not escaped
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


PATH_TABLE = """
    [[strategy]]
    name = "NAME"
    path = "strat.py"
"""


@pytest.mark.parametrize("module, expected", [
    ("import no_such_module_here\n",
     ["strategy 'mine'", "strat.py does not import", "strat.py:1", "no_such_module_here"]),
    ("X = 1\n", ["strategy 'mine'", "defines none of on_quote, on_trade, on_fill, on_timer"]),
    ("def on_quote(ctx, state, params, quote)\n    pass\n",
     ["strategy 'mine'", "SyntaxError", "strat.py:1"]),
    ("import numpy as np\nSTATE = np.dtype([('name', 'U8')])\n"
     "def on_quote(ctx, state, params, quote):\n    pass\n",
     ["strategy 'mine'", "STATE field 'name'", "only plain numbers"]),
    ("from numba import njit\n\n@njit\ndef on_quote(ctx, state, params, quote):\n"
     "    x = quote.bid_px + 'a'\n",
     ["strategy 'mine'", "on_quote does not compile", "(strat.py:5)"]),
    ("on_timer = lambda ctx, state, params, now: None\n",
     ["strategy 'mine'", "on_timer but timer_ms is 0"]),
    # an API call with an argument short: numba's inlining pass names no line; we do
    ("import tickpipe as tp\nfrom numba import njit\n\n@njit\n"
     "def on_quote(ctx, state, params, quote):\n    x = 1\n    y = tp.bid_px(ctx)\n",
     ["strategy 'mine'", "on_quote does not compile (strat.py:7)",
      "tp.bid_px(ctx, level): missing a required argument: 'level'"]),
    # a misspelt callback would never be called: a run with it silently did not trade
    ("from numba import njit\n\n@njit\ndef on_quote(ctx, state, params, quote):\n    pass\n"
     "\n\n@njit\ndef on_tmier(ctx, state, params, now_ns):\n    pass\n",
     ["strategy 'mine'", "defines on_tmier, which is not a callback", "did you mean on_timer?"]),
    # an API function misspelt: the API is named, not the state's fields
    ("import tickpipe as tp\nfrom numba import njit\n\n@njit\n"
     "def on_quote(ctx, state, params, quote):\n    x = tp.posiiton(ctx)\n",
     ["strategy 'mine'", "on_quote does not compile (strat.py:6)",
      "tp.posiiton is not in the strategy API: did you mean tp.position?"]),
    # a name not defined: numba names no line; we do
    ("from numba import njit\n\n@njit\ndef on_quote(ctx, state, params, quote):\n"
     "    # undefined_name in a comment is not a use\n    x = 1 + undefined_name\n",
     ["strategy 'mine'", "on_quote does not compile (strat.py:6)",
      "name 'undefined_name' is not defined"]),
], ids=["no-import", "no-callback", "syntax", "object-state", "no-compile", "timer-without-ms",
        "api-arguments", "misspelt-callback", "api-typo", "undefined-name"])
def test_run_when_the_strategy_module_is_broken_then_one_line_names_it(in_tmp_path, module,
                                                                       expected):
    line = one_line_error(run_config(in_tmp_path, PATH_TABLE, module))
    for part in expected:
        assert part in line, line


@pytest.mark.parametrize("params, expected", [
    ("{ qty = 1.5 }", "param qty = 1.5: expected int"),
    ("{ qty = \"5\" }", "param qty = '5': expected int"),
    ("{ nope = 1 }", "unknown param nope = 1 (params: qty, ratio)"),
])
def test_run_when_a_param_is_wrong_then_one_line_names_the_strategy_and_the_param(
        in_tmp_path, params, expected):
    line = one_line_error(run_config(in_tmp_path, PATH_TABLE + f"params = {params}\n"))
    assert "strategy 'mine'" in line and expected in line, line


def test_run_when_a_param_is_an_int_for_a_float_then_it_is_taken(in_tmp_path):
    _write(in_tmp_path, PATH_TABLE + "params = { ratio = 2 }\n")
    result = invoke_run("--print-config", "my.toml")
    assert result.exit_code == 0, (result.exception, result.stderr)
    assert "params = { qty = 5, ratio = 2.0 }" in result.stdout


def _write(tmp_path, toml):
    (tmp_path / "strat.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "my.toml").write_text(textwrap.dedent(toml).replace("NAME", "mine"))
    return tmp_path


@pytest.mark.parametrize("toml, expected", [
    (PATH_TABLE + PATH_TABLE, "strategy 'mine': two [[strategy]] tables have this name"),
    (PATH_TABLE + 'symbols = ["NOPE"]\n',
     "strategy 'mine': symbols: 'NOPE' is not an instrument of the feed (SYM0, SYM1"),
    ("[[strategy]]\nname = \"NAME\"\n", "strategy 'mine': give exactly one of module"),
    ("[[strategy]]\nname = \"NAME\"\nmodule = \"no.such.module\"\n",
     "strategy 'mine': module 'no.such.module' not found"),
    ("[[strategy]]\nname = \"NAME\"\npath = \"missing.py\"\n", "missing.py': no such file"),
    (PATH_TABLE + "colour = 1\n", "strategy 'mine': unknown key colour = 1"),
    ("[[instrument]]\nname = \"A\"\ntick_size = 0\n" + PATH_TABLE,
     "instrument 'A': tick_size = 0: expected an int from 1"),
])
def test_run_when_the_strategy_table_is_wrong_then_one_line_says_what(in_tmp_path, toml,
                                                                      expected):
    line = one_line_error(run_config(in_tmp_path, toml))
    assert expected in line, line


def test_run_when_the_builtin_params_are_out_of_range_then_one_line_names_them(in_tmp_path):
    toml = ("[[strategy]]\nname = \"NAME\"\nmodule = \"tickpipe.workers.strategies.mean_reversion\""
            "\nparams = { window = 1 }\n")
    line = one_line_error(run_config(in_tmp_path, toml, module=None))
    assert "strategy 'mine': param window = 1: must be from 2" in line, line


def test_plugin_when_loaded_twice_by_path_then_it_is_one_module(tmp_path):
    from tickpipe.engine.plugin import load_plugin
    _write(tmp_path, PATH_TABLE)
    entry = {"name": "x", "path": os.fspath(tmp_path / "strat.py")}
    assert load_plugin(entry).module is load_plugin(entry).module


BOOM = """
    import numpy as np
    from numba import njit
    STATE = np.dtype([("n", np.int64)])
    @njit
    def on_quote(ctx, state, params, quote):
        state.n += 1
        if state.n == 200:
            state.n = 1 // (state.n - 200)
"""


def wait_for(engine: EngineProcess, condition, what: str):
    """Poll `condition` until it holds; an engine that exits first fails at once, with its
    stderr. The deadline only bounds a hang."""
    deadline = time.monotonic() + HANG_S
    while not condition():
        if engine.proc.poll() is not None:
            raise AssertionError(f"{what}: the engine exited first: {engine.proc.stderr.read()}")
        assert time.monotonic() < deadline, f"{what} in {HANG_S} s"
        time.sleep(0.05)


@pytest.mark.slow
def test_run_when_a_callback_raises_then_it_is_restarted_counted_and_named(tmp_path):
    (tmp_path / "strat.py").write_text(textwrap.dedent(BOOM))
    (tmp_path / "my.toml").write_text("[engine]\nrate = 20000\nmax_restarts = 1\n" + UNDER_LOAD
                                      + textwrap.dedent(PATH_TABLE).replace("NAME", "mine"))
    # --seconds 0: the run ends by itself, at the restart limit, however long the restart
    # takes (a run time of its own could end first under load); the timeout bounds a hang
    proc = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", "my.toml", "--seconds",
                           "0", "--name", unique_name("raises")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    died = [line for line in proc.stderr.splitlines() if line.startswith("strategy mine died")]
    assert len(died) == 2, proc.stderr  # restarted once (counted), then the limit
    assert "restarting it (restart 1)" in died[0]
    assert "strategy 'mine' (strat.py) raised ZeroDivisionError" in died[0]
    assert " in on_quote on quote SYM" in died[0]  # the record: symbol, position, fields
    assert "reached the limit" in died[1]
    # the second failure, on the same record, is re-run from the state just before it:
    # the line names the user's file and line, not tickpipe's (on_error "stop": as today)
    boom_line = [line.strip() for line in textwrap.dedent(BOOM).splitlines()].index(
        "state.n = 1 // (state.n - 200)") + 1
    assert f"raised at {tmp_path / 'strat.py'}:{boom_line} in on_quote" in died[1], died[1]


# Ticks the feed must make after the retirement: a feed still waiting on the retired
# strategy's ring would stall within its 256 slots (and a batch); sixteen times that
# cannot be made by a stalled feed, and takes 0.2 s at 20k/s (4 s under load, at worst)
AFTER_RETIREMENT = 16 * 256


@pytest.mark.slow
def test_run_when_one_strategy_keeps_raising_then_it_is_retired_and_the_other_trades_on(
        tmp_path):
    from tickpipe.engine.report import counts
    from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
    shutil.copy(TALLY, tmp_path)
    (tmp_path / "strat.py").write_text(textwrap.dedent(BOOM))
    (tmp_path / "two.toml").write_text(textwrap.dedent("""
        [engine]
        rate = 20000
        max_restarts = 1
        # small rings: the dead strategy's fills while it restarts, and the feed waits
        # on it; once it is retired the feed must stop waiting (runner: live_outputs)
        ring_capacity = 256
        [[strategy]]
        name = "tally"
        path = "chaos_strategy.py"
        [[strategy]]
        name = "mine"
        path = "strat.py"
        symbols = ["SYM0", "SYM1"]
    """).replace("[engine]\n", "[engine]\n" + UNDER_LOAD, 1))
    # It runs until told to stop: once "mine" is retired and the feed has gone on ticking
    # for the other well past what the small rings hold, whatever the start and the
    # restart took.
    engine = EngineProcess(unique_name("retire"), "--seconds", "0",
                           config_file=os.fspath(tmp_path / "two.toml"))
    try:
        segment = engine.wait_running(timeout=HANG_S)
        try:
            control = segment.view("control", CONTROL_DTYPE)[0]
            wait_for(engine, lambda: int(control["retired"][1]), "strategy 'mine' not retired")
            retired_at = counts(segment)["ticks"]
            wait_for(engine, lambda: counts(segment)["ticks"] > retired_at + AFTER_RETIREMENT,
                     "the feed did not tick on after the retirement")
            ran_s = (time.monotonic_ns() - int(control["feed_started_ns"])) / 1e9
        finally:
            segment.close()
        engine.proc.send_signal(signal.SIGTERM)
        out, err = engine.proc.communicate(timeout=HANG_S)
    finally:
        engine.kill()
    assert engine.proc.returncode == 1, err
    report = json.loads(out)
    assert report["state"] == "failed"  # a strategy was given up: not a clean stop
    # ... but the engine ran on after it, until it was told to stop
    assert report["stopped_by"] == "SIGTERM" and report["seconds"] >= ran_s
    assert "strategy 'mine' retired, the other strategies trade on" in err
    tally = report["strategies"]["tally"]
    assert tally["tick_to_trade_ns"]["count"] > 0
    assert report["strategies"]["mine"]["tick_to_trade_ns"]["count"] == 0
    # after the retirement the feed kept ticking for the others (a feed still waiting on
    # the retired strategy's ring would stall within 256 records)
    assert report["ticks"] > retired_at + AFTER_RETIREMENT
