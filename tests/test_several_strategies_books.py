"""Several strategies' books stay exact (issue #18, item 5).

Three strategies of a user's own (tests/strategies/: an IOC taker, a quoter that
replaces its resting order across the market and cancels it, and a mixed one
with long-lived resting orders beside IOCs, replaces and cancels) trade three
instruments flat out; once with no kill, once while every worker is SIGKILLed in
turn. After the drain, per strategy: nothing open at risk (open quantities) or in
its order table, no illegal move of an order, and its position the same in its
own state, in its order reports and at risk; per symbol, risk's and the venue's.
Each run is stopped on what it waits for (the venue's reports, each strategy's
requests, a worker back, an answer), never after a fixed time.

Found by users: strategy 1's and 2's cancels and replaces looked their order up
in the strategy's table by an int64 id against the table's uint64 ids, which numba
compares through float64: with the strategy's index in the top byte, ids of every
strategy but the first were above 2**53, those differing in their low bits matched,
and the request went out with a neighbouring order's side and symbol
(engine/strategy_api.py _order_row). And a replace of an order the strategy's table
had forgotten went out as a BUY of the event's symbol, while the venue released its
lots on the order's own side (workers/gateway/agent.py execute).
"""

import os
import signal
import time

import pytest

from engine_runs import EngineProcess, unique_name
from tickpipe.engine.report import ring_positions
from tickpipe.engine.segment import SegmentError, unlink_segment
from tickpipe.engine.snapshot import Inspector
from tickpipe.engine.strategy_api import REASON_UNKNOWN_ORDER
from tickpipe.shm_layouts.fill import EXEC_REJECTED
from tickpipe.shm_layouts.worker_table import WORKER_RUNNING

pytestmark = pytest.mark.slow

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "strategies")
STRATEGIES = ("taker", "mixed", "rester")
CONFIG = """
[engine]
ready_timeout_s = 600       # three strategies compiling on a cold cache, two cores
max_restarts = 20
restart_window_s = 3600.0
# a starved worker is not a dead one; a drain under a concurrent suite can take a while
heartbeat_timeout_s = 600.0
drain_timeout_s = 600
[risk]
max_position = 100000
max_open_orders = 100000
max_orders_per_s = 10000000
max_notional = 1e12
""" + "".join(f'[[instrument]]\nname = "{name}"\ntick_size = 100\n' for name in ("AAA", "BBB", "CCC")) \
    + "".join(f'[[strategy]]\nname = "{name}"\npath = "{os.path.join(HERE, name + ".py")}"\n'
              for name in STRATEGIES)
# The deadlines only bound a hang: every wait ends on what it waits for.
START_S = 900               # a cold start compiles three strategies' runners
STOP_S = 180
RESTART_S = 300             # a restarted worker loads from the cache, on a loaded machine
TRAFFIC = 5000              # reports between two kills (a fraction of a second flat out)
REQUESTS = 50               # more than this from each strategy: each has traded


def _write_config(directory) -> str:
    path = directory / "three.toml"
    path.write_text(CONFIG)
    return os.fspath(path)


def _snapshot(name: str) -> dict:
    inspector = Inspector.attach(name)
    try:
        return inspector.snapshot().data
    finally:
        inspector.close()


def _wait(condition, what: str, timeout: float, engine: EngineProcess | None = None):
    """Poll `condition` until it holds (returns what it returned); an engine that exits
    first fails the wait at once, with its stderr."""
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if engine is not None and engine.proc.poll() is not None:
            raise AssertionError(f"{what}: the engine exited first: {engine.proc.stderr.read()}")
        assert time.monotonic() < deadline, f"{what} in {timeout} s"
        time.sleep(0.05)


def _running(inspector: Inspector, pid_not=None, role=None):
    """The workers by role when every one is alive and running (and `role` has a pid
    other than `pid_not`), else None."""
    rows = inspector.worker_rows  # a cheap look first: a snapshot takes CPU from the engine
    if any(int(row["state"]) != WORKER_RUNNING for row in rows.values()) or \
            (role is not None and int(rows[role]["pid"]) == pid_not):
        return None
    data = inspector.snapshot().data
    workers = {w["role"]: w for w in data["workers"]}
    if data["engine"]["state"] != "running" or not all(
            w["alive"] and w["state"] == "running" for w in workers.values()):
        return None
    if role is not None and workers[role]["pid"] == pid_not:
        return None
    return workers


