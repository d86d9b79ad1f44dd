"""The FIX 4.4 venue over a real QuickFIX session on 127.0.0.1 (a free port per test):
our initiator (workers/fix_venue/session.py) against the simulated exchange's acceptor
(workers/fix_venue/sim.py), in this process for the order lifecycle, in a process of its
own (`tickpipe venue fix-sim`) where it is killed and restarted. Every application
message either way is checked field by field against QuickFIX's FIX44.xml
(tests/fix_dictionary.py)."""

import json
import re
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

fix = pytest.importorskip("quickfix", reason="the FIX venue needs the extra: pip install "
                                             "'tickpipe[fix]'")

from fix_dictionary import check_message  # noqa: E402  (tests/fix_dictionary.py)
from tickpipe.engine.loopback import free_port  # noqa: E402
from tickpipe.shm_layouts.fill import (  # noqa: E402
    EXEC_CANCELLED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED, EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import (  # noqa: E402
    STATUS_CANCELED, STATUS_FILLED, STATUS_NEW, STATUS_PARTIALLY_FILLED, STATUS_REJECTED,
)
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, TIF_GTC  # noqa: E402
from tickpipe.workers.fix_venue.credentials import (  # noqa: E402
    Credentials, CredentialsError, load_credentials, read_credentials_file,
)
from tickpipe.workers.fix_venue.fields import (  # noqa: E402
    EXEC_STATUS, cl_ord_id, order_id_of, price_text, price_units,
)
from tickpipe.workers.fix_venue.session import (  # noqa: E402
    DOWN, DUPLICATE_ID, QUEUED, RECONCILING, REFUSED_DOWN, SENT, UP, FixSession,
    FixVenueError, _Order,
)
from tickpipe.workers.fix_venue.settings import (  # noqa: E402
    SettingsError, make_settings, read_settings_file, spec_path,
)
from tickpipe.workers.fix_venue.sim import SimExchange, SimServer  # noqa: E402

CREDS = Credentials("tp-user", "s3cret-pass")
PX = 1_000_000      # 100.0000 in our units
TICK = 100          # 0.01


def wait_for(predicate, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Reports:
    """Everything the session reported, polled into one list."""

    def __init__(self, session):
        self.session, self.all = session, []

    def wait(self, n, timeout=10.0):
        def enough():
            self.all += self.session.poll()
            return len(self.all) >= n
        wait_for(enough, timeout, f"{n} reports (have {len(self.all)})")
        return self.all


def initiator(port, store, credentials=CREDS, **extra):
    options = {"HeartBtInt": 1, "ReconnectInterval": 1, "LogonTimeout": 2, **extra}
    return make_settings("initiator", port, "TP", "VENUE", store, **options)


@pytest.fixture
def venue(tmp_path):
    """The simulated exchange in this process (SYM0 at 100.00/100.01 x 50/20) and a
    session to it; both stopped at the end, every message checked by the dictionary."""
    port = free_port()
    app = SimExchange({"SYM0": (PX, PX + TICK, 50, 20)}, str(tmp_path / "orders"),
                      tick_size=TICK, credentials=CREDS)
    server = SimServer(app, make_settings("acceptor", port, "VENUE", "TP",
                                          str(tmp_path / "acc"))).start()
    session = FixSession(initiator(port, str(tmp_path / "ini")), CREDS)
    try:
        session.start(timeout_s=10)
        yield app, session, Reports(session)
    finally:
        session.stop()
        server.stop()
    spec = spec_path()
    for direction, raw in list(app.wire) + list(session.wire):
        assert check_message(raw, spec) == [], (direction, raw.replace("\x01", "|"))
    assert app.counts["session_rejects"] == 0 and session.counts["session_rejects"] == 0
    assert session.counts["business_rejects"] == 0


def test_prices_and_ids_are_exact():
    for units in (0, 1, 99, 1_000_000, 1_000_001, 123_456_789):
        assert price_units(price_text(units)) == units
    assert price_text(1_005_000) == "100.5000"
    assert price_units("100.00005") == 1_000_000  # half-even to our 1e-4 unit
    assert price_units("100.00015") == 1_000_002
    assert [cl_ord_id(7, k) for k in range(3)] == ["7", "7.1", "7.2"]
    assert order_id_of("7.2") == 7 == order_id_of("7")


def _offline_session(tmp_path, **options):
    """A session never started: its order table and report handling, by hand."""
    return FixSession(initiator(free_port(), str(tmp_path / "ini")), CREDS, **options)


def _report(cl, exec_type, exec_id, cum=0, leaves=5, status=STATUS_NEW):
    return {"kind": "execution_report", "cl_ord_id": cl, "exec_type": exec_type,
            "exec_id": exec_id, "cum_qty": cum, "leaves_qty": leaves, "ord_status": status,
            "order_qty": cum + leaves, "order_px": PX}


def test_reports_once_by_exec_id_but_every_status_answer(tmp_path):
    """A report whose ExecID was seen (a PossDupFlag resend) is dropped; status answers
    are never dropped: FIX 4.4 lets each carry ExecID 0, and reconciliation must not
    wait for the second for ever."""
    session = _offline_session(tmp_path)
    for order_id in (1, 2):  # both acknowledged
        session.orders[order_id] = _Order(order_id, "SYM0", 1, 5, PX, TIF_GTC)
        session.orders[order_id].status = STATUS_NEW
    session._apply(_report("1", EXEC_PARTIAL_FILL, "7", cum=2, leaves=3,
                           status=STATUS_PARTIALLY_FILLED))
    session._apply(_report("1", EXEC_PARTIAL_FILL, "7", cum=2, leaves=3,
                           status=STATUS_PARTIALLY_FILLED))
    assert session.counts["duplicate_reports"] == 1 and session.orders[1].cum_qty == 2
    session.state, session.awaiting_status = RECONCILING, {1, 2}
    session._apply(_report("1", EXEC_STATUS, "0", cum=2, leaves=3,
                           status=STATUS_PARTIALLY_FILLED))
    assert session.state == RECONCILING
    session._apply(_report("2", EXEC_STATUS, "0"))
    assert session.state == UP and session.counts["reconciled"] == 2
    assert session.counts["duplicate_reports"] == 1 and session.counts["reconcile_mismatches"] == 0


def test_a_status_answer_never_takes_back_fills(tmp_path):
    session = _offline_session(tmp_path)
    session.orders[3] = order = _Order(3, "SYM0", 1, 5, PX, TIF_GTC)
    order.cum_qty, order.leaves_qty, order.status = 4, 1, STATUS_PARTIALLY_FILLED
    session._apply(_report("3", EXEC_STATUS, "0", cum=0, leaves=0, status=STATUS_REJECTED))
    assert (order.cum_qty, order.status) == (4, STATUS_PARTIALLY_FILLED)
    assert session.counts["reconcile_mismatches"] == 1


def test_reconciliation_ends_on_a_refusal_or_its_timeout(tmp_path):
    """A status request refused (a business reject naming it) or never answered does not
    halt trading for good; a new order the venue refused at the business level ends."""
    session = _offline_session(tmp_path, reconcile_timeout_s=0.05)
    for order_id in (1, 2):
        session.orders[order_id] = _Order(order_id, "SYM0", 1, 5, PX, TIF_GTC)
    session.state, session.awaiting_status = RECONCILING, {1, 2}
    session.reconcile_deadline = time.monotonic() + 60
    session._business_reject("1", "unknown order")
    assert session.state == RECONCILING and session.awaiting_status == {2}
    assert session.orders[1].status == STATUS_REJECTED  # never acknowledged: it ends
    session.reconcile_deadline = time.monotonic() - 1
    session.poll()
    assert session.state == UP and session.counts["reconcile_timeouts"] == 1


def test_logon_and_logout(venue):
    app, session, _ = venue
    assert session.state == UP
    wait_for(lambda: app.counts["logons"] == 1, what="the venue's logon")
    session.stop()
    assert session.state != UP


def test_new_ack_partial_fill(venue):
    app, session, reports = venue
    # a buy of 30 at the ask: 20 taken at once (the ask's size), 10 rest as the best bid
    assert session.new(1, "SYM0", 1, 30, PX + TICK) == SENT
    new, partial = reports.wait(2)
    assert (new["exec_type"], new["ord_status"], new["leaves_qty"]) == (EXEC_NEW, STATUS_NEW, 30)
    assert (partial["exec_type"], partial["last_qty"], partial["last_px"], partial["cum_qty"],
            partial["leaves_qty"]) == (EXEC_PARTIAL_FILL, 20, PX + TICK, 20, 10)
    app.market("SYM0", PX, PX + 2 * TICK, 50, 20)   # the ask moves up: nothing fills
    app.trade("SYM0", PX + TICK, 10)                 # a trade at our price: we are first
    fill = reports.wait(3)[2]
    assert (fill["exec_type"], fill["last_qty"], fill["cum_qty"], fill["leaves_qty"],
            fill["avg_px"], fill["ord_status"]) == (EXEC_FILL, 10, 30, 0, PX + TICK,
                                                   STATUS_FILLED)
    assert {r["cl_ord_id"] for r in reports.all} == {"1"}
    assert session.open_orders() == []


def test_cancel_and_replace_chain(venue):
    app, session, reports = venue
    session.new(5, "SYM0", 1, 10, PX - 2 * TICK)
    reports.wait(1)
    assert session.replace(5, 10, PX - TICK) == SENT
    reports.wait(2)
    assert session.replace(5, 4, PX - TICK) == SENT
    reports.wait(3)
    assert session.cancel(5) == SENT
    new, first, second, cancel = reports.wait(4)
    assert new["exec_type"] == EXEC_NEW
    assert (first["exec_type"], first["cl_ord_id"], first["orig_cl_ord_id"],
            first["order_px"]) == (EXEC_REPLACED, "5.1", "5", PX - TICK)
    assert (second["exec_type"], second["cl_ord_id"], second["orig_cl_ord_id"],
            second["order_qty"]) == (EXEC_REPLACED, "5.2", "5.1", 4)
    assert (cancel["exec_type"], cancel["cl_ord_id"], cancel["orig_cl_ord_id"],
            cancel["ord_status"]) == (EXEC_CANCELLED, "5.3", "5.2", STATUS_CANCELED)
    # one order at the venue throughout: its OrderID (37) is the same on every report
    assert len({r["venue_order_id"] for r in reports.all}) == 1
    assert app.counts["orders"] == 1


def test_cancel_too_late_is_a_cancel_reject(venue):
    app, session, reports = venue
    session.new(9, "SYM0", -1, 5, PX)   # sells 5 into the bid of 50: filled at once
    reports.wait(2)
    assert reports.all[1]["exec_type"] == EXEC_FILL
    # our table knows it is filled; the venue must say so too when asked anyway
    session.orders[9].status = STATUS_NEW
    assert session.cancel(9) == SENT
    reject = reports.wait(3)[2]
    assert (reject["kind"], reject["reason"], reject["response_to"], reject["cl_ord_id"],
            reject["orig_cl_ord_id"]) == ("cancel_reject", "0", "1", "9.1", "9")


def test_refusals_name_the_order(venue):
    """An order the venue refuses before its book (an unknown symbol) is an
    ExecutionReport Rejected for its ClOrdID, so the order ends; a new order reusing an
    id is refused here, before its ClOrdIDs could collide at the venue."""
    app, session, reports = venue
    assert session.new(21, "NOPE", 1, 1, PX) == SENT
    reject = reports.wait(1)[0]
    assert (reject["exec_type"], reject["order_id"], reject["ord_status"]) == (
        EXEC_REJECTED, 21, STATUS_REJECTED)
    assert "unknown symbol" in reject["text"] and session.open_orders() == []
    assert session.new(21, "SYM0", 1, 1, PX) == DUPLICATE_ID
    assert app.counts["orders"] == 0


def test_status_of_an_order_the_venue_never_had_names_it(venue):
    """A status request (as sent on reconnect) for an order the venue never took is
    answered for its ClOrdID, rejected, so reconciliation ends instead of waiting."""
    app, session, reports = venue
    session.orders[77] = _Order(77, "SYM0", 1, 3, PX, TIF_GTC)  # sent, never arrived
    assert session.status(77) == SENT
    answer = reports.wait(1)[0]
    assert (answer["exec_type"], answer["order_id"], answer["cl_ord_id"],
            answer["ord_status"]) == (EXEC_STATUS, 77, "77", STATUS_REJECTED)
    assert session.counts["reconciled"] == 1 and session.open_orders() == []


def test_ioc_is_time_in_force_3(venue):
    app, session, reports = venue
    session.new(11, "SYM0", 1, 30, PX + TICK, order_type=ORDER_TYPE_IOC, tif=TIF_GTC)
    fill, cancel = reports.wait(2)
    assert (fill["exec_type"], fill["last_qty"]) == (EXEC_PARTIAL_FILL, 20)
    assert (cancel["exec_type"], cancel["cum_qty"], cancel["leaves_qty"]) == (EXEC_CANCELLED, 20, 0)
    sent = [raw for d, raw in session.wire if d == "out" and "\x0135=D\x01" in raw]
    assert "\x0159=3\x01" in sent[0]


def test_wrong_password_is_one_clear_error_without_a_retry_storm(tmp_path):
    port = free_port()
    app = SimExchange({"SYM0": (PX, PX + TICK, 50, 20)}, str(tmp_path / "o"), tick_size=TICK,
                      credentials=CREDS)
    server = SimServer(app, make_settings("acceptor", port, "VENUE", "TP",
                                          str(tmp_path / "a"))).start()
    session = FixSession(initiator(port, str(tmp_path / "i")), Credentials("tp-user", "wrong"))
    try:
        with pytest.raises(FixVenueError) as error:
            session.start(timeout_s=10)
        time.sleep(2.5)  # ReconnectInterval=1: a running initiator would have tried again
    finally:
        server.stop()
    assert str(error.value) == (f"the venue at 127.0.0.1:{port} refused the logon: Rejected "
                                "Logon Attempt: wrong username or password")
    assert app.counts["logons_refused"] == 1


def test_a_venue_that_never_answers_logon_times_out(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    session = FixSession(initiator(port, str(tmp_path / "i"), LogonTimeout=1), CREDS)
    started = time.monotonic()
    with pytest.raises(FixVenueError, match=r"no logon answer from the venue at "
                                            r"127\.0\.0\.1:\d+ within 3 s"):
        session.start(timeout_s=3)
    assert time.monotonic() - started < 6
    assert accepted  # it did connect: the silence was the venue's
    server.close()


def test_credentials_from_env_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TICKPIPE_FIX_USERNAME", raising=False)
    monkeypatch.delenv("TICKPIPE_FIX_PASSWORD", raising=False)
    monkeypatch.delenv("TICKPIPE_FIX_CREDENTIALS", raising=False)
    assert load_credentials(required=False) is None
    with pytest.raises(CredentialsError, match="no FIX credentials"):
        load_credentials()
    path = tmp_path / "fix.secret"
    path.write_text("username = u1\npassword = p@ss\n")
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="mode 0644 lets others read it; chmod 600"):
        read_credentials_file(str(path))
    path.chmod(0o600)
    creds = read_credentials_file(str(path))
    assert creds == ("u1", "p@ss") and "p@ss" not in repr(creds) and "p@ss" not in str(creds)
    monkeypatch.setenv("TICKPIPE_FIX_USERNAME", "u2")
    with pytest.raises(CredentialsError, match="both"):
        load_credentials()
    monkeypatch.setenv("TICKPIPE_FIX_PASSWORD", "p2")
    assert load_credentials() == ("u2", "p2")
    assert load_credentials(str(path)) == ("u1", "p@ss")  # a file named explicitly wins
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CredentialsError, match="not UTF-8 text"):
        read_credentials_file(str(path))


def test_settings_file_is_checked_and_completed(tmp_path):
    good = tmp_path / "venue.cfg"
    good.write_text("[DEFAULT]\nConnectionType=initiator\nHeartBtInt=5\n"
                    f"FileStorePath={tmp_path / 'store'}\nFileLogPath=/tmp/should-not-log\n"
                    "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=TP\nTargetCompID=VENUE\n"
                    "SocketConnectHost=127.0.0.1\nSocketConnectPort=9878\n")
    settings = read_settings_file(str(good))
    assert settings.address == "127.0.0.1:9878"
    # the store keeps the Logon QuickFIX sent, password and all: the owner's alone
    assert os.stat(tmp_path / "store").st_mode & 0o777 == 0o700
    assert settings.values["DataDictionary"] == spec_path()
    assert settings.values["UseDataDictionary"] == "Y" and "FileLogPath" not in settings.values
    for text, message in (
            ("[SESSION]\nBeginString=FIX.4.2\nConnectionType=initiator\nSenderCompID=A\n"
             "TargetCompID=B\nSocketConnectHost=h\nSocketConnectPort=1\n", "is not FIX.4.4"),
            ("[SESSION]\nConnectionType=initiator\nSenderCompID=A\nTargetCompID=B\n",
             "no SocketConnectHost, SocketConnectPort"),
            ("[DEFAULT]\nConnectionType=initiator\n", "0 [SESSION] sections"),
            ("[SESSION]\nConnectionType=initiator\nSenderCompID=A\nTargetCompID=B\n"
             "SocketConnectHost=h\nSocketConnectPort=x\n", "SocketConnectPort=x is not"),
            ("junk\n", "line 1: expected key=value"),
            ("[SESSION]\nConnectionType=initiator\nSenderCompID=A\nTargetCompID=B\n"
             "SocketConnectHost=h\nSocketConnectPort=99999\n", "99999 is not a TCP port"),
            ("[SESSION]\nConnectionType=initiator\nSenderCompID=A\nTargetCompID=B\n"
             "SocketConnectHost=h\nSocketConnectPort=1\nStartTime=25:00:00\n",
             "StartTime=25:00:00 is not a time of day"),
            ("[SESSION]\nConnectionType=initiator\nSenderCompID=A\nTargetCompID=B\n"
             "SocketConnectHost=h\nSocketConnectPort=1\nHeartBtInt=0\n", "HeartBtInt=0")):
        bad = tmp_path / "bad.cfg"
        bad.write_text(text)
        with pytest.raises(SettingsError, match=re.escape(message)):
            read_settings_file(str(bad))
    with pytest.raises(SettingsError, match="No such file"):
        read_settings_file(str(tmp_path / "missing.cfg"))


def _fix_sim(port, store, creds_file, status):
    return subprocess.Popen(
        [sys.executable, "-m", "tickpipe.cli.main", "venue", "fix-sim", "--port", str(port),
         "--store", store, "--book", "SYM0=100.00/100.01x50/20", "--walk-ms", "0",
         "--credentials", creds_file, "--status-file", status],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TICKPIPE_FIX_")})


def _process_state(pid) -> str:
    """The process's state letter (/proc/PID/stat): 'T' once a SIGSTOP has taken hold."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _status(path):
    with open(path) as f:
        return json.load(f)


def test_venue_killed_and_restarted_mid_run(tmp_path):
    """kill -9 of the venue with an order in flight: the session goes DOWN (new orders
    refused, a cancel queued), logs on again when the venue is back, the order it never
    read is resent with PossDupFlag and taken once, open orders are reconciled with
    OrderStatusRequest, the queued cancel goes out, and every report the venue ever
    sent arrives exactly once."""
    port = free_port()
    creds_file = tmp_path / "creds"
    creds_file.write_text(f"username = {CREDS.username}\npassword = {CREDS.password}\n")
    creds_file.chmod(0o600)
    store, status = str(tmp_path / "sim"), str(tmp_path / "status.json")
    sim = _fix_sim(port, store, str(creds_file), status)
    session = FixSession(initiator(port, str(tmp_path / "ini")), CREDS)
    try:
        session.start(timeout_s=60)   # the first start may load the venue's kernels
        reports = Reports(session)
        for order_id in (1, 2):       # two resting buys below the bid
            session.new(order_id, "SYM0", 1, 5, PX - order_id * TICK)
        reports.wait(2)
        sim.send_signal(signal.SIGSTOP)   # it reads nothing now: order 3 stays in its socket
        wait_for(lambda: _process_state(sim.pid) == "T", 10, "the venue to stop")
        assert session.new(3, "SYM0", 1, 7, PX - 3 * TICK) == SENT
        time.sleep(0.2)
        sim.kill()
        sim.wait(10)
        wait_for(lambda: session.state == DOWN, 10, "the session to go down")
        assert session.new(4, "SYM0", 1, 1, PX) == REFUSED_DOWN
        assert session.cancel(1) == QUEUED
        sim = _fix_sim(port, store, str(creds_file), status)
        # a loaded machine (CI runs a test file per core) may take a while to start it
        wait_for(lambda: session.state == UP or sim.poll() is not None, 180,
                 "the session to come back up")
        assert sim.poll() is None, sim.stderr.read()[-2000:]
        assert session.state == UP, session.summary()
        # order 3's NEW (from the resend), order 1's CANCELED (the queued cancel)
        reports.wait(7, timeout=20)
        wait_for(lambda: session.counts["reconciled"] == 3, 10, "three status answers")
        wait_for(lambda: os.path.exists(status) and _status(status)["logons"] >= 1, 10,
                 "the venue's status file")
    finally:
        session.stop()
        sim.send_signal(signal.SIGCONT)
        sim.terminate()
        sim.wait(10)
    venue = _status(status)
    by_order = {}
    for r in reports.all:
        if r["kind"] == "execution_report" and r["exec_type"] != 100:
            by_order.setdefault(r["order_id"], []).append(r["exec_type"])
    assert by_order == {1: [EXEC_NEW, EXEC_CANCELLED], 2: [EXEC_NEW], 3: [EXEC_NEW]}
    assert venue["poss_dup_received"] >= 1       # order 3 came again, marked as a resend
    assert venue["orders"] == 1                   # this run of the venue: order 3, once
    assert venue["working"] == 2                  # 2 and 3 rest; 1 was cancelled
    assert session.counts["reconcile_mismatches"] == 0
    assert session.counts["refused_down"] == 1 and session.counts["queued_cancels"] == 1
    exec_ids = sorted(int(r["exec_id"]) for r in reports.all if r.get("exec_id"))
    assert exec_ids == list(range(1, len(exec_ids) + 1))  # none lost, none twice


def test_fix_sim_bad_input_is_one_line(tmp_path):
    from click.testing import CliRunner

    from tickpipe.cli.main import tickpipe
    runner = CliRunner(env={name: None for name in (
        "TICKPIPE_FIX_USERNAME", "TICKPIPE_FIX_PASSWORD", "TICKPIPE_FIX_CREDENTIALS")})

    def run(*args):  # in this process: every case fails before an acceptor starts
        result = runner.invoke(tickpipe, ["venue", "fix-sim", "--store", str(tmp_path / "s"),
                                          "--seconds", "0.1", *args])
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout,
                                           result.stderr)
    out = run("--book", "SYM0=100")
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0
    assert "expected SYMBOL=BID/ASKxBIDQTY/ASKQTY" in out.stderr
    creds = tmp_path / "c"
    creds.write_text("username = a\npassword = b\n")
    creds.chmod(0o640)
    out = run("--credentials", str(creds))
    assert out.returncode == 1 and "chmod 600" in out.stderr and "Traceback" not in out.stderr
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        out = run("--port", str(taken.getsockname()[1]))
    assert (out.returncode, out.stderr.strip().count("\n")) == (1, 0)
    assert "Address already in use" in out.stderr
    (tmp_path / "file").write_text("")
    out = run("--store", str(tmp_path / "file"))
    assert out.returncode == 1 and "Not a directory" in out.stderr and "Traceback" not in out.stderr


def test_bench_fix_smoke_sends_every_order_and_loses_none():
    done = subprocess.run([sys.executable, "-m", "tickpipe.cli", "bench", "fix", "--smoke",
                           "--rate", "2000", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    latency, sustained = report["latency"], report["throughput"]
    assert latency["orders"] == 200
    for hop in ("ring", "python", "quickfix_send", "round_trip"):
        assert 0 < latency[hop]["p50_us"] <= latency[hop]["p99_us"] <= latency[hop]["max_us"]
    assert sustained["orders"] == 1000 and sustained["lost"] == 0
    assert sustained["session_rejects"] == 0 and sustained["business_rejects"] == 0
    assert sustained["duplicate_reports"] == 0
