"""`tickpipe bench chaos`: kill workers under load, then reconcile every count.

The restart promise is that a killed worker is restarted and resumes with
nothing lost and nothing done twice. This bench tries it from the outside, as
an operator's bad day would, on an engine running three strategies of a user's
own (loaded by path): bench/chaos_strategy.py (IOCs, on every symbol) and, twice
with other params on overlapping symbols, bench/chaos_orders.py (resting orders,
IOCs, replaces behind and across the market, cancels), so every request and
report path, and every strategy index, is under the kills:

1. SIGKILL random workers (any strategy's among them) `kills` times, half at the
   default rate and half flat out, each after a random stretch of load, waiting
   for the supervisor to bring the worker back;
2. SIGSTOP the strategy past its heartbeat timeout: the supervisor must kill and
   restart it, and nothing else (its producer, the feed, waits on a full ring);
3. stop the engine with SIGTERM and reconcile everything the kept segment says
   (read through the inspector, the same view as `tickpipe inspect --json`);
4. SIGKILL a supervisor: none of its workers may outlive it; a new run of the
   same name must take the segment back, and a SIGTERM must stop it cleanly.

Every check is a row (expected, got); the bench exits non-zero on any
difference. The checks come in groups, a function each (CHECK_GROUPS: rings,
pipeline counts, books per symbol, books per strategy, order tables, money, each
strategy's own counts); a new group is one more function there. Nothing here
reads a segment's bytes itself: the inspector's view, or to poll cheaply while the
engine warms up or recovers on the same cores, the inspector's worker rows.
"""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import psutil

from tickpipe.engine.procinfo import is_alive
from tickpipe.engine.segment import SegmentError, unlink_segment
from tickpipe.engine.segment_catalog import FINAL_STATUSES, order_table_rows
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.open_order import STATUS_FILLED, STATUS_NONE
from tickpipe.shm_layouts.strategy_position import ORDER_ID_STRATEGY_SHIFT
from tickpipe.shm_layouts.worker_table import WORKER_RUNNING

START_TIMEOUT_S = 300       # compile on a cold cache (three strategies), start barrier
RESTART_TIMEOUT_S = 30      # a killed worker back and running
STOP_TIMEOUT_S = 60         # drain and exit
# For the SIGSTOP phase: a stopped worker counts as dead after this. Short, so the phase
# is; 2 s, not 1: the healthy workers beside it must not miss it on a loaded machine.
HEARTBEAT_TIMEOUT_S = 2.0
WORKER_MODULE = "tickpipe.engine.worker_main"
POLL_S = 0.02               # between two looks at the workers' rows
LOAD_STRETCH_S = (0.05, 0.4)  # load before a kill: a random time in this range
# --smoke (tests): the smallest run that exercises every path: every phase and check,
# one kill in each load phase (unless --kills says otherwise), each after the shortest
# stretch of load; the figures mean nothing.
SMOKE_KILLS = 2


class ChaosError(Exception):
    """The bench itself could not run (an engine that never started); str() says why."""


TALLY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chaos_strategy.py")
ORDERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chaos_orders.py")
# (name, params, symbols) of strategies 1 and 2 (tally, strategy 0, has every symbol)
ORDER_STRATEGIES = (("orders_a", "{ every = 4, order_qty = 2 }", ["SYM0", "SYM1", "SYM2"]),
                    ("orders_b", "{ every = 3, order_qty = 3 }", ["SYM1", "SYM2", "SYM3"]))