# Traffic is read from the rings' heads alone: a whole snapshot polled would take CPU
# from the engine on a two-core machine.
def _reports(inspector: Inspector) -> int:
    return ring_positions(inspector.segment)["fills_risk"][0]


def _traded(inspector: Inspector, reports: int) -> bool:
    """The venue has answered `reports` requests and every strategy has sent more than
    REQUESTS."""
    heads = {section: head for section, (head, _tail) in
             ring_positions(inspector.segment).items()}
    requests = [heads[section] for section in heads if section.startswith("intents")]
    return heads["fills_risk"] > reports and len(requests) == len(STRATEGIES) and \
        all(n > REQUESTS for n in requests)


def _stop_when(engine: EngineProcess, name: str, condition, what: str) -> tuple[dict, dict]:
    """Wait for the running engine `name` until `condition(inspector)`, stop it (SIGTERM:
    the drain) and return its report and the kept segment's inspector view."""
    engine.wait_running(timeout=START_S).close()
    inspector = _wait(lambda: _attached(name), "no inspector", 30)
    try:
        _wait(lambda: condition(inspector), what, RESTART_S, engine)
    finally:
        inspector.close()
    report = engine.stop(timeout=STOP_S)
    return report, _snapshot(name)


@pytest.fixture(scope="module")
def flat_out(tmp_path_factory):
    """One run flat out, no kill, stopped once it has carried as much traffic as the killed
    run after its kills and every strategy has traded; the kept segment's inspector view."""
    config = _write_config(tmp_path_factory.mktemp("books"))
    name = unique_name("books")
    engine = EngineProcess(name, "--rate", "0", "--seconds", "0", "--keep", config_file=config)
    try:
        report, data = _stop_when(engine, name, lambda inspector: _traded(inspector, 4 * TRAFFIC),
                                  "not every strategy traded flat out")
    finally:
        engine.kill()
        unlink_segment(name)
    return report, data


