"""The second tier of a strategy's callbacks (engine/inline_tier.py): when a background
compile starts, and that the runner it makes does what the first tier does, record for
record."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from tickpipe.engine import inline_tier
from tickpipe.engine.config import load_config
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.ring import H_POSITION
from tickpipe.engine.runner_gen import entries_path

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "my_strategy.py")


def user_strategy(tmp_path) -> dict:
    """[[strategy]] of a user's file of its own (its entries, and their markers, are the
    test's alone)."""
    path = tmp_path / "ema.py"
    shutil.copy(EXAMPLE, path)
    return {"name": "ema", "path": str(path), "params": {"fast": 0.3, "warmup": 5}}


def plugin_of(strategy: dict):
    config = load_config(overrides={"strategy": [strategy]})
    return load_plugin(config["strategies"][0])


@pytest.fixture
def inlining_on(monkeypatch):
    monkeypatch.setenv(inline_tier.DISABLE_ENV, "1")


def test_no_background_compile_when_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv(inline_tier.DISABLE_ENV, "0")
    plugin = plugin_of(user_strategy(tmp_path))
    assert inline_tier.start_background_compile(plugin) is False
    assert not os.path.exists(entries_path(plugin) + ".inlining")


def test_no_second_compile_while_a_live_one_holds_the_lock(tmp_path, inlining_on):
    plugin = plugin_of(user_strategy(tmp_path))
    lock = entries_path(plugin) + ".inlining"
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with open(lock, "w") as f:
        f.write(f"{os.getpid()}\n")  # this process: alive
    try:
        assert inline_tier.start_background_compile(plugin) is False
    finally:
        os.unlink(lock)


@pytest.mark.parametrize("marker", [".inlined", ".inline-failed"])
def test_no_compile_once_compiled_or_failed(tmp_path, inlining_on, marker):
    plugin = plugin_of(user_strategy(tmp_path))
    done = entries_path(plugin) + marker
    os.makedirs(os.path.dirname(done), exist_ok=True)
    with open(done, "w") as f:
        f.write("x\n")
    try:
        assert inline_tier.start_background_compile(plugin) is False
        assert not os.path.exists(entries_path(plugin) + ".inlining")
    finally:
        os.unlink(done)


def test_the_shared_runner_until_the_inlined_one_is_compiled(tmp_path):
    plugin = plugin_of(user_strategy(tmp_path))
    assert inline_tier.inlined_runner(plugin) is None


def test_an_edit_names_new_entries_so_an_inlined_runner_never_outlives_its_code(tmp_path):
    strategy = user_strategy(tmp_path)
    before = entries_path(plugin_of(strategy))
    with open(strategy["path"], "a") as f:
        f.write("\n# an edit\n")
    os.utime(strategy["path"], ns=(time.time_ns() + 10**9,) * 2)
    assert entries_path(plugin_of(strategy)) != before


def test_the_kernels_copy_replaces_only_the_callback_block():
    text = inline_tier.kernels_text("some_entries_module")
    assert "from some_entries_module import inlined as callback" in text
    assert "def callback(" not in text and "call_callback(entry" not in text
    assert "def on_record(" in text and "def source_step(" in text


@pytest.mark.long
def test_background_compile_then_the_inlined_runner_matches_the_shared_one(tmp_path, inlining_on):
    # The real path: a process of its own at idle priority compiles, marks it ready and
    # drops its lock; an agent then picks the inlined runner, and on the same quotes it
    # leaves the same state rows and the same intents as the shared runner.
    from tickpipe.bench.strategy_bench import VariantRun
    strategy = user_strategy(tmp_path)
    plugin = plugin_of(strategy)
    entries = entries_path(plugin)
    from tickpipe.engine.runner_gen import compile_strategy
    compile_strategy(plugin, load_config()["feed"]["symbols"])  # as the launcher does first
    assert inline_tier.start_background_compile(plugin) is True
    deadline = time.monotonic() + 900
    while not os.path.exists(entries + ".inlined"):
        assert not os.path.exists(entries + ".inline-failed"), open(entries + ".inline-failed").read()
        assert time.monotonic() < deadline, "the background compile did not finish in 900 s"
        time.sleep(0.5)
    while os.path.exists(entries + ".inlining"):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    runs = {}
    for variant in ("runner", "runner-inlined"):
        run = VariantRun(variant, strategy, compile_inlined=False)
        try:
            run.push_and_loop()
            head = int(run.context.outputs["intents"][H_POSITION])
            intents = np.array(run.context.records["intents"][:head])
            # the rows byte for byte (np.array of padded records leaves the padding as
            # malloc had it)
            runs[variant] = (run.agent.tier, run.agent.mirror.view(np.uint8).copy(), intents)
        finally:
            run.close()
    assert runs["runner"][0] == "entries" and runs["runner-inlined"][0] == "inlined"
    assert runs["runner"][1].tobytes() == runs["runner-inlined"][1].tobytes()
    a, b = runs["runner"][2], runs["runner-inlined"][2]
    assert len(a) > 0 and len(a) == len(b)
    fields = [f for f in a.dtype.names if f not in ("origin_ns", "publish_ns")]
    for field in fields:
        assert np.array_equal(a[field], b[field]), field


def test_the_module_runs_as_a_compiler_and_records_a_failure(tmp_path):
    # Entries that do not exist: the process says why in .inline-failed and drops its lock.
    entries = str(tmp_path / "strategy_entries_nothere.py")
    with open(entries + ".inlining", "w") as f:
        f.write("0\n")
    result = subprocess.run([sys.executable, "-m", "tickpipe.engine.inline_tier", entries],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Error" in open(entries + ".inline-failed").read()
    assert not os.path.exists(entries + ".inlining")
