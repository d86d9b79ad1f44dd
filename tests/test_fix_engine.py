"""The engine trading over FIX 4.4 ([venue] kind = "fix"): `tickpipe run` with the
gateway forwarding to the fix_venue worker (workers/fix_venue/agent.py), a real QuickFIX
session on 127.0.0.1, and `tickpipe venue fix-sim` on the other end following the
engine's own market. Each run ends with the engine's book checks (engine/book_checks.py):
positions, cash, open quantities and every strategy's P&L add up to the venue's fills,
or the run ends `inconsistent`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("quickfix", reason="the FIX venue needs the extra: pip install "
                                       "'tickpipe[fix]'")

from tickpipe.engine.loopback import free_port  # noqa: E402
from engine_runs import EngineProcess, assert_reconciles, unique_name  # noqa: E402
from tickpipe.engine.metrics import venue_session_families  # noqa: E402
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE  # noqa: E402
from tickpipe.workers.fix_venue.role import (  # noqa: E402
    FIX_REPORTS, FIX_STATE, ROLE, STATE_CODES,
)

MM = ('[[strategy]]\nname = "mm"\nmodule = "tickpipe.workers.strategies.avellaneda_stoikov"\n'
      'params = { gamma = 0.1, order_qty = 5, max_inventory = 50 }\n')
BASE = ('[engine]\nrate = 1000\n[feed]\nsymbols = 2\n[risk]\nmax_orders_per_s = 100000\n'
        '[venue]\nkind = "fix"\n')


def _config(tmp_path, fix_venue: str) -> str:
    path = tmp_path / "fix.toml"
    path.write_text(BASE + "[fix_venue]\n" + fix_venue + MM)
    return str(path)


def _fix_row(segment):
    return segment.view("workers", WORKER_DTYPE)[ROLE.row]


def _counter(segment, slot) -> int:
    return int(_fix_row(segment)["counters"][slot])


def _gateway(report) -> dict:
    return next(w["counters"] for w in report["workers"] if w["role"] == "gateway")


def test_engine_trades_over_fix_and_every_book_adds_up(tmp_path):
    """`[fix_venue] sim = true`: the launcher starts fix-sim, the market maker trades over
    the session, and the run stops with every book exact (state `stopped`), every report
    the venue sent applied once, and the session's figures in the report."""
    engine = EngineProcess(unique_name("fix"), "--seconds", "4",
                           config_file=_config(tmp_path, "sim = true\n"))
    report = engine.result()
    assert_reconciles(report)
    session = report["fix_venue"]
    assert session["logons"] == 1 and session["disconnects"] == 0
    assert session["reports"] > 0 and session["session_rejects"] == 0
    gateway = _gateway(report)
    assert gateway["venue_reports_read"] == session["reports"]
    assert gateway["venue_reports_dropped"] == 0
    assert report["fills"] > 0 and gateway["new_acks"] > 0
    assert report["venue"]["working"] == 0   # the close cancelled what rested, over FIX


def test_fix_venue_worker_killed_mid_run_loses_nothing(tmp_path):
    """kill -9 of the fix_venue worker while orders work: it restarts, takes the working
    orders from the gateway's table and reconciles them with the venue at logon; the
    venue's resend of what the dead worker never passed on is applied once (a duplicate
    is dropped by the gateway's table), and the books still add up."""
    engine = EngineProcess(unique_name("fixkill"), "--seconds", "8",
                           config_file=_config(tmp_path, "sim = true\n"))
    segment = engine.wait_running()
    try:
        engine.wait_until(lambda: _counter(segment, FIX_REPORTS) > 200, "200 venue reports")
        os.kill(int(_fix_row(segment)["pid"]), signal.SIGKILL)
    finally:
        segment.close()
    report = engine.result()
    assert_reconciles(report)
    worker = next(w for w in report["workers"] if w["role"] == "fix_venue")
    assert worker["restarts"] == 1
    assert any("fix_venue restarted" in note for note in report["notes"])
    assert report["fix_venue"]["restored_orders"] > 0  # the market maker always rests some
    # sent while it reconciled them: answered at once, venue_halted
    assert report["venue_rejected"]["venue_halted"] == report["fix_venue"]["refused_down"]


def test_ctrl_c_drains_an_engine_trading_over_fix(tmp_path):
    """SIGINT, as Ctrl-C sends it to the launcher: the engine drains (the close cancels
    what rests, over FIX) and reports, as it does without FIX. (Importing quickfix had
    reset SIGINT's handler at the C level: Ctrl-C killed the launcher outright.)"""
    engine = EngineProcess(unique_name("fixint"), "--seconds", "600",
                           config_file=_config(tmp_path, "sim = true\n"))
    segment = engine.wait_running()
    try:
        engine.wait_until(lambda: _counter(segment, FIX_REPORTS) > 50, "50 venue reports")
    finally:
        segment.close()
    engine.proc.send_signal(signal.SIGINT)
    report = engine.result()
    assert_reconciles(report)
    assert report["stopped_by"] == "SIGINT" and report["venue"]["working"] == 0


