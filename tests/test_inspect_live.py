"""The inspector against a live engine this module starts: the snapshot, the CLI views,
Prometheus, ls, cleanup sparing it, and the kill switch from outside."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tickpipe.bench.inspect_overhead import FORBIDDEN_IMPORTS, imported_modules
from tickpipe.engine.cleanup import cleanup_dead, list_segments
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, engine_rings
from tickpipe.engine.metrics import registry_for
from tickpipe.engine.segment import find_segment
from tickpipe.engine.snapshot import SNAPSHOT_KEYS, Inspector
from engine_runs import HANG_S, EngineProcess, unique_name
from tickpipe.shm_layouts.histogram import HOPS
from test_inspect_support import REPO, invoke_ok, run_cli

RINGS = engine_rings(load_config())  # a one-strategy engine's, in directory order
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_engine():
    engine = EngineProcess(unique_name("inspect"), "--seconds", "0", "--rate", "20000")
    try:
        engine.wait_running().close()
        yield engine.name
    finally:
        engine.kill()


@pytest.fixture
def inspector(live_engine):
    inspector = Inspector.attach(live_engine)
    yield inspector
    inspector.close()


def wait_for(predicate, timeout=HANG_S, every=0.05):  # a hang guard: each waits on its condition
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every)


def _moved(data: dict, first: dict) -> bool:
    return data["rings"][0]["head"] > first["rings"][0]["head"] and \
        data["workers"][0]["records"] > first["workers"][0]["records"]


def test_snapshot_when_engine_runs_then_every_field_is_present_and_consistent(inspector):
    first = inspector.snapshot().data
    # both moved in the snapshot compared: a snapshot reads the workers' counters and the
    # rings one after the other, so the head may pass a counter read a moment before it
    wait_for(lambda: _moved(inspector.snapshot().data, first))
    second = inspector.previous.data
    assert tuple(second) == SNAPSHOT_KEYS
    engine = second["engine"]
    assert engine["alive"] and engine["state"] == "running" and engine["uptime_s"] > 0
    assert engine["page_size"] >= 4096 and engine["backing"] in ("shm", "hugetlbfs")
    assert engine["interval_s"] > 0
    assert [w["role"] for w in second["workers"]] == list(PIPELINE)
    for worker in second["workers"]:
        assert worker["alive"] and worker["state"] == "running" and worker["pid"] > 0
        assert worker["heartbeat_age_s"] is not None and worker["heartbeat_age_s"] < 5
        assert worker["rate_per_s"] is not None and worker["restarts"] == 0
        assert worker["wait"] in ("spin", "yield", "backoff", "block")
        assert worker["idle_share_run"] is None or 0 <= worker["idle_share_run"] <= 1
    assert [r["name"] for r in second["rings"]] == [ring.section for ring in RINGS]
    for before, ring in zip(first["rings"], second["rings"]):
        assert ring["head"] >= ring["tail"] >= 0
        assert ring["occupancy"] == ring["head"] - ring["tail"] <= ring["capacity"]
        assert ring["high_water"] >= ring["occupancy"]
        assert ring["head"] >= before["head"] and ring["tail"] >= before["tail"]
    feed = second["workers"][0]
    assert feed["records"] > first["workers"][0]["records"]
    assert set(second["latency_ns"]) == set(HOPS)
    for hop in HOPS:
        run, interval = second["latency_ns"][hop]["run"], second["latency_ns"][hop]["interval"]
        assert set(run) == {"count", "p50", "p90", "p99", "p999", "max"} == set(interval)
        assert interval["count"] <= run["count"]
        if run["count"]:
            assert run["p50"] <= run["p90"] <= run["p99"] <= run["p999"] <= run["max"]
    risk = second["risk"]
    assert risk["trading_state"] == "ACTIVE"
    assert [p["symbol_id"] for p in risk["positions"].values()] == list(range(engine["symbols"]))
    assert set(risk["positions"]) == {f"SYM{i}" for i in range(engine["symbols"])}
    assert risk["intents_read"] >= risk["orders_sent"] + sum(risk["rejects"].values()) - 1
    assert risk["realised_pnl"] == sum(p["realised_pnl"] for p in risk["positions"].values())


def test_inspect_json_when_run_as_a_command_then_prints_one_snapshot(live_engine):
    done = run_cli("inspect", live_engine, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert tuple(data) == SNAPSHOT_KEYS and data["engine"]["name"] == live_engine


def test_inspect_imports_when_run_then_no_numba_no_workers_no_ring_loops(live_engine):
    imported = imported_modules(live_engine)
    assert "tickpipe.engine.snapshot" in imported
    assert not [m for m in imported if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IMPORTS)]


def test_inspect_text_when_engine_runs_then_shows_workers_rings_hops_and_risk(live_engine):
    out = invoke_ok("inspect", live_engine)
    for word in (*PIPELINE, *(ring.section for ring in RINGS), *HOPS, "trading ACTIVE", "SYMBOL"):
        assert word in out
    assert "POST-MORTEM" not in out


def test_inspect_hist_when_hop_has_values_then_prints_bars_to_100_percent(live_engine):
    out = invoke_ok("inspect", live_engine, "--hist", "feed_to_strategy")
    bars = [line for line in out.splitlines() if line.rstrip().endswith("#")]
    assert bars and "100.00%" in bars[-1]


def test_inspect_watch_json_when_counted_then_each_refresh_has_interval_figures(live_engine):
    # A subprocess: --watch lowers its own process to SCHED_IDLE, which pytest must not be.
    # At SCHED_IDLE it runs only where a core would idle: beside a second test suite that
    # is seldom (3 refreshes outlasted 60 s there), so the guard bounds a hang only.
    done = run_cli("inspect", live_engine, "--watch", "0.05", "--count", "3", "--json",
                   timeout=HANG_S)
    assert done.returncode == 0, done.stderr
    frames = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(frames) == 3
    assert frames[0]["engine"]["interval_s"] is None
    assert frames[0]["latency_ns"]["tick_to_trade"]["interval"] is None
    for frame in frames[1:]:
        assert frame["engine"]["interval_s"] > 0
        assert frame["latency_ns"]["tick_to_trade"]["interval"] is not None
        assert frame["rings"][0]["rate_per_s"] is not None


STEP_ASIDE = """
import json, os, sys
from tickpipe.engine.snapshot import Inspector, step_aside
inspector = Inspector.attach(sys.argv[1])
said = step_aside(inspector)
print(json.dumps({"idle": os.sched_getscheduler(0) == os.SCHED_IDLE, "said": said,
                  "cores": sorted(os.sched_getaffinity(0)),
                  "worker_cores": sorted({w["core"] for w in inspector.snapshot().data["workers"]})}))
