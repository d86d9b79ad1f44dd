"""`tickpipe bench chaos`: the reconciliation it ends with (one strategy, and three with
orders of every kind: books and order tables per strategy), and a short run end to end."""

import copy
import json

import pytest
from click.testing import CliRunner

from tickpipe.bench.chaos import money_rows, reconcile
from tickpipe.cli.main import tickpipe
from tickpipe.shm_layouts.open_order import STATUS_CANCELED, STATUS_FILLED, STATUS_NEW
from tickpipe.shm_layouts.strategy_position import ORDER_ID_STRATEGY_SHIFT

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
    assert len(rows) == 5 + 10 + 2 * 5  # rings, pipeline counts, per symbol


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


FIRST, SECOND = 1 << ORDER_ID_STRATEGY_SHIFT, 2 << ORDER_ID_STRATEGY_SHIFT  # strategies 1, 2


def three_strategies_view() -> dict:
    """The view of a stopped engine of three strategies (tally: IOCs on symbols 0 and 1;
    orders_a on 0 and orders_b on 1: resting orders, replaces, cancels) in which every
    count agrees, with their whole order tables."""
    heads = {"quotes": 1000, "intents": 30, "fills_strategy": 40, "quotes2": 400,
             "intents2": 20, "fills_strategy2": 15, "quotes3": 300, "intents3": 10,
             "fills_strategy3": 10, "orders": 60, "fills_risk": 65}

    def position(own, orders_sent, filled):
        return {"position": own, "risk_position": own, "open_buy_qty": 0, "open_sell_qty": 0,
                "orders_sent": orders_sent, "filled_qty": filled}

    def tally(quotes, trades, reports, lots, own, sent, **extra):
        return dict(quotes=quotes, trades=trades, reports=reports, filled_qty=lots,
                    position=own, sent=sent, **extra)

    final = [{"order_id": 7, "status": STATUS_FILLED, "qty": 5, "cum_qty": 5, "leaves_qty": 0}]
    return {
        "rings": [{"name": name, "head": n, "tail": n} for name, n in heads.items()],
        "workers": [
            {"role": "feed", "counters": {"ticks": 1000}},
            {"role": "strategy", "counters": {"intents": 30, "illegal_transitions": 0}},
            {"role": "risk", "counters": {"intents_read": 60, "orders_sent": 50,
                                          "orders_out": 60}},
            {"role": "gateway", "counters": {"orders_read": 60, "reports_sent": 65,
                                             "illegal_transitions": 0}},
            {"role": "strategy2", "counters": {"intents": 20, "illegal_transitions": 0}},
            {"role": "strategy3", "counters": {"intents": 10, "illegal_transitions": 0}},
        ],
        "risk": {"rejects": {"halted": 4, "rate_limit": 6},
                 "positions": {"0": {"position": 10, "venue_net_qty": 10, "orders_sent": 30,
                                     "venue_orders": 30, "open_buy_qty": 0, "open_sell_qty": 0,
                                     "open_orders": 0, "venue_resting": 0,
                                     "strategy_position": 10},
                               "1": {"position": -5, "venue_net_qty": -5, "orders_sent": 20,
                                     "venue_orders": 20, "open_buy_qty": 0, "open_sell_qty": 0,
                                     "open_orders": 0, "venue_resting": 0,
                                     "strategy_position": -5}}},
        "strategies": {
            "tally": {"index": 0, "orders": {"open_count": 0},
                      "positions": {"0": position(4, 15, 12), "1": position(-2, 10, 8)},
                      "state": {"0": tally(450, 50, 20, 12, 4, 15),
                                "1": tally(450, 50, 20, 8, -2, 15)}},
            "orders_a": {"index": 1, "orders": {"open_count": 0},
                         "positions": {"0": position(6, 15, 9)},
                         "state": {"0": tally(360, 40, 15, 9, 6, 20, ids=[FIRST + 3, FIRST + 4, 0],
                                              filled=[2, 0, 0])}},
            "orders_b": {"index": 2, "orders": {"open_count": 0},
                         "positions": {"1": position(-3, 10, 3)},
                         "state": {"1": tally(270, 30, 10, 3, -3, 10)}},
        },
        "order_tables": {
            "tally": final,
            "orders_a": [
                {"order_id": FIRST + 3, "status": STATUS_FILLED, "qty": 2, "cum_qty": 2,
                 "leaves_qty": 0},
                {"order_id": FIRST + 4, "status": STATUS_CANCELED, "qty": 3, "cum_qty": 0,
                 "leaves_qty": 0}],
            "orders_b": [
                {"order_id": SECOND + 1, "status": STATUS_CANCELED, "qty": 3, "cum_qty": 1,
                 "leaves_qty": 0}],
        },
    }


def test_reconcile_when_three_strategies_agree_then_every_check_passes_for_each():
    rows = reconcile(three_strategies_view())
    assert rows and not failing(rows)
    checks = [row["check"] for row in rows]
    for name in ("tally", "orders_a", "orders_b"):
        assert f"{name}: illegal transitions in its order table" in checks
        assert f"{name}: order table rows not final" in checks
    assert "orders_a 0: risk's open_buy_qty for it after the drain" in checks
    assert "orders_a: orders it follows, cum_qty = the lots its fills brought" in checks
    assert "orders_b state: requests it sent = intents3 published" in checks


def _strategy(view, name):
    return view["strategies"][name]