def _fix_sim(port, store, engine_name, status, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "tickpipe.cli", "venue", "fix-sim", "--port", str(port),
         "--store", store, "--follow", engine_name, "--status-file", status,
         "--book", "SYM0=100.00/100.01x1/1", "--book", "SYM1=100.00/100.01x1/1", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TICKPIPE_FIX_")})


def _settings_file(tmp_path, port):
    settings = tmp_path / "session.cfg"
    settings.write_text("[DEFAULT]\nConnectionType=initiator\nHeartBtInt=1\n"
                        "ReconnectInterval=1\n\n[SESSION]\nBeginString=FIX.4.4\n"
                        f"SenderCompID=TP\nTargetCompID=VENUE\nSocketConnectHost=127.0.0.1\n"
                        f"SocketConnectPort={port}\n")
    return settings


def _credentials(path, password):
    path.write_text(f"username = tp\npassword = {password}\n")
    path.chmod(0o600)
    return path


def test_a_refused_logon_stops_the_engine_with_one_line(tmp_path):
    """The venue refuses our password: the engine does not start trading; one line names
    the venue and its reason, the password nowhere."""
    port, name = free_port(), unique_name("fixpw")
    store, status = str(tmp_path / "venue"), str(tmp_path / "venue.json")
    sim = _fix_sim(port, store, name, status, "--credentials",
                   str(_credentials(tmp_path / "venue.creds", "right-one")))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sim.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        ours = _credentials(tmp_path / "ours.creds", "wrong-one")
        config = _config(tmp_path, f'settings = "{_settings_file(tmp_path, port)}"\n'
                                   f'credentials = "{ours}"\nstore = "{tmp_path / "ours"}"\n')
        out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", config,
                              "--seconds", "5", "--name", name],
                             capture_output=True, text=True, timeout=300)
    finally:
        sim.terminate()
        sim.wait(10)
    assert out.returncode == 1, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "refused the logon" in last and "wrong-one" not in out.stderr, out.stderr
    assert "s] ticks/s" not in out.stderr  # no status line: it never traded


def _inspect(name) -> dict:
    out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "inspect", name, "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_venue_lost_halts_trading_at_it_and_a_reconnect_reconciles(tmp_path):
    """The venue (fix-sim, a process of the test's own, named by a QuickFIX settings file)
    killed mid-run: the session is DOWN, trading at the venue HALTED (what is sent now is
    answered venue_halted at once), and `tickpipe inspect` and Prometheus say so; the venue
    restarted on its store: the session logs on again, reconciles the open orders, and
    trading resumes; the run still stops with every book exact."""
    port, name = free_port(), unique_name("fixdown")
    settings = _settings_file(tmp_path, port)
    store, status = str(tmp_path / "venue"), str(tmp_path / "venue.json")
    sim = _fix_sim(port, store, name, status)
    engine = None
    try:
        config = _config(tmp_path, f'settings = "{settings}"\nstore = "{tmp_path / "ours"}"\n'
                                   "logon_timeout_s = 120\nreconcile_timeout_s = 30\n")
        engine = EngineProcess(name, "--seconds", "600", config_file=config)
        segment = engine.wait_running()
        engine.wait_until(lambda: _counter(segment, FIX_STATE) == STATE_CODES["up"]
                          and _counter(segment, FIX_REPORTS) > 100, "trading over the session")
        sim.kill()
        sim.wait(10)
        engine.wait_until(lambda: _counter(segment, FIX_STATE) == STATE_CODES["down"],
                          "the session to go down")
        snapshot = _inspect(name)
        assert snapshot["fix_venue"]["state"] == "down"
        assert snapshot["fix_venue"]["trading"] == "halted"
        up = venue_session_families(name, snapshot["fix_venue"])[0]
        assert up.name == "tickpipe_venue_session_up" and up.samples[0].value == 0
        sim = _fix_sim(port, store, name, status)
        engine.wait_until(lambda: _counter(segment, FIX_STATE) == STATE_CODES["up"],
                          "the session back up and reconciled")
        after = _counter(segment, FIX_REPORTS)
        engine.wait_until(lambda: _counter(segment, FIX_REPORTS) > after + 50,
                          "trading again after the reconnect")
        segment.close()
        report = engine.stop()
    finally:
        if engine is not None:
            engine.kill()
        sim.terminate()
        sim.wait(10)
    assert_reconciles(report)
    session = report["fix_venue"]
    assert session["disconnects"] == 1 and session["logons"] == 2
    assert session["reconciled"] > 0
    # what the strategy sent while the venue was down or reconciling: answered at once
    assert report["venue_rejected"]["venue_halted"] == session["refused_down"]


def test_fix_venue_bad_config_is_one_line(tmp_path):
    """kind = "fix" without a session, or with a settings file that is not one: one line,
    before any worker starts."""
    cases = {"": "needs [fix_venue] settings = FILE",
             f'settings = "{tmp_path / "missing.cfg"}"\n': "No such file",
             }
    bad = tmp_path / "bad.cfg"
    bad.write_text("[SESSION]\nBeginString=FIX.4.2\nSenderCompID=A\nTargetCompID=B\n"
                   "SocketConnectHost=127.0.0.1\nSocketConnectPort=1\n")
    cases[f'settings = "{bad}"\n'] = "FIX.4.2 is not FIX.4.4"
    from click.testing import CliRunner
    from tickpipe.cli.main import tickpipe
    for fix_venue, expected in cases.items():  # in-process: each fails before a worker starts
        out = CliRunner().invoke(tickpipe, ["run", _config(tmp_path, fix_venue), "--seconds",
                                            "1", "--name", unique_name("fixbad")])
        assert out.exit_code == 1, out.output
        lines = out.output.strip().splitlines()
        assert expected in lines[-1] and "Traceback" not in out.output, out.output


def test_bench_fix_engine_smoke_reports_both_venues():
    """`tickpipe bench fix-engine --smoke`: the same market maker with the built-in venue
    and over FIX, both runs ending with every book exact, and the venue process's own
    latencies measured."""
    out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "bench", "fix-engine",
                          "--smoke", "--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for venue in ("sim", "fix"):
        assert report[venue]["state"] == "stopped" and report[venue]["orders_per_s"] > 0
    fix = report["fix"]
    assert 0 < fix["send_p50_us"] <= fix["send_p99_us"]
    assert fix["send_p50_us"] < fix["ack_p50_us"] <= fix["ack_p99_us"]
    assert fix["venue_reports_dropped"] == 0