"""


def test_step_aside_when_watching_then_idle_priority_and_off_the_worker_cores_if_it_can(
        live_engine):
    done = subprocess.run([sys.executable, "-c", STEP_ASIDE, live_engine], capture_output=True,
                          text=True, cwd=REPO, timeout=HANG_S)  # SCHED_IDLE: a hang guard
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["idle"] and "SCHED_IDLE" in result["said"]
    free = os.sched_getaffinity(0) - set(result["worker_cores"])
    assert set(result["cores"]) == (free or os.sched_getaffinity(0))


def test_metrics_when_scraped_then_prometheus_parser_reads_the_snapshot_figures(inspector):
    text = generate_latest(registry_for(inspector)).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    engine = inspector.name
    assert samples[("tickpipe_engine_up", (("engine", engine),))] == 1
    capacity = inspector.previous.data["rings"][0]["capacity"]
    assert samples[("tickpipe_ring_capacity_records", (("consumer", "strategy"), ("engine", engine),
                                                       ("producer", "feed"), ("ring", "quotes")))] \
        == capacity
    assert families["tickpipe_latency_seconds"].type == "histogram"
    inf = [v for (name, labels), v in samples.items()
           if name == "tickpipe_latency_seconds_bucket" and ("le", "+Inf") in labels
           and ("hop", "feed_to_strategy") in labels]
    assert inf and inf[0] > 0
    assert families["tickpipe_risk_rejects"].type == "counter"
    assert {"tickpipe_worker_records", "tickpipe_trading_state", "tickpipe_position_lots",
            "tickpipe_latency_run_quantile_seconds", "tickpipe_engine_state"} <= set(families)
    # money in the instrument's currency, per symbol and per strategy
    assert samples[("tickpipe_realised_pnl", (("currency", "USD"), ("engine", engine),
                                              ("symbol", "SYM0")))] is not None
    strategy_orders = sum(v for (name, labels), v in samples.items()
                          if name == "tickpipe_strategy_orders_total"
                          and ("strategy", "mean_reversion") in labels)
    assert strategy_orders > 0  # (read at another instant than risk's total: not compared)


def test_serve_when_started_then_metrics_endpoint_answers_on_localhost(live_engine):
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "inspect", live_engine, "--serve", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        line = proc.stderr.readline()  # printed once listening; EOF if it died
        match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        # `inspect --serve` lowers itself to SCHED_IDLE: beside another suite it answers
        # seldom; the timeout only bounds a hang
        with urllib.request.urlopen(match.group(0), timeout=600) as response:
            text = response.read().decode()
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "tickpipe_ring_published_records" in names
    finally:
        proc.terminate()
        proc.wait(timeout=600)


def test_ls_when_engine_runs_then_listed_alive_and_running(live_engine):
    rows = {row["name"]: row for row in json.loads(invoke_ok("ls", "--json"))}
    row = rows[live_engine]
    assert row["alive"] is True and row["state"] == "running" and row["kind"] == "segment"
    assert row["owner_pid"] > 0 and row["size"] > 0 and row["page_size"] >= 4096
    assert live_engine in invoke_ok("ls")


def test_cleanup_when_engine_is_alive_then_leaves_it_alone(live_engine):
    [result] = cleanup_dead(locations=[find_segment(live_engine)])
    assert not result.removed and "is running" in result.reason
    assert live_engine in {info.name for info in list_segments()}


def test_halt_reduce_resume_when_engine_runs_then_risk_lets_through_accordingly(inspector):
    def risk():
        return inspector.snapshot().data["risk"]

    try:
        before = risk()
        assert "ACTIVE -> HALTED" in invoke_ok("halt", inspector.name)
        # Once risk has turned one intent away as halted it has seen the state, and
        # whatever it had passed before then is counted: from here nothing passes.
        wait_for(lambda: risk()["rejects"]["halted"] > before["rejects"]["halted"])
        halted = risk()
        assert halted["trading_state"] == "HALTED"
        wait_for(lambda: risk()["rejects"]["halted"] > halted["rejects"]["halted"])
        assert risk()["orders_sent"] == halted["orders_sent"]

        assert "HALTED -> REDUCING" in invoke_ok("reduce", inspector.name)
        assert risk()["trading_state"] == "REDUCING"
        assert risk()["trading_state_changes"] == halted["trading_state_changes"] + 1
    finally:
        assert "-> ACTIVE" in invoke_ok("resume", inspector.name)
    resumed = risk()
    assert resumed["trading_state"] == "ACTIVE"
    wait_for(lambda: risk()["orders_sent"] > resumed["orders_sent"])
