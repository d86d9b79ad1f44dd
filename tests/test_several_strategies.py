"""Several strategies in one engine: a process and three rings each, risk reading every
intents ring, order ids that carry the strategy, positions and limits per strategy.

One real engine (two strategies: the built-in mean reversion on every symbol, under
a limit of its own, and a user's plug-in by path on three symbols), stopped and kept for the
post-mortem; every check reads the inspector's view of it, as `tickpipe inspect
--json` shows it.
"""

import os
import shutil
import textwrap

import pytest

from tickpipe.engine.snapshot import Inspector
from tickpipe.engine.segment import unlink_segment
from engine_runs import EngineProcess, unique_name

pytestmark = pytest.mark.slow

TALLY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                     "chaos_strategy.py")
CONFIG = """
[engine]
rate = 20000
[risk]
max_position = 100000
[[strategy]]
name = "mr"
module = "tickpipe.workers.strategies.mean_reversion"
params = { entry_z = 1.0 }
max_position = 20
[[strategy]]
name = "tally"
path = "chaos_strategy.py"
symbols = ["SYM1", "SYM3", "SYM5"]
params = { every = 4, order_qty = 5 }
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    directory = tmp_path_factory.mktemp("several")
    shutil.copy(TALLY, directory)
    (directory / "two.toml").write_text(textwrap.dedent(CONFIG))
    name = unique_name("several")
    engine = EngineProcess(name, "--seconds", "2", "--keep",
                           config_file=os.fspath(directory / "two.toml"))
    try:
        report = engine.result(timeout=240)
        inspector = Inspector.attach(name)
        data = inspector.snapshot().data
        inspector.close()
    finally:
        engine.kill()
        unlink_segment(name)
    return report, data


def test_run_when_two_strategies_then_each_is_a_worker_of_its_own(finished):
    report, data = finished
    assert report["state"] == "stopped" and report["lost"] == 0
    workers = {w["role"] for w in data["workers"]}
    assert {"feed", "strategy", "strategy2", "risk", "gateway"} <= workers
    assert set(data["strategies"]) == {"mr", "tally"}


def test_feed_when_a_strategy_trades_some_symbols_then_its_ring_carries_only_those(finished):
    _, data = finished
    rings = {ring["name"]: ring for ring in data["rings"]}
    tally = data["strategies"]["tally"]["state"]
    assert set(tally) == {"SYM1", "SYM3", "SYM5"}
    seen = sum(s["quotes"] + s["trades"] for s in tally.values())
    assert seen == rings["quotes2"]["head"] > 0
    assert rings["quotes2"]["head"] < rings["quotes"]["head"]  # the first gets all 8 symbols


def test_risk_when_two_strategies_send_then_both_are_read_and_orders_add_up(finished):
    _, data = finished
    rings = {ring["name"]: ring for ring in data["rings"]}
    per_strategy = {name: sum(p["orders_sent"] for p in s["positions"].values())
                    for name, s in data["strategies"].items()}
    assert per_strategy["mr"] > 0 and per_strategy["tally"] > 0
    # every request is a record on the orders ring: the orders sent and risk's denials
    # (both strategies send new IOC orders only)
    assert sum(per_strategy.values()) + sum(data["risk"]["rejects"].values()) == \
        rings["orders"]["head"]
    for ring in ("intents", "intents2"):
        assert rings[ring]["tail"] == rings[ring]["head"]


def test_gateway_when_orders_carry_their_strategy_then_each_gets_only_its_reports(finished):
    _, data = finished
    rings = {ring["name"]: ring for ring in data["rings"]}
    tally = data["strategies"]["tally"]
    assert sum(s["reports"] for s in tally["state"].values()) == rings["fills_strategy2"]["head"]
    assert rings["fills_strategy"]["head"] + rings["fills_strategy2"]["head"] == \
        rings["fills_risk"]["head"]
    for symbol, s in tally["state"].items():
        assert s["position"] == tally["positions"][symbol]["position"] == \
            tally["positions"][symbol]["risk_position"], symbol


def test_positions_when_two_strategies_trade_a_symbol_then_theirs_add_up_to_the_engines(
        finished):
    _, data = finished
    engine = data["risk"]["positions"]
    for symbol, row in engine.items():
        held = sum(s["positions"][symbol]["risk_position"]
                   for s in data["strategies"].values() if symbol in s["positions"])
        assert held == row["position"] == row["venue_net_qty"], symbol


def test_risk_when_a_strategy_reaches_its_own_limit_then_it_is_rejected_for_it(finished):
    report, data = finished
    assert report["rejected"]["strategy_position_limit"] > 0
    for symbol, p in data["strategies"]["mr"]["positions"].items():
        assert abs(p["risk_position"]) <= 20, symbol  # worst case checked: never past it


def test_report_when_two_strategies_then_each_has_its_positions_and_pnl(finished):
    report, data = finished
    for name, entry in report["strategies"].items():
        inspected = data["strategies"][name]["positions"]
        assert set(entry["positions"]) == set(inspected), name
        assert sum(p["orders_sent"] for p in entry["positions"].values()) == \
            sum(p["orders_sent"] for p in inspected.values()), name
        assert set(entry["realised_pnl_ccy"]) <= {"USD"}
