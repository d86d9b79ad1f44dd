"""The long scenarios: `pytest -m long` (not in the main set; .ci/run runs both).

Each is a bench as a person would run it, at a size that says something: 100 random
SIGKILLs of workers under load with every count and every book reconciled after each
phase (bench/chaos.py), and a minute's soak with every worker's memory sampled
(bench/soak.py). The main set runs the same code at its smallest (tests/test_bench_chaos.py,
tests/test_cli_bench_pipeline.py); these catch what only shows over time or over many kills.
"""

import json

import pytest
from click.testing import CliRunner

from tickpipe.cli.main import tickpipe

pytestmark = [pytest.mark.long, pytest.mark.slow]


def _bench_json(*args):
    result = CliRunner().invoke(tickpipe, ["bench", *args, "--json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    return result.exit_code, report


def test_chaos_when_100_workers_are_killed_under_load_then_every_check_holds():
    code, report = _bench_json("chaos", "--kills", "100", "--seed", "19")
    failing = [row for row in report["results"] if not row["ok"]]
    assert report["differences"] == 0 and not failing, failing
    assert code == 0
    checks = {row["check"] for row in report["results"]}
    assert "default rate: every killed worker came back" in checks
    assert "flat out: every killed worker came back" in checks
    assert any(check.startswith("flat out: symbol") for check in checks)


def test_soak_when_run_for_a_minute_then_nothing_is_lost_and_no_worker_grows():
    code, report = _bench_json("soak", "--seconds", "60")
    assert code == 0
    assert report["run"]["ticks"] > 0 and report["run"]["lost"] == 0
    rows = {row["name"]: row for row in report["results"]}
    for role in ("feed", "strategy", "risk", "gateway"):
        shared, private = rows[f"{role}-RssShmem"], rows[f"{role}-RssAnon"]
        assert shared["samples"] >= 5, shared  # one every 5 s once the workers run
        assert shared["last_bytes"] == shared["first_bytes"], shared  # pre-faulted
        assert abs(private["last_bytes"] - private["first_bytes"]) < 4 << 20, private
