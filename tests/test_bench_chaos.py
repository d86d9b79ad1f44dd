"""`tickpipe bench chaos`: the reconciliation it ends with, and a short run end to end."""

import copy
import json

import pytest
from click.testing import CliRunner

from tickpipe.bench.chaos import reconcile
from tickpipe.cli.main import tickpipe

# 60 requests: 50 passed, 10 denied; every one a record on the orders ring
RINGS = {"quotes": 1000, "intents": 60, "orders": 60, "fills_risk": 65, "fills_strategy": 65}


def consistent_view() -> dict:
    """An inspector view of a stopped engine in which every count agrees."""
    return {
        "rings": [{"name": name, "head": n, "tail": n} for name, n in RINGS.items()],
        "workers": [
            {"role": "feed", "counters": {"ticks": 1000}},
            {"role": "strategy", "counters": {"intents": 60}},
            {"role": "risk", "counters": {"intents_read": 60, "orders_sent": 50,
                                          "orders_out": 60}},
            {"role": "gateway", "counters": {"orders_read": 60, "reports_sent": 65}},
        ],
        "risk": {"rejects": {"halted": 4, "rate_limit": 6},
                 "positions": {"0": {"position": 10, "venue_net_qty": 10, "orders_sent": 30,
                                     "venue_orders": 30, "open_buy_qty": 0, "open_sell_qty": 0,
                                     "open_orders": 0, "strategy_position": 10},
                               "1": {"position": -5, "venue_net_qty": -5, "orders_sent": 20,
                                     "venue_orders": 20, "open_buy_qty": 0, "open_sell_qty": 0,
                                     "open_orders": 0, "strategy_position": -5}}},
    }


def failing(rows) -> list[str]:
    return [row["check"] for row in rows if not row["ok"]]


def test_reconcile_when_every_count_agrees_then_every_check_passes():
    rows = reconcile(consistent_view())
    assert rows and not failing(rows)
    assert len(rows) == 5 + 9 + 2 + 2 * 5  # rings, counters, per-symbol sums, per symbol


@pytest.mark.parametrize("plant, expected", [
    (lambda v: v["workers"][2]["counters"].update(orders_out=53),
     "risk: records counted = records published"),
    (lambda v: v["rings"][2].update(head=59, tail=59), "risk: requests = orders ring records"),
    (lambda v: v["risk"]["positions"]["0"].update(open_orders=1),
     "symbol 0: open orders after the drain"),
    (lambda v: v["workers"][3]["counters"].update(reports_sent=63),
     "gateway: reports counted = fills_risk published"),
    (lambda v: v["workers"][3]["counters"].update(orders_read=61),
     "gateway: orders executed = orders consumed"),
    (lambda v: v["risk"]["positions"]["1"].update(open_sell_qty=10),
     "symbol 1: open_sell_qty after the drain"),
    (lambda v: v["risk"]["positions"]["0"].update(venue_net_qty=20),
     "symbol 0: risk position = venue position"),
    (lambda v: v["rings"][1].update(tail=59), "intents: every record consumed (tail = head)"),
    (lambda v: v["risk"]["positions"]["1"].update(strategy_position=5),
     "symbol 1: strategy position = venue position"),
    (lambda v: v["risk"]["rejects"].update(halted=5), "risk: requests = orders sent + rejects"),
])
def test_reconcile_when_one_count_is_off_then_that_check_fails_with_both_values(plant, expected):
    view = copy.deepcopy(consistent_view())
    plant(view)
    rows = reconcile(view)
    assert expected in failing(rows)
    row = next(r for r in rows if r["check"] == expected)
    assert row["expected"] != row["got"]


@pytest.mark.slow
def test_bench_chaos_without_kills_when_run_then_the_stop_and_supervisor_phases_reconcile():
    # The SIGSTOP of a consumer, both supervisor signals and every reconciliation;
    # the random SIGKILLs of workers are left out (they are the bench's own subject).
    result = CliRunner().invoke(tickpipe, ["bench", "chaos", "--kills", "0", "--seed", "7",
                                           "--json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert report["differences"] == 0, [r for r in report["results"] if not r["ok"]]
    assert result.exit_code == 0
    checks = [row["check"] for row in report["results"]]
    assert "SIGSTOP strategy: no healthy worker restarted for it" in checks
    assert "SIGKILL supervisor: no worker outlives it" in checks
    assert any(check.startswith("flat out: symbol") for check in checks)