@pytest.mark.parametrize("plant, expected", [
    # issue #18: a replace's lots released on the other side than risk counted them
    (lambda v: _strategy(v, "orders_a")["positions"]["0"].update(open_buy_qty=-3),
     "orders_a 0: risk's open_buy_qty for it after the drain"),
    (lambda v: v["workers"][4]["counters"].update(illegal_transitions=47),
     "orders_a: illegal transitions in its order table"),
    (lambda v: _strategy(v, "orders_b").update(orders={"open_count": 1}),
     "orders_b: orders not final after the drain"),
    (lambda v: v["order_tables"]["orders_b"][0].update(status=STATUS_NEW, leaves_qty=2),
     "orders_b: order table rows not final"),
    (lambda v: v["order_tables"]["orders_b"][0].update(leaves_qty=2),
     "orders_b: final rows with lots left"),
    (lambda v: v["order_tables"]["orders_a"][0].update(cum_qty=1),
     "orders_a: rows filled past their qty, or FILLED short of it"),
    (lambda v: v["order_tables"]["orders_a"][1].update(order_id=SECOND + 4),
     "orders_a: rows whose id names another strategy"),
    (lambda v: _strategy(v, "orders_a")["state"]["0"]["filled"].__setitem__(0, 3),
     "orders_a: orders it follows, cum_qty = the lots its fills brought"),
    (lambda v: _strategy(v, "orders_b")["positions"]["1"].update(risk_position=-1),
     "orders_b 1: position from its reports = risk's for it"),
    (lambda v: _strategy(v, "orders_b")["positions"]["1"].update(risk_position=-1),
     "symbol 1: risk's positions per strategy add up"),
    (lambda v: _strategy(v, "orders_b")["state"]["1"].update(sent=11),
     "orders_b state: requests it sent = intents3 published"),
    (lambda v: _strategy(v, "orders_a")["state"]["0"].update(reports=14),
     "orders_a state: reports seen = fills_strategy2 published"),
    (lambda v: v["rings"][5].update(head=14, tail=14),
     "gateway: reports counted = fills_strategy + fills_strategy2 + fills_strategy3 published"),
    (lambda v: v["rings"][4].update(tail=19), "risk: intents read = intents consumed"),
    (lambda v: v["risk"]["positions"]["1"].update(venue_resting=2),
     "symbol 1: orders resting at the venue after the drain"),
    (lambda v: v["workers"][3]["counters"].update(illegal_transitions=1),
     "gateway: illegal transitions in the venue's book"),
])
def test_reconcile_when_one_strategy_is_off_then_that_strategys_check_fails(plant, expected):
    view = copy.deepcopy(three_strategies_view())
    plant(view)
    rows = reconcile(view)
    assert expected in failing(rows)
    row = next(r for r in rows if r["check"] == expected)
    assert row["expected"] != row["got"]


@pytest.mark.long  # 129 s of one xdist worker, the main set's longest test (docs/testing.md)
def test_bench_chaos_without_kills_when_run_then_the_stop_and_supervisor_phases_reconcile():
    # The SIGSTOP of a consumer, both supervisor signals and every reconciliation, at
    # --smoke; the random SIGKILLs of workers are left out (they are the bench's own
    # subject: tests/test_long_scenarios.py).
    result = CliRunner().invoke(tickpipe, ["bench", "chaos", "--smoke", "--kills", "0",
                                           "--seed", "7", "--json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert report["differences"] == 0, [r for r in report["results"] if not r["ok"]]
    assert result.exit_code == 0
    checks = [row["check"] for row in report["results"]]
    assert "SIGSTOP strategy: no healthy worker restarted for it" in checks
    assert "SIGKILL supervisor: no worker outlives it" in checks
    assert any(check.startswith("flat out: symbol") for check in checks)
    for name in ("tally", "orders_a", "orders_b"):   # three strategies, each checked
        assert f"flat out: {name}: illegal transitions in its order table" in checks
        assert f"flat out: {name}: order table rows not final" in checks
    assert "flat out: orders_b: orders it follows, cum_qty = the lots its fills brought" in checks


def money_view() -> dict:
    """The consistent view with the engine's and one strategy's money: buy 10 @ 100,
    sell 5 @ 103 (realised 15, basis 500 left) for symbol 0, marked at 102."""
    view = consistent_view()
    view["risk"]["positions"]["0"].update(
        cash=-1000 + 515, cost_basis=500, realised_pnl=15, venue_cash=-485, fees=3,
        net_pnl=15 + 5 * 102 - 500 - 3)
    view["strategies"] = {"strategy": {"state": {}, "positions": {"0": {
        "cash": -485, "cost_basis": 500, "realised_pnl": 15, "fees": 3,
        "net_pnl": 15 + 5 * 102 - 500 - 3}}}}
    return view


def test_money_rows_when_the_books_are_exact_then_every_money_check_passes():
    rows = money_rows(money_view())
    assert len(rows) == 5 and not failing(rows)


@pytest.mark.parametrize("plant, expected", [
    (lambda v: v["risk"]["positions"]["0"].update(realised_pnl=16),
     "engine 0: realised = cash + cost basis"),
    (lambda v: v["risk"]["positions"]["0"].update(venue_cash=-484),
     "engine 0: cash at risk = at the venue"),
    (lambda v: v["strategies"]["strategy"]["positions"]["0"].update(net_pnl=21),
     "engine 0: net P&L = the strategies' summed"),
    (lambda v: v["strategies"]["strategy"]["positions"]["0"].update(cash=-486),
     "strategy 0: realised = its own cash + cost basis"),
])
def test_money_rows_when_a_unit_is_off_then_its_check_fails(plant, expected):
    view = money_view()
    plant(view)
    assert failing(money_rows(view)) == [expected]