def _config_text(kills: int) -> str:
    # Room for every kill and the SIGSTOP in the restart-intensity limit, so the
    # policy under test is restart-one, not the limit. The strategies are a user's
    # plug-ins, loaded by path, whose state counts what they were given (reconcile);
    # risk's rate limit is left loose enough for them to keep orders flowing.
    text = (f"[engine]\nmax_restarts = {kills + 10}\nrestart_window_s = 3600.0\n"
            f"heartbeat_timeout_s = {HEARTBEAT_TIMEOUT_S}\nready_timeout_s = {START_TIMEOUT_S}\n\n"
            f"[risk]\nmax_orders_per_s = 1000000\n\n"
            f"[[strategy]]\nname = \"tally\"\npath = \"{TALLY}\"\n")
    for name, params, symbols in ORDER_STRATEGIES:
        text += (f"\n[[strategy]]\nname = \"{name}\"\npath = \"{ORDERS}\"\n"
                 f"params = {params}\nsymbols = {symbols!r}\n".replace("'", '"'))
    return text


class EngineRun:
    """`tickpipe run` as a child process, the segment kept for the post-mortem."""

    def __init__(self, name: str, config_path: str, rate: int | None, keep: bool = True):
        self.name = name
        argv = [sys.executable, "-m", "tickpipe.cli", "run", config_path, "--seconds", "0",
                "--json", "--name", name]
        if rate is not None:
            argv += ["--rate", str(rate)]
        if keep:
            argv.append("--keep")
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.inspector: Inspector | None = None

    def wait_running(self) -> Inspector:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise ChaosError(f"engine {self.name} exited {self.proc.returncode} at start: "
                                 f"{self.last_error()}")
            if time.monotonic() > deadline:
                raise ChaosError(f"engine {self.name} not running after {START_TIMEOUT_S} s")
            try:
                self.inspector = self.inspector or Inspector.attach(self.name)
                data = self.inspector.snapshot().data
                if data["engine"]["owner"]["pid"] != self.proc.pid:
                    # a dead engine's segment of the same name, not yet taken back
                    self.inspector.close()
                    self.inspector = None
                elif data["engine"]["state"] == "running" and all(
                        w["alive"] and w["state"] == "running" for w in data["workers"]):
                    return self.inspector
            except SegmentError:
                pass
            time.sleep(0.05)  # a snapshot costs milliseconds of CPU, taken from the start

    def workers(self) -> dict:
        return {w["role"]: w for w in self.inspector.snapshot().data["workers"]}

    def rows(self) -> dict:
        """{role: {"pid", "alive", "running", "restarts", "heartbeat_ns"}} from the
        inspector's worker rows as they are now: microseconds, where a snapshot
        (workers()) costs milliseconds of CPU, taken from the engine polled."""
        rows = {}
        for role, row in self.inspector.worker_rows.items():
            pid = int(row["pid"])
            rows[role] = {"pid": pid, "alive": is_alive(pid, int(row["start_ticks"])),
                          "running": int(row["state"]) == WORKER_RUNNING,
                          "restarts": int(row["restarts"]),
                          "heartbeat_ns": int(row["heartbeat_ns"])}
        return rows

    def stop(self) -> tuple[int, dict | None]:
        """SIGTERM, wait; (exit code, the JSON report or None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        try:
            return self.proc.returncode, json.loads(out)
        except ValueError:
            return self.proc.returncode, None

    def last_error(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().strip().splitlines()
        return lines[-1] if lines else "no message"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.inspector is not None:
            self.inspector.close()
            self.inspector = None
        self.stderr.close()
        unlink_segment(self.name)


def worker_processes(name: str) -> list[psutil.Process]:
    """Live worker processes of engine `name`, whoever their parent is now."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if WORKER_MODULE in cmdline and name in cmdline and proc.info["status"] != "zombie":
            found.append(proc)
    return found


def _wait_restarted(run: EngineRun, role: str, old_pid: int) -> bool:
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        worker = run.rows()[role]
        if worker["pid"] != old_pid and worker["alive"] and worker["running"]:
            return True
        time.sleep(POLL_S)
    return False


def _wait_others_beat(run: EngineRun, role: str, since_ns: int) -> bool:
    """Until every worker but `role` is alive and has stamped its heartbeat after
    `since_ns` (time.monotonic_ns(): the clock of the stamps); False after
    RESTART_TIMEOUT_S."""
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(w["alive"] and w["heartbeat_ns"] > since_ns
               for r, w in run.rows().items() if r != role):
            return True
        time.sleep(POLL_S)
    return False


