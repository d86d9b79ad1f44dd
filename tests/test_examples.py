"""The README's strategy is the example's, and the example runs as a user runs it:
`tickpipe run my.toml` in a directory of its own, with the strategy next to it."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tickpipe.engine.segment import unlink_segment
from tickpipe.engine.snapshot import Inspector
from engine_runs import unique_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def readme_blocks(language: str) -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("## Write your own strategy", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def test_readme_when_it_shows_the_example_then_it_is_the_example_as_it_is():
    with open(os.path.join(EXAMPLES, "my_strategy.py")) as f:
        assert readme_blocks("python") == [f.read()]
    tomls = []
    for name in ("my.toml", "mm.toml"):
        with open(os.path.join(EXAMPLES, name)) as f:
            tomls.append(f.read())
    assert readme_blocks("toml") == tomls


@pytest.mark.slow
def test_example_when_run_as_a_user_then_it_trades_and_its_state_saw_every_quote(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    name = unique_name("example")
    proc = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", "my.toml", "--seconds",
                           "2", "--json", "--keep", "--name", name],
                          cwd=tmp_path / "examples", capture_output=True, text=True, timeout=300)
    try:
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        inspector = Inspector.attach(name)
        data = inspector.snapshot().data
        inspector.close()
    finally:
        unlink_segment(name)
    assert report["state"] == "stopped" and report["lost"] == 0
    assert report["orders_sent"] > 0
    strategy = data["strategies"]["ema_cross"]
    assert strategy["params"]["fast"] == 0.3 and strategy["params"]["slow"] == 0.02
    state = strategy["state"]
    assert set(state) == {"ACME", "GLOBEX"}
    feed = next(w for w in data["workers"] if w["role"] == "feed")["counters"]
    # every quote applied to the state once (trades go to on_trade, which it leaves out)
    assert sum(s["quotes"] for s in state.values()) == feed["ticks"] - feed["trades"]
    for symbol, s in state.items():
        assert s["filled_qty"] == strategy["positions"][symbol]["filled_qty"], symbol
    assert data["risk"]["positions"]["GLOBEX"]["currency"] == "EUR"
