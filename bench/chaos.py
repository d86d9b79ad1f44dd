"""`tickpipe bench chaos`: kill workers under load, then reconcile every count.

The restart promise is that a killed worker is restarted and resumes with
nothing lost and nothing done twice. This bench tries it from the outside, as
an operator's bad day would:

1. SIGKILL random workers `kills` times, half at the default rate and half flat
   out, each after a random stretch of load, waiting for the supervisor to
   bring the worker back;
2. SIGSTOP the strategy past its heartbeat timeout: the supervisor must kill and
   restart it, and nothing else (its producer, the feed, waits on a full ring);
3. stop the engine with SIGTERM and reconcile everything the kept segment says
   (read through the inspector, the same view as `tickpipe inspect --json`);
4. SIGKILL a supervisor: none of its workers may outlive it; a new run of the
   same name must take the segment back, and a SIGTERM must stop it cleanly.

Every check is a row (expected, got); the bench exits non-zero on any
difference. Nothing here reads a segment's bytes itself.
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

from tickpipe.engine.engine_layout import ROLES
from tickpipe.engine.segment import SegmentError, unlink_segment
from tickpipe.engine.snapshot import Inspector

START_TIMEOUT_S = 120       # compile on a cold cache, start barrier
RESTART_TIMEOUT_S = 30      # a killed worker back and running
STOP_TIMEOUT_S = 60         # drain and exit
HEARTBEAT_TIMEOUT_S = 1.0   # for the SIGSTOP phase: a stopped worker counts as dead after this
WORKER_MODULE = "tickpipe.engine.worker_main"


class ChaosError(Exception):
    """The bench itself could not run (an engine that never started); str() says why."""


TALLY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chaos_strategy.py")


def _config_text(kills: int) -> str:
    # Room for every kill and the SIGSTOP in the restart-intensity limit, so the
    # policy under test is restart-one, not the limit. The strategy is a user's
    # plug-in, loaded by path, whose state counts what it was given (reconcile).
    return (f"[engine]\nmax_restarts = {kills + 10}\nrestart_window_s = 3600.0\n"
            f"heartbeat_timeout_s = {HEARTBEAT_TIMEOUT_S}\n\n"
            f"[[strategy]]\nname = \"tally\"\npath = \"{TALLY}\"\n")


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
            time.sleep(0.05)

    def workers(self) -> dict:
        return {w["role"]: w for w in self.inspector.snapshot().data["workers"]}

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
        worker = run.workers()[role]
        if worker["pid"] != old_pid and worker["alive"] and worker["state"] == "running":
            return True
        time.sleep(0.02)
    return False


def kill_workers(run: EngineRun, kills: int, rng: random.Random, progress) -> dict:
    """SIGKILL `kills` random workers, one at a time; {"killed": n, "hung": [roles]}."""
    hung = []
    for k in range(kills):
        time.sleep(rng.uniform(0.05, 0.4))  # let load build up: kill mid-batch, not idle
        role = rng.choice(ROLES)
        pid = run.workers()[role]["pid"]
        progress(f"kill {k + 1}/{kills}: {role} (pid {pid})")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if not _wait_restarted(run, role, pid):
            hung.append(role)
            break
    return {"killed": kills, "hung": hung}


def stop_one_past_its_heartbeat(run: EngineRun, role: str = "strategy") -> dict:
    """SIGSTOP `role` past the heartbeat timeout; which workers were restarted for it."""
    before = {r: w["restarts"] for r, w in run.workers().items()}
    pid = run.workers()[role]["pid"]
    os.kill(pid, signal.SIGSTOP)
    restarted = _wait_restarted(run, role, pid)
    if not restarted:
        os.kill(pid, signal.SIGCONT)
    time.sleep(HEARTBEAT_TIMEOUT_S * 2)  # the others had their chance to be (wrongly) killed
    after = {r: w["restarts"] for r, w in run.workers().items()}
    return {"stopped": role, "restarted": restarted,
            "others_restarted": sorted(r for r in ROLES if r != role and after[r] != before[r])}


def _row(check: str, expected, got) -> dict:
    return {"check": check, "expected": expected, "got": got, "ok": expected == got}


def reconcile(data: dict) -> list[dict]:
    """Checks of a stopped engine's inspector view: every count against every other.

    Each row: {"check", "expected", "got", "ok"}."""
    rows = []

    def check(name, expected, got):
        rows.append(_row(name, expected, got))

    rings = {ring["name"]: ring for ring in data["rings"]}
    counters = {w["role"]: w["counters"] for w in data["workers"]}
    risk = data["risk"]
    for name, ring in rings.items():
        check(f"{name}: every record consumed (tail = head)", ring["head"], ring["tail"])
    check("feed: ticks counted = quotes published", rings["quotes"]["head"],
          counters["feed"]["ticks"])
    check("strategy: intents counted = intents published", rings["intents"]["head"],
          counters["strategy"]["intents"])
    check("risk: intents read = intents consumed", rings["intents"]["tail"],
          counters["risk"]["intents_read"])
    # every request becomes one record on the orders ring: sent, or denied with its reason
    check("risk: requests = orders ring records", rings["intents"]["head"],
          rings["orders"]["head"])
    check("risk: records counted = records published", rings["orders"]["head"],
          counters["risk"]["orders_out"])
    check("risk: requests = orders sent + rejects", rings["intents"]["head"],
          counters["risk"]["orders_sent"] + sum(risk["rejects"].values()))
    check("gateway: orders executed = orders consumed", rings["orders"]["tail"],
          counters["gateway"]["orders_read"])
    for ring in ("fills_risk", "fills_strategy"):
        check(f"gateway: reports counted = {ring} published", rings[ring]["head"],
              counters["gateway"]["reports_sent"])
    positions = risk["positions"]
    # (new orders only: the strategies the chaos bench runs send no cancel or replace)
    check("risk: orders per symbol add up", counters["risk"]["orders_sent"],
          sum(p["orders_sent"] for p in positions.values()))
    if all("venue_orders" in p for p in positions.values()):
        check("venue: orders per symbol add up", counters["risk"]["orders_sent"],
              sum(p["venue_orders"] for p in positions.values()))
    for symbol, p in positions.items():
        if "open_orders" in p:
            check(f"symbol {symbol}: open orders after the drain", 0, p["open_orders"])
    for symbol, p in positions.items():
        if "venue_net_qty" in p:
            check(f"symbol {symbol}: risk position = venue position", p["venue_net_qty"],
                  p["position"])
        if "strategy_position" in p:
            check(f"symbol {symbol}: strategy position = venue position", p["venue_net_qty"],
                  p["strategy_position"])
        for side in ("open_buy_qty", "open_sell_qty"):
            if side in p:
                check(f"symbol {symbol}: {side} after the drain", 0, p[side])
    tally = data.get("strategies", {}).get("tally")
    if tally is not None:
        rows += _tally_rows(tally, rings, counters, positions)
    return rows


def _tally_rows(tally: dict, rings: dict, counters: dict, positions: dict) -> list[dict]:
    """The user strategy's own state (bench/chaos_strategy.py) against the engine's
    counts: every tick, report and order applied to it once across every kill."""
    state = tally["state"]
    rows = [
        _row("tally state: quotes + trades seen = ticks made", counters["feed"]["ticks"],
             sum(s["quotes"] + s["trades"] for s in state.values())),
        _row("tally state: reports seen = reports published to it",
             rings["fills_strategy"]["head"], sum(s["reports"] for s in state.values())),
        _row("tally state: orders it sent = intents published", rings["intents"]["head"],
             sum(s["sent"] for s in state.values())),
    ]
    for symbol, s in state.items():
        own = tally["positions"][symbol]
        rows.append(_row(f"tally {symbol}: its position = the engine's for it", own["position"],
                         s["position"]))
        rows.append(_row(f"tally {symbol}: its position = venue position",
                         positions[symbol]["venue_net_qty"], s["position"]))
        rows.append(_row(f"tally {symbol}: lots filled = risk's count for it",
                         own["filled_qty"], s["filled_qty"]))
    return rows


def _phase_rows(label: str, rows: list[dict]) -> list[dict]:
    return [dict(row, check=f"{label}: {row['check']}") for row in rows]


def load_phase(label: str, name: str, config_path: str, rate: int | None, kills: int, rng,
               progress, stop_strategy: bool) -> list[dict]:
    """Phases 1-3 on a fresh engine at `rate` (None: the config's): `kills` SIGKILLs,
    the SIGSTOP of the strategy if asked, a SIGTERM, then the reconciliation."""
    rows = []
    run = EngineRun(name, config_path, rate=rate)
    try:
        run.wait_running()
        outcome = kill_workers(run, kills, rng, progress)
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
        rows += _phase_rows(label, reconcile(run.inspector.snapshot().data))
    finally:
        run.close()
    return rows


def chaos_under_load(name: str, config_path: str, kills: int, rng, progress) -> list[dict]:
    """Half the kills at the default rate (with the SIGSTOP), half flat out on a fresh
    engine (the feed has no schedule to keep there)."""
    return (load_phase("default rate", name, config_path, None, kills // 2, rng, progress, True)
            + load_phase("flat out", name, config_path, 0, kills - kills // 2, rng, progress,
                         False))


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


def run_chaos(kills: int = 100, seed: int | None = None, progress=lambda message: None) -> dict:
    seed = random.randrange(1 << 32) if seed is None else seed
    rng = random.Random(seed)
    name = f"bench-{os.getpid()}-chaos"
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(_config_text(kills))
    try:
        rows = chaos_under_load(name, config.name, kills, rng, progress)
        rows += supervisor_kills(name, config.name, progress)
    finally:
        os.unlink(config.name)
    differences = [row for row in rows if not row["ok"]]
    return {"kills": kills, "seed": seed, "results": rows, "differences": len(differences)}


def format_chaos_table(report: dict) -> str:
    lines = [f"{'check':<70} {'expected':>14} {'got':>14}"]
    for row in report["results"]:
        mark = "  " if row["ok"] else "x "
        lines.append(f"{mark}{row['check']:<68} {str(row['expected']):>14} {str(row['got']):>14}")
    lines.append(f"{report['kills']} kills, seed {report['seed']}: "
                 f"{report['differences']} difference(s)")
    return "\n".join(lines)