def kill_workers(run: EngineRun, kills: int, rng: random.Random, progress,
                 smoke: bool = False) -> dict:
    """SIGKILL `kills` random workers, one at a time; {"killed": n, "hung": [roles]}.
    smoke: each after the shortest stretch of load instead of a random one."""
    hung = []
    for k in range(kills):
        stretch = rng.uniform(*LOAD_STRETCH_S)  # drawn either way: a seed picks the same roles
        time.sleep(LOAD_STRETCH_S[0] if smoke else stretch)  # load builds up: kill mid-batch
        role = rng.choice(sorted(run.workers()))   # every strategy's worker among them
        worker = run.workers()[role]
        pid = worker["pid"]
        progress(f"kill {k + 1}/{kills}: {worker.get('name') or role} (pid {pid})")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if not _wait_restarted(run, role, pid):
            hung.append(role)
            break
    return {"killed": kills, "hung": hung}


def stop_one_past_its_heartbeat(run: EngineRun, role: str = "strategy") -> dict:
    """SIGSTOP `role` past the heartbeat timeout; which workers were restarted for it.

    Once it is back (or given up on), the others had their chance to be (wrongly)
    killed when every one of them has stamped its heartbeat since: whatever the stop
    held up (its producer waits on a full ring) has moved on, and a worker the
    supervisor judged dead meanwhile was killed then, its restart counted (or shows
    as a new pid, or a dead one)."""
    rows = run.rows()
    before = {r: (w["restarts"], w["pid"]) for r, w in rows.items()}
    pid = rows[role]["pid"]
    os.kill(pid, signal.SIGSTOP)
    restarted = _wait_restarted(run, role, pid)
    if not restarted:
        os.kill(pid, signal.SIGCONT)
    _wait_others_beat(run, role, time.monotonic_ns())
    after = {r: ((w["restarts"], w["pid"]) if w["alive"] else None)
             for r, w in run.rows().items()}
    return {"stopped": role, "restarted": restarted,
            "others_restarted": sorted(r for r in after if r != role and after[r] != before[r])}


def _row(check: str, expected, got) -> dict:
    return {"check": check, "expected": expected, "got": got, "ok": expected == got}


# ---- the reconciliation: groups of checks over a stopped engine's inspector view ------
# Each group is a function of the view (`tickpipe inspect --json`'s data, plus
# "order_tables" when the bench read them: order_tables()) returning its rows
# (_row: check, expected, got, ok). Add a group by appending it to CHECK_GROUPS.

def _suffix(k: int) -> str:
    """Strategy k's rings and worker are named strategy, intents, ... (k = 0) or
    strategy2, intents2, ... (k = 1), as engine/engine_layout.py names them."""
    return "" if k == 0 else str(k + 1)


def _strategies(data: dict) -> list[tuple[str, int]]:
    """(name, index) of every strategy; a view without its strategies section has one."""
    strategies = data.get("strategies")
    if not strategies:
        return [("strategy", 0)]
    return sorted(((name, s["index"]) for name, s in strategies.items()), key=lambda p: p[1])


def ring_rows(data: dict) -> list[dict]:
    """Every ring drained: each record consumed."""
    return [_row(f"{ring['name']}: every record consumed (tail = head)", ring["head"],
                 ring["tail"]) for ring in data["rings"]]


