"""Workers are shown by names people know: a strategy's worker as `strategy <name>`, its
[[strategy]] name, in the supervisor's lines, the report, inspect and the metrics; the
worker names (strategy, strategy2, ...) stay the machine keys ("role" in the JSON)."""

import pytest

from fake_workers import FakeProc, RING_CAPACITY, kill
from tickpipe.engine.engine_layout import worker_label, worker_strategy

STRATEGIES = [{"name": "mr", "module": "tickpipe.workers.strategies.mean_reversion"},
              {"name": "obi", "module": "tickpipe.workers.strategies.momentum"}]


def test_worker_label_when_a_strategy_worker_then_strategy_and_its_configured_name():
    names = ["mr", "obi"]
    assert [worker_label(w, names) for w in ("feed", "strategy", "strategy2", "risk")] == \
        ["feed", "strategy mr", "strategy obi", "risk"]
    assert worker_label("strategy2", {1: "obi"}) == "strategy obi"
    assert (worker_strategy("strategy2", names), worker_strategy("gateway", names)) == ("obi", None)


def test_worker_label_when_the_name_is_unknown_then_the_worker_name():
    assert worker_label("strategy3", ["mr", "obi"]) == "strategy3"
    assert worker_label("strategy", {}) == "strategy"


@pytest.fixture
def two_strategies(segments):
    """A RUNNING Supervisor of strategies mr and obi over a real segment, workers faked
    (as fake_workers.running_supervisor, with a [[strategy]] table of two)."""
    from tickpipe.engine.config import load_config
    from tickpipe.engine.engine_layout import initialise, section_specs
    from tickpipe.engine.supervisor import Supervisor

    config = load_config(overrides={"engine": {"ring_capacity": RING_CAPACITY, "restart": "one",
                                               "max_restarts": 5},
                                    "strategy": [dict(entry) for entry in STRATEGIES]})
    said = []
    sup = Supervisor(config, say=said.append)
    sup.segment = segments.create(section_specs(config), ready=False)
    config["engine"]["name"] = sup.segment.name
    initialise(sup.segment, config, sup.placement)
    sup.said, sup.spawned = said, []

    def spawn(role):
        sup.spawned.append(role)
        sup.procs[role] = FakeProc()

    sup._spawn = spawn
    sup.procs = {role: FakeProc() for role in sup.workers}
    for trigger in ("spawn", "spawned", "all_ready"):
        sup.lifecycle.fire(trigger)
    return sup


def test_supervisor_when_a_strategy_worker_dies_then_its_line_names_the_strategy(two_strategies):
    sup = two_strategies
    assert "strategy2" in sup.workers
    kill(sup, "strategy2")
    assert sup.spawned == ["strategy2"]
    assert "strategy obi died (signal 9); restarting it (restart 1)" in sup.said
    assert sup.notes[-1] == "strategy obi restarted after signal 9"
    assert not any("strategy2" in line for line in sup.said + sup.notes)


def test_supervisor_placement_line_names_each_strategy(two_strategies):
    line = two_strategies.placement.summary(two_strategies._label)
    assert "strategy mr@" in line and "strategy obi@" in line and "strategy2" not in line


def test_report_worker_rows_when_two_strategies_then_role_is_the_key_and_name_the_strategy(
        two_strategies):
    from tickpipe.engine.report import format_report, worker_rows
    rows = worker_rows(two_strategies.segment)
    assert [(w["role"], w["name"], w["strategy"]) for w in rows] == [
        ("feed", "feed", None), ("strategy", "strategy mr", "mr"), ("risk", "risk", None),
        ("gateway", "gateway", None), ("strategy2", "strategy obi", "obi")]
    report = {"engine": "e", "state": "stopped", "seconds": 1.0,
              "memory": {"backing": "shm", "page_size": 4096, "locked": False}, "ticks": 0,
              "intents": 0, "orders_sent": 0, "fills": 0, "lost": 0, "rejected": {},
              "venue_rejected": {}, "tick_to_trade_ns": {"count": 0, **dict.fromkeys(
                  ("p50", "p90", "p99", "p999", "max"))}, "hops_ns": {}, "workers": rows,
              "notes": []}
    workers_line = next(line for line in format_report(report).splitlines()
                        if line.startswith("  workers: "))
    assert "strategy obi@" in workers_line and "strategy2" not in workers_line


def test_inspect_when_two_strategies_then_the_worker_table_and_metrics_name_them(two_strategies):
    from tickpipe.cli.inspect_format import WORKER_COLUMNS, _table
    from tickpipe.engine.snapshot import Inspector
    data = Inspector(two_strategies.segment).snapshot().data
    assert [(w["role"], w["name"]) for w in data["workers"]][-1] == ("strategy2", "strategy obi")
    table = "\n".join(_table(WORKER_COLUMNS, data["workers"]))
    assert "strategy obi" in table and "strategy2" not in table

    pytest.importorskip("prometheus_client")
    import numpy as np

    from tickpipe.engine.metrics import families
    up = next(f for f in families(data, np.array(Inspector(two_strategies.segment).histograms))
              if f.name == "tickpipe_worker_up")
    labels = {s.labels["role"]: s.labels["strategy"] for s in up.samples}
    assert labels["strategy2"] == "obi" and labels["strategy"] == "mr" and labels["feed"] == ""
