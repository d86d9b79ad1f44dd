"""Roles are declarations (engine/role.py): the topology, rows and counters come from
workers/<role>/role.py, and a role of one's own is one folder (tests/role_probe/, named
by TICKPIPE_ROLES) that runs in a real engine with nothing else changed."""

import json
import os
import subprocess
import sys

import pytest

from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import engine_rings, engine_workers, inputs_of, outputs_of
from tickpipe.engine.registry import ROLES
from tickpipe.engine.role import merge_sections
from tickpipe.shm_layouts.strategy_table import MAX_STRATEGIES
from tickpipe.shm_layouts.worker_table import MAX_WORKERS, N_COUNTERS
from engine_runs import unique_name
from test_inspect_support import REPO, one_line_error

TESTS = os.path.dirname(os.path.abspath(__file__))


def config_with(n_strategies: int) -> dict:
    tables = [{"name": f"s{k}", "module": "tickpipe.workers.strategies.momentum"}
              for k in range(n_strategies)]
    return load_config(overrides={"strategy": tables})


@pytest.mark.parametrize("n", [1, 2, MAX_STRATEGIES])
def test_topology_when_n_strategies_then_every_ring_joins_two_workers_and_slots_have_no_gaps(n):
    config = load_config() if n == 1 else config_with(n)
    rings, workers = engine_rings(config), engine_workers(config)
    assert len(workers) == 3 + n and len({ring.section for ring in rings}) == len(rings)
    for ring in rings:
        assert ring.producer in workers and ring.consumer in workers, ring
    for worker in workers:  # each consumer's input slots are 0..k-1, one ring each
        assert [spec.input_index for spec in inputs_of(worker, rings)] == \
            list(range(len(inputs_of(worker, rings)))), worker
    # the orders the kernels rely on (workers/*/role.py say why)
    strategies = ["strategy"] + [f"strategy{k}" for k in range(2, n + 1)]
    assert [r.consumer for r in outputs_of("feed", rings)] == strategies + ["gateway"]
    assert [r.consumer for r in outputs_of("gateway", rings)] == ["risk"] + strategies
    assert [r.producer for r in inputs_of("risk", rings)] == ["gateway"] + strategies
    for strategy in strategies:
        assert [r.section for r in inputs_of(strategy, rings)] == \
            [f"quotes{strategy[8:]}", f"fills_strategy{strategy[8:]}"]


def test_declarations_when_read_then_rows_ids_and_counters_fit_the_worker_table():
    rows = [row for role in ROLES.values() for row in role.rows]
    assert len(rows) == len(set(rows)) and all(0 <= row < MAX_WORKERS for row in rows)
    assert len({role.role_id for role in ROLES.values()}) == len(ROLES)
    assert len(ROLES["strategy"].rows) == MAX_STRATEGIES
    assert [name for name, role in ROLES.items() if role.source] == ["feed"]
    for role in ROLES.values():
        slots = list(role.counters.values())
        assert len(slots) == len(set(slots)) and all(0 <= s < N_COUNTERS for s in slots), role


def test_merge_sections_when_two_roles_give_one_key_then_one_section_and_no_figure_twice():
    data = {"risk": {"orders_sent": 3}}
    merge_sections(data, {"risk": {"exchange_rejects": 1}, "venue": {"working": 0}})
    assert data == {"risk": {"orders_sent": 3, "exchange_rejects": 1}, "venue": {"working": 0}}
    merge_sections(data, {"risk": {"orders_sent": 4}, "venue": 1}, "mine")  # kept apart
    assert data["risk"]["orders_sent"] == 3 and data["risk"]["mine.orders_sent"] == 4
    assert data["mine.venue"] == 1 and data["venue"] == {"working": 0}


def _env(**extra) -> dict:
    env = {**os.environ, "TICKPIPE_ROLES": "role_probe", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    return env


def _cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tickpipe.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env=env or _env(), timeout=timeout)