def pipeline_rows(data: dict) -> list[dict]:
    """Counts along the pipeline: each stage's counters against its rings' positions."""
    rings = {ring["name"]: ring for ring in data["rings"]}
    counters = {w["role"]: w["counters"] for w in data["workers"]}
    risk = data["risk"]
    strategies = _strategies(data)
    requests = sum(rings[f"intents{_suffix(k)}"]["head"] for _, k in strategies)
    rows = [_row("feed: ticks counted = quotes published", rings["quotes"]["head"],
                 counters["feed"]["ticks"])]
    for _, k in strategies:
        rows.append(_row(f"strategy{_suffix(k)}: intents counted = intents published",
                         rings[f"intents{_suffix(k)}"]["head"],
                         counters[f"strategy{_suffix(k)}"]["intents"]))
    rows += [
        _row("risk: intents read = intents consumed",
             sum(rings[f"intents{_suffix(k)}"]["tail"] for _, k in strategies),
             counters["risk"]["intents_read"]),
        # every request becomes one record on the orders ring: sent, or denied with its reason
        _row("risk: requests = orders ring records", requests, rings["orders"]["head"]),
        _row("risk: records counted = records published", rings["orders"]["head"],
             counters["risk"]["orders_out"]),
        _row("risk: requests = orders sent + rejects", requests,
             counters["risk"]["orders_sent"] + sum(risk["rejects"].values())),
        _row("gateway: orders executed = orders consumed", rings["orders"]["tail"],
             counters["gateway"]["orders_read"]),
        _row("gateway: reports counted = fills_risk published", rings["fills_risk"]["head"],
             counters["gateway"]["reports_sent"]),
        # each report also went to its order's strategy (none is retired in the bench)
        _row("gateway: reports counted = " + " + ".join(
            f"fills_strategy{_suffix(k)}" for _, k in strategies) + " published",
            sum(rings[f"fills_strategy{_suffix(k)}"]["head"] for _, k in strategies),
            counters["gateway"]["reports_sent"]),
    ]
    if "illegal_transitions" in counters["gateway"]:
        rows.append(_row("gateway: illegal transitions in the venue's book", 0,
                         counters["gateway"]["illegal_transitions"]))
    positions = risk["positions"]
    if all("venue_orders" in p for p in positions.values()):
        # every request risk passed (new, cancel, replace) reached the venue once
        rows.append(_row("venue: orders per symbol add up", counters["risk"]["orders_sent"],
                         sum(p["venue_orders"] for p in positions.values())))
    if data.get("strategies"):
        rows.append(_row("risk: new orders per symbol = the strategies' new orders",
                         sum(p["orders_sent"] for p in positions.values()),
                         sum(p["orders_sent"] for s in data["strategies"].values()
                             for p in s["positions"].values())))
    return rows


def symbol_rows(data: dict) -> list[dict]:
    """Per symbol, the engine's books after the drain: nothing open, risk's position the
    venue's, the strategies' own and the sum of risk's per-strategy positions."""
    rows = []
    positions = data["risk"]["positions"]
    held: dict = {}
    for s in (data.get("strategies") or {}).values():
        for symbol, p in s["positions"].items():
            held[symbol] = held.get(symbol, 0) + p["risk_position"]
    for symbol, p in positions.items():
        if "open_orders" in p:
            rows.append(_row(f"symbol {symbol}: open orders after the drain", 0, p["open_orders"]))
        if "venue_resting" in p:
            rows.append(_row(f"symbol {symbol}: orders resting at the venue after the drain", 0,
                             p["venue_resting"]))
        if "venue_net_qty" in p:
            rows.append(_row(f"symbol {symbol}: risk position = venue position",
                             p["venue_net_qty"], p["position"]))
        if "strategy_position" in p:
            rows.append(_row(f"symbol {symbol}: strategy position = venue position",
                             p["venue_net_qty"], p["strategy_position"]))
        if data.get("strategies"):
            rows.append(_row(f"symbol {symbol}: risk's positions per strategy add up",
                             p["position"], held.get(symbol, 0)))
        for side in ("open_buy_qty", "open_sell_qty"):
            if side in p:
                rows.append(_row(f"symbol {symbol}: {side} after the drain", 0, p[side]))
    return rows