@pytest.fixture(scope="module")
def killed_in_turn(tmp_path_factory):
    """One run flat out in which every worker is SIGKILLed in turn, each once traffic
    has flowed since the last restart; stopped once the last is back and trading."""
    config = _write_config(tmp_path_factory.mktemp("bookskill"))
    name = unique_name("bookskill")
    engine = EngineProcess(name, "--rate", "0", "--seconds", "0", "--keep", config_file=config)
    try:
        engine.wait_running(timeout=START_S).close()
        inspector = _wait(lambda: _attached(name), "no inspector", 30)
        try:
            workers = _wait(lambda: _running(inspector), "workers not running", START_S,
                            engine)
            killed = []
            for role in list(workers):
                before = _reports(inspector)
                _wait(lambda: _reports(inspector) > before + TRAFFIC, f"no traffic before {role}",
                      RESTART_S, engine)
                pid = workers[role]["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(role)
                workers = _wait(lambda: _running(inspector, pid, role),
                                f"{role} not restarted", RESTART_S, engine)
            before = _reports(inspector)
            _wait(lambda: _traded(inspector, before + 4 * TRAFFIC), "no traffic after the kills",
                  RESTART_S, engine)
        finally:
            inspector.close()
        report = engine.stop(timeout=STOP_S)
        data = _snapshot(name)
    finally:
        engine.kill()
        unlink_segment(name)
    return report, data, killed


def _attached(name: str):
    try:
        return Inspector.attach(name)
    except SegmentError:
        return None


def book_differences(data: dict) -> list[str]:
    """Every way the stopped engine's books disagree, one line each (empty: exact)."""
    wrong = []
    counters = {w["role"]: w["counters"] for w in data["workers"]}
    if counters["gateway"].get("illegal_transitions", 0):
        wrong.append(f"gateway: {counters['gateway']['illegal_transitions']} illegal transitions")
    held = {}
    for name, strategy in data["strategies"].items():
        k = strategy["index"]
        role = "strategy" if k == 0 else f"strategy{k + 1}"
        illegal = counters[role].get("illegal_transitions", 0)
        if illegal:
            wrong.append(f"{name}: {illegal} illegal transitions in its order table")
        if strategy["orders"]["open_count"]:
            wrong.append(f"{name}: {strategy['orders']['open_count']} orders not final")
        for symbol, p in strategy["positions"].items():
            for side in ("open_buy_qty", "open_sell_qty"):
                if p[side]:
                    wrong.append(f"{name} {symbol}: risk's {side} {p[side]} after the drain")
            own = strategy["state"][symbol]["position"]   # its on_fill's count
            if not own == p["position"] == p["risk_position"]:
                wrong.append(f"{name} {symbol}: position in its state {own}, from its reports "
                             f"{p['position']}, at risk {p['risk_position']}")
            held[symbol] = held.get(symbol, 0) + p["risk_position"]
    for symbol, p in data["risk"]["positions"].items():
        for field in ("open_buy_qty", "open_sell_qty", "open_orders", "venue_resting"):
            if p[field]:
                wrong.append(f"{symbol}: {field} {p[field]} after the drain")
        if not p["position"] == p["venue_net_qty"] == held.get(symbol, 0):
            wrong.append(f"{symbol}: position at risk {p['position']}, at the venue "
                         f"{p['venue_net_qty']}, the strategies' sum {held.get(symbol, 0)}")
    return wrong


def assert_exact(data: dict) -> None:
    wrong = book_differences(data)
    assert not wrong, f"{len(wrong)} differences:\n" + "\n".join(wrong)


def _requests(data: dict) -> dict:
    rings = {r["name"]: r["head"] for r in data["rings"]}
    return {name: rings["intents" if s["index"] == 0 else f"intents{s['index'] + 1}"]
            for name, s in data["strategies"].items()}


def test_three_strategies_when_run_flat_out_then_every_book_is_exact(flat_out):
    report, data = flat_out
    assert report["state"] == "stopped" and report["lost"] == 0, report["notes"]
    assert_exact(data)
    assert all(n > REQUESTS for n in _requests(data).values()), _requests(data)


def test_three_strategies_when_each_worker_is_killed_in_turn_then_every_book_is_exact(
        killed_in_turn):
    report, data, killed = killed_in_turn
    assert report["state"] == "stopped" and report["lost"] == 0, report["notes"]
    assert sorted(killed) == sorted(w["role"] for w in data["workers"])
    assert all(w["restarts"] >= 1 for w in data["workers"]), \
        {w["role"]: w["restarts"] for w in data["workers"]}
    assert_exact(data)
    assert all(n > REQUESTS for n in _requests(data).values()), _requests(data)


FORGETFUL = f"""
[engine]
rate = 20000
ready_timeout_s = 600
heartbeat_timeout_s = 600.0
drain_timeout_s = 600
[[instrument]]
name = "AAA"
tick_size = 100
[[strategy]]
name = "forgetful"
path = "{os.path.join(HERE, 'forgetful.py')}"
"""


def test_replace_when_the_strategy_has_forgotten_the_order_then_risk_gets_back_what_it_counted(
        tmp_path):
    # The strategy's table lost the order (its row went to a newer one), so the replace
    # goes out as a BUY; risk adds its qty there. The venue still has the order, a sell:
    # it must answer for the request (unknown_order on BUY), not release on the sell side.
    (tmp_path / "forgetful.toml").write_text(FORGETFUL)
    name = unique_name("forgetful")
    engine = EngineProcess(name, "--seconds", "0", "--keep",
                           config_file=os.fspath(tmp_path / "forgetful.toml"))
    try:
        # stopped once the replace has its answer (its state's step 3, then the report)
        report, data = _stop_when(engine, name, _replace_answered,
                                  "the replace of the forgotten order got no answer")
    finally:
        engine.kill()
        unlink_segment(name)
    assert report["state"] == "stopped", report["notes"]
    state = data["strategies"]["forgetful"]["state"]["AAA"]
    assert state["step"] == 3, state      # it replaced the order it had forgotten
    assert_exact(data)
    assert (state["answer"], state["reason"]) == (EXEC_REJECTED, REASON_UNKNOWN_ORDER)


def _replace_answered(inspector: Inspector) -> bool:
    state = inspector.snapshot().data["strategies"]["forgetful"]["state"]["AAA"]
    return state["step"] == 3 and state["answer"] != 0