@pytest.mark.slow
def test_a_role_of_ones_own_when_named_then_it_runs_in_a_real_engine_with_its_sections(tmp_path):
    config = tmp_path / "probe.toml"
    config.write_text('[probe]\nlabel = "seen"\nevery_ms = 2\n')
    name = unique_name("probe")
    done = _cli("run", str(config), "--json", "--seconds", "1.5", "--rate", "20000",
                "--name", name, "--keep")
    try:
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        # its worker, counters, status figure and report section
        probe = next(w for w in report["workers"] if w["role"] == "probe")
        assert probe["state"] == "stopped" and probe["counters"]["passes"] > 0
        assert report["probe_passes"] == probe["counters"]["passes"]
        # the drain waited for its `drained` hook: it saw every tick the feed made
        assert report["probe"]["seen_ticks"] == report["ticks"] > 0
        assert report["probe"]["label"] == "seen" and report["lost"] == 0
        # inspect, post-mortem, with the role known: its section; without: its worker only
        known = json.loads(_cli("inspect", name, "--json").stdout)
        assert known["probe"]["seen_ticks"] == report["ticks"]
        plain = _cli("inspect", name, "--json", env=dict(os.environ))
        assert plain.returncode == 0, plain.stderr
        data = json.loads(plain.stdout)
        assert "probe" not in data and "probe" in [w["role"] for w in data["workers"]]
        # its config section is the engine's like any other
        printed = _cli("run", str(config), "--print-config").stdout
        assert "[probe]" in printed and 'label = "seen"' in printed
        # its hooks ran, in order, and said so; its summary is a line of the report
        said = _cli("run", str(config), "--seconds", "0.3", "--rate", "20000", "--name",
                    unique_name("probe"))
        assert said.returncode == 0, said.stderr
        assert "probe seen: prepared" in said.stderr
        assert "probe: warm, given 'prepared seen'" in said.stderr
        assert "probe seen: saw " in said.stdout
    finally:
        _cli("cleanup", timeout=60)


def test_a_role_of_ones_own_when_its_prepare_refuses_then_one_line_and_exit_1(tmp_path):
    config = tmp_path / "probe.toml"
    config.write_text('[probe]\nlabel = "refuse"\n')
    line = one_line_error(_cli("run", str(config), "--seconds", "1", "--name",
                               unique_name("refuse")))
    assert "probe: refused to start" in line


def test_tickpipe_roles_when_a_package_does_not_import_then_one_line_and_exit_1():
    line = one_line_error(_cli("run", "--seconds", "1", env=_env(TICKPIPE_ROLES="no_such_pkg")))
    assert "TICKPIPE_ROLES: no_such_pkg.role does not import" in line


def test_tickpipe_roles_when_a_role_takes_a_pipeline_row_then_one_line_and_exit_1(tmp_path):
    package = tmp_path / "clash"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "role.py").write_text(
        "from tickpipe.engine.role import Role\n"
        "ROLE = Role(name='clash', role_id=41, rows=(2,), agent='clash.agent', summary='x',\n"
        "            counters={})\n")
    env = _env(TICKPIPE_ROLES="clash")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    line = one_line_error(_cli("run", "--seconds", "1", env=env))
    assert "declares a row another role has" in line


def test_role_of_when_a_name_is_no_workers_then_itself():
    from tickpipe.engine.registry import role_of
    assert role_of("strategy") == "strategy" and role_of("strategy4") == "strategy"
    for name in ("strategy0", "strategy5", "strategy02", "feed2", "nobody"):
        assert role_of(name) == name


def test_tickpipe_roles_when_listed_then_every_declaration_with_its_rings_and_counters():
    listed = json.loads(_cli("roles", "--json", env=dict(os.environ)).stdout)
    assert [row["name"] for row in listed] == list(ROLES)
    feed = next(row for row in listed if row["name"] == "feed")
    assert feed["source"] and "quotes{n}: feed -> strategy{n} (market_data)" in feed["rings"]
    with_probe = json.loads(_cli("roles", "--json").stdout)  # TICKPIPE_ROLES=role_probe
    assert [row["name"] for row in with_probe][-1] == "probe"


@pytest.mark.parametrize("change, message", [
    ({"name": "mon2"}, "not ending in a digit"),
    ({"name": "strategy"}, "another role has it"),
    ({"role_id": 0}, "must be > 0"),
    ({"source": True}, "not for a role of one's own"),
    ({"rows": (MAX_WORKERS,)}, f"rows 0..{MAX_WORKERS - 1}"),
])
def test_registry_when_a_role_of_ones_own_breaks_a_rule_then_it_is_refused(change, message):
    import dataclasses
    from tickpipe.engine.registry import _refused
    from role_probe.role import ROLE as PROBE
    assert _refused(PROBE, ROLES) == ""
    assert message in _refused(dataclasses.replace(PROBE, **change), ROLES)