def strategy_book_rows(data: dict) -> list[dict]:
    """Per strategy: no illegal move in its order table, every order of it final, risk's
    open quantities for it back to zero, its position the same from its reports and at
    risk (issue #18: a report that released lots on a side or symbol other than the
    request's left them here)."""
    rows = []
    counters = {w["role"]: w["counters"] for w in data["workers"]}
    for name, k in _strategies(data):
        s = data.get("strategies", {}).get(name)
        if s is None:
            continue
        rows.append(_row(f"{name}: illegal transitions in its order table", 0,
                         counters[f"strategy{_suffix(k)}"].get("illegal_transitions", 0)))
        rows.append(_row(f"{name}: orders not final after the drain", 0,
                         s["orders"]["open_count"]))
        for symbol, p in s["positions"].items():
            for side in ("open_buy_qty", "open_sell_qty"):
                rows.append(_row(f"{name} {symbol}: risk's {side} for it after the drain", 0,
                                 p[side]))
            rows.append(_row(f"{name} {symbol}: position from its reports = risk's for it",
                             p["position"], p["risk_position"]))
    return rows


def order_table_checks(data: dict) -> list[dict]:
    """Each strategy's whole order table (view["order_tables"], as order_tables() reads
    it) against its reports: every order final with nothing left, no more filled than
    its qty (FILLED: all of it), its strategy's index in its id; and for the orders the
    strategy's state follows (bench/chaos_orders.py: "ids", "filled"), the table's
    cum_qty = the lots the strategy's own fills of it brought."""
    rows = []
    tables = data.get("order_tables") or {}
    for name, k in _strategies(data):
        table = tables.get(name)
        if table is None:
            continue
        taken = [r for r in table if r["status"] != STATUS_NONE]
        rows += [
            _row(f"{name}: order table rows not final", [],
                 [r["order_id"] for r in taken if r["status"] not in FINAL_STATUSES][:8]),
            _row(f"{name}: final rows with lots left", [],
                 [r["order_id"] for r in taken if r["leaves_qty"] != 0][:8]),
            _row(f"{name}: rows filled past their qty, or FILLED short of it", [],
                 [r["order_id"] for r in taken if r["cum_qty"] > r["qty"] or
                  (r["status"] == STATUS_FILLED and r["cum_qty"] != r["qty"])][:8]),
            _row(f"{name}: rows whose id names another strategy", [],
                 [r["order_id"] for r in taken if r["order_id"] >> ORDER_ID_STRATEGY_SHIFT != k][:8]),
        ]
        state = (data.get("strategies") or {}).get(name, {}).get("state", {})
        cum = {r["order_id"]: r["cum_qty"] for r in taken}
        followed = [(i, f) for s in state.values() if "ids" in s and "filled" in s
                    for i, f in zip(s["ids"], s["filled"]) if i > 0 and i in cum]
        if followed:
            rows.append(_row(f"{name}: orders it follows, cum_qty = the lots its fills brought",
                             len(followed), sum(cum[i] == f for i, f in followed)))
    return rows


TALLY_FIELDS = ("quotes", "trades", "reports", "filled_qty", "position", "sent")


def strategy_count_rows(data: dict) -> list[dict]:
    """A strategy whose state counts what it was given (bench/chaos_strategy.py and
    chaos_orders.py: TALLY_FIELDS) against the engine's counts: every tick, report
    and request applied to it once across every kill."""
    rows = []
    rings = {ring["name"]: ring for ring in data["rings"]}
    for name, k in _strategies(data):
        s = (data.get("strategies") or {}).get(name)
        if s is None or not s["state"] or \
                not all(f in next(iter(s["state"].values())) for f in TALLY_FIELDS):
            continue
        state = s["state"]
        sfx = _suffix(k)
        rows += [
            _row(f"{name} state: quotes + trades seen = quotes{sfx} published",
                 rings[f"quotes{sfx}"]["head"],
                 sum(v["quotes"] + v["trades"] for v in state.values())),
            _row(f"{name} state: reports seen = fills_strategy{sfx} published",
                 rings[f"fills_strategy{sfx}"]["head"], sum(v["reports"] for v in state.values())),
            _row(f"{name} state: requests it sent = intents{sfx} published",
                 rings[f"intents{sfx}"]["head"], sum(v["sent"] for v in state.values())),
        ]
        for symbol, v in state.items():
            own = s["positions"][symbol]
            rows.append(_row(f"{name} {symbol}: its position = the engine's for it",
                             own["position"], v["position"]))
            rows.append(_row(f"{name} {symbol}: its position = risk's for it",
                             own["risk_position"], v["position"]))
            rows.append(_row(f"{name} {symbol}: lots filled = risk's count for it",
                             own["filled_qty"], v["filled_qty"]))
    return rows


def money_rows(data: dict) -> list[dict]:
    """Exact money (docs/orders.md, "Money"): every book's realised = its fills' cash + the
    open lots' cost basis (the engine's with risk's cash, each strategy's with the cash
    the strategy kept from its own reports); risk's cash = the venue's; per symbol the
    strategies' net P&L and fees sum to the engine's, to the price unit."""
    rows = []
    strategies = [(name, s) for name, s in (data.get("strategies") or {}).items()
                  if s.get("positions")]
    for symbol, p in data["risk"]["positions"].items():
        if "cash" not in p:
            continue
        rows += [_row(f"engine {symbol}: realised = cash + cost basis",
                      p["cash"] + p["cost_basis"], p["realised_pnl"]),
                 _row(f"engine {symbol}: cash at risk = at the venue", p["venue_cash"], p["cash"])]
        theirs = [s["positions"][symbol] for _, s in strategies if symbol in s["positions"]]
        if p.get("net_pnl") is not None and all(t.get("net_pnl") is not None for t in theirs):
            rows.append(_row(f"engine {symbol}: net P&L = the strategies' summed",
                             p["net_pnl"], sum(t["net_pnl"] for t in theirs)))
        rows.append(_row(f"engine {symbol}: fees = the strategies' summed",
                         p["fees"], sum(t["fees"] for t in theirs)))
    for name, s in strategies:
        for symbol, own in s["positions"].items():
            if "cash" in own:
                rows.append(_row(f"{name} {symbol}: realised = its own cash + cost basis",
                                 own["cash"] + own["cost_basis"], own["realised_pnl"]))
    return rows


CHECK_GROUPS = (ring_rows, pipeline_rows, symbol_rows, strategy_book_rows, order_table_checks,
                strategy_count_rows, money_rows)


def reconcile(data: dict) -> list[dict]:
    """Checks of a stopped engine's inspector view: every count against every other.

    Each row: {"check", "expected", "got", "ok"}; the groups in CHECK_GROUPS, in turn."""
    return [row for group in CHECK_GROUPS for row in group(data)]


def order_tables(inspector: Inspector, data: dict) -> dict:
    """Every strategy's whole order table by name, each taken row as a dict (order_id,
    status, qty, cum_qty, leaves_qty): the inspector's view shows only open orders."""
    tables = {}
    for name, s in (data.get("strategies") or {}).items():
        rows = order_table_rows(inspector.segment, "strat_orders", s["index"])
        if rows is None:
            continue
        tables[name] = [{"order_id": int(r["order_id"]), "status": int(r["status"]),
                         "qty": int(r["qty"]), "cum_qty": int(r["cum_qty"]),
                         "leaves_qty": int(r["leaves_qty"])}
                        for r in rows if int(r["status"]) != STATUS_NONE]
    return tables


def _phase_rows(label: str, rows: list[dict]) -> list[dict]:
    return [dict(row, check=f"{label}: {row['check']}") for row in rows]


def load_phase(label: str, name: str, config_path: str, rate: int | None, kills: int, rng,
               progress, stop_strategy: bool, smoke: bool = False) -> list[dict]:
    """Phases 1-3 on a fresh engine at `rate` (None: the config's): `kills` SIGKILLs,
    the SIGSTOP of the strategy if asked, a SIGTERM, then the reconciliation."""
    rows = []
    run = EngineRun(name, config_path, rate=rate)
    try:
        run.wait_running()
        outcome = kill_workers(run, kills, rng, progress, smoke)
        rows.append(_row(f"{label}: every killed worker came back", [], outcome["hung"]))
        if stop_strategy:
            progress("SIGSTOP strategy past its heartbeat timeout")
            stopped = stop_one_past_its_heartbeat(run)
            rows.append(_row("SIGSTOP strategy: killed and restarted by the supervisor", True,
                             stopped["restarted"]))
            rows.append(_row("SIGSTOP strategy: no healthy worker restarted for it", [],
                             stopped["others_restarted"]))
        code, _ = run.stop()
        rows.append(_row(f"{label}: stopped cleanly (exit 0)", 0, code))
        data = run.inspector.snapshot().data
        data["order_tables"] = order_tables(run.inspector, data)
        rows += _phase_rows(label, reconcile(data))
    finally:
        run.close()
    return rows


def chaos_under_load(name: str, config_path: str, kills: int, rng, progress,
                     smoke: bool = False) -> list[dict]:
    """Half the kills at the default rate (with the SIGSTOP), half flat out on a fresh
    engine (the feed has no schedule to keep there)."""
    return (load_phase("default rate", name, config_path, None, kills // 2, rng, progress, True,
                       smoke)
            + load_phase("flat out", name, config_path, 0, kills - kills // 2, rng, progress,
                         False, smoke))


def supervisor_kills(name: str, config_path: str, progress) -> list[dict]:
    """Phase 4: SIGKILL a supervisor, then SIGTERM the run that takes its name back."""
    rows = []
    run = EngineRun(name, config_path, rate=None, keep=False)
    try:
        run.wait_running()
        progress("SIGKILL the supervisor")
        run.proc.kill()
        run.proc.wait()
        deadline = time.monotonic() + 10
        while worker_processes(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans = [p.pid for p in worker_processes(name)]
        rows.append(_row("SIGKILL supervisor: no worker outlives it", [], orphans))
        for proc in worker_processes(name):
            proc.kill()
    finally:
        if run.inspector is not None:
            run.inspector.close()
            run.inspector = None
    progress("a new run takes the name back; SIGTERM it")
    again = EngineRun(name, config_path, rate=None, keep=False)
    try:
        try:
            again.wait_running()
            started = True
        except ChaosError as exc:
            started, why = False, str(exc)
        rows.append({"check": "new run of a killed supervisor's name starts",
                     "expected": True, "got": started if started else why, "ok": started})
        if started:
            again.inspector.close()
            again.inspector = None
            code, report = again.stop()
            rows.append(_row("SIGTERM supervisor: drains and exits 0", 0, code))
            rows.append(_row("SIGTERM supervisor: nothing lost", 0, (report or {}).get("lost")))
    finally:
        again.close()
        run.close()
    return rows


def run_chaos(kills: int = 100, seed: int | None = None, progress=lambda message: None,
              smoke: bool = False) -> dict:
    """smoke: each kill after the shortest stretch of load (see SMOKE_KILLS)."""
    seed = random.randrange(1 << 32) if seed is None else seed
    rng = random.Random(seed)
    name = f"bench-{os.getpid()}-chaos"
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(_config_text(kills))
    try:
        rows = chaos_under_load(name, config.name, kills, rng, progress, smoke)
        rows += supervisor_kills(name, config.name, progress)
    finally:
        os.unlink(config.name)
    differences = [row for row in rows if not row["ok"]]
    return {"kills": kills, "seed": seed, "results": rows, "differences": len(differences)}


def format_chaos_table(report: dict) -> str:
    width = max([68] + [len(row["check"]) for row in report["results"]])
    lines = [f"{'check':<{width + 2}} {'expected':>14} {'got':>14}"]
    for row in report["results"]:
        mark = "  " if row["ok"] else "x "
        lines.append(f"{mark}{row['check']:<{width}} {str(row['expected']):>14} "
                     f"{str(row['got']):>14}")
    lines.append(f"{report['kills']} kills, seed {report['seed']}: "
                 f"{report['differences']} difference(s)")
    return "\n".join(lines)
