"""Two engines joined by a bridge (workers/bridge_out/, workers/bridge_in/) over ZeroMQ
on loopback: real engines, real sockets. The feed engine's market data reaches the
trader engine's strategy, which trades on it; every record the one sent is received by
the other exactly once, or reported in a gap."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

pytest.importorskip("zmq", reason="the bridges need the extra: pip install 'tickpipe[bridge]'")

from engine_runs import EngineProcess, assert_reconciles, unique_name  # noqa: E402
from tickpipe.engine.loopback import free_port  # noqa: E402
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_RUNNING  # noqa: E402
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE  # noqa: E402
from tickpipe.workers.bridge_in.role import (  # noqa: E402
    IN_GAPS, IN_GAP_RECORDS, IN_RECORDS, IN_REFUSED, ROLE as IN_ROLE,
)
from tickpipe.workers.bridge_out.role import OUT_PEERS, ROLE as OUT_ROLE  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_LOCAL = os.path.join(REPO, "examples", "two-hosts", "run-local")


def _feed_config(tmp_path, port: int, extra: str = "") -> str:
    path = tmp_path / "feed.toml"
    path.write_text(f'[engine]\nrate = 2000\n[[bridge]]\ndirection = "out"\n'
                    f'listen = "tcp://127.0.0.1:{port}"\n{extra}')
    return str(path)


def _trader_config(tmp_path, port: int, extra: str = "", name: str = "trader.toml") -> str:
    path = tmp_path / name
    path.write_text(f'[feed]\nsource = "bridge"\n{extra}[[bridge]]\ndirection = "in"\n'
                    f'connect = "tcp://127.0.0.1:{port}"\n')
    return str(path)


def _in_counter(segment, slot: int) -> int:
    return int(segment.view("workers", WORKER_DTYPE)[IN_ROLE.row]["counters"][slot])


def test_run_local_two_engines_trade_and_every_record_is_accounted_for():
    """examples/two-hosts/run-local: the feed engine's ticks reach the trader engine, whose
    market maker trades on them; what the one sent, the other received, once each, and
    its feed passed on (no gap, no duplicate, nothing dropped or left unsent)."""
    out = subprocess.run([sys.executable, RUN_LOCAL, "3", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout
    feed, trader = (json.loads(line) for line in lines)
    assert (feed["engine_role"], trader["engine_role"]) == ("feed", "trader")
    sent, received = feed["bridge_out"], trader["bridge_in"]
    assert feed["state"] == "stopped" and feed["ticks"] > 0
    assert sent["records"] == feed["ticks"]         # md_venue: every tick the feed made
    assert sent["dropped"] == sent["unsent"] == 0
    assert received["records"] == sent["records"]
    assert received["gaps"] == received["duplicates"] == received["unreadable"] == 0
    assert trader["ticks"] == received["records"]   # the trader's feed passed each one on
    assert_reconciles(trader)
    assert trader["orders_sent"] > 0 and trader["fills"] > 0
    assert feed["orders_sent"] == 0                  # the feed engine's strategy watches


def test_receiving_engine_restarted_mid_run_reports_the_gap(tmp_path):
    """The trader engine stopped and started again while the feed engine runs: what the
    first one acknowledged (everything it put on its ring, told at its close) is the
    second one's gap, counted, said, and shown by `tickpipe inspect`; what was on its way
    to the first one is sent again to the second. With the gap, the second accounts for
    every record the feed engine sent, each once."""
    port = free_port()
    feed = EngineProcess(unique_name("brfeed"), "--seconds", "0",
                         config_file=_feed_config(tmp_path, port))
    first = second = None
    try:
        first = EngineProcess(unique_name("brone"), "--seconds", "0",
                              config_file=_trader_config(tmp_path, port))
        segment = first.wait_running()
        first.wait_until(lambda: _in_counter(segment, IN_RECORDS) > 1000, "1,000 records")
        segment.close()
        before = first.stop()["bridge_in"]
        second = EngineProcess(unique_name("brtwo"), "--seconds", "0",
                               config_file=_trader_config(tmp_path, port))
        segment = second.wait_running()
        second.wait_until(lambda: _in_counter(segment, IN_GAPS) >= 1, "the gap reported")
        shown = subprocess.run([sys.executable, "-m", "tickpipe.cli", "inspect", second.name,
                                "--json", "--sample", "0"], capture_output=True, text=True,
                               timeout=120)
        assert json.loads(shown.stdout)["bridge_in"]["gaps"] >= 1, shown.stderr
        sent = feed.stop()["ticks"]  # md_venue's records: every tick the feed made
        second.wait_until(lambda: _in_counter(segment, IN_RECORDS)
                          + _in_counter(segment, IN_GAP_RECORDS) >= sent, "the last records")
        segment.close()
        report = second.stop()
    finally:
        for engine in (feed, first, second):
            if engine is not None:
                engine.kill()
    after = report["bridge_in"]
    assert before["records"] > 1000
    assert 0 < after["gap_records"] <= before["records"] and after["gaps"] == 1
    assert after["records"] + after["gap_records"] == sent
    assert report["ticks"] == after["records"]
    assert "GAPS" in after["summary"]
    assert_reconciles(report)


def test_two_trader_engines_on_one_feed_engine_each_get_every_record_and_one_leaving_holds_none(
        tmp_path):
    """One out bridge, two in bridges (two trader engines): each is a peer of its own
    (HELLO), sent every record from its own position; the gate follows the slower. The
    first trader stops (BYE): the feed engine goes on past many a ring's worth of records
    (the one that left holds no gate), the second receives them all. Every record the
    feed made is, at each trader, received once or in a gap; what the out bridge sent a
    first time is what the two received, and what was on its way to the first."""
    port = free_port()
    feed_config = tmp_path / "feed.toml"
    feed_config.write_text(f'[engine]\nrate = 2000\nring_capacity = 4096\n[[bridge]]\n'
                           f'direction = "out"\nlisten = "tcp://127.0.0.1:{port}"\n')
    traders, feed = [], None
    try:
        for k in range(2):  # before the feed engine: both take its stream from the start
            traders.append(EngineProcess(unique_name(f"brpeer{k}"), "--seconds", "0",
                                         config_file=_trader_config(tmp_path, port,
                                                                    name=f"t{k}.toml")))
        feed = EngineProcess(unique_name("brpeers"), "--seconds", "0",
                             config_file=str(feed_config))
        feed_segment = feed.wait_running()
        out_row = feed_segment.view("workers", WORKER_DTYPE)[OUT_ROLE.row]["counters"]
        segments = [trader.wait_running() for trader in traders]
        for trader, segment in zip(traders, segments):
            trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > 500, "500 records")
        assert int(out_row[OUT_PEERS]) == 2
        segments[0].close()
        first = traders[0].stop()["bridge_in"]
        feed.wait_until(lambda: int(out_row[OUT_PEERS]) == 1, "the first trader's BYE")
        received = _in_counter(segments[1], IN_RECORDS)
        # three rings' worth after the first left: its gate would have held the feed
        traders[1].wait_until(lambda: _in_counter(segments[1], IN_RECORDS)
                              > received + 3 * 4096, "three rings' worth after the BYE")
        feed_segment.close()
        sent_report = feed.stop()
        traders[1].wait_until(lambda: _in_counter(segments[1], IN_RECORDS)
                              + _in_counter(segments[1], IN_GAP_RECORDS)
                              >= sent_report["ticks"], "the last records")
        segments[1].close()
        second_report = traders[1].stop()
    finally:
        for engine in [feed, *traders]:
            if engine is not None:
                engine.kill()
    second, sent = second_report["bridge_in"], sent_report["bridge_out"]
    assert sent_report["state"] == "stopped" and sent["unsent"] == 0
    assert second["records"] + second["gap_records"] == sent_report["ticks"]
    assert second["duplicates"] == first["duplicates"] == 0
    assert first["records"] + first["gap_records"] < sent_report["ticks"]
    # sent a first time: what each put on its ring, and what was on its way to the first
    # when it left (at most ZeroMQ's queue of 64 messages each way)
    assert 0 <= sent["records"] - first["records"] - second["records"] <= 2 * 64 * 64
    assert sent["peers"] == 1 and sent["acked"] == sent_report["ticks"]
    assert second["records"] == second_report["ticks"]
    assert_reconciles(second_report)


def test_killed_out_bridge_with_two_peers_waits_for_both_and_neither_has_a_gap(tmp_path):
    """kill -9 of the out bridge while two trader engines take its stream: the restarted
    worker knows no peer until each says HELLO again, and its gate waits for as many as
    there were, so the first back does not move it past the other's place (which would
    be a gap there). Each trader then has every record the feed made, once, and no gap
    but the one it may have had from joining second."""
    port = free_port()
    traders, feed = [], None
    try:
        for k in range(2):
            traders.append(EngineProcess(unique_name(f"brrj{k}"), "--seconds", "0",
                                         config_file=_trader_config(tmp_path, port,
                                                                    name=f"rj{k}.toml")))
        feed = EngineProcess(unique_name("brrjf"), "--seconds", "0",
                             config_file=_feed_config(tmp_path, port))
        feed_segment = feed.wait_running()
        row = feed_segment.view("workers", WORKER_DTYPE)[OUT_ROLE.row]
        segments = [trader.wait_running() for trader in traders]
        for trader, segment in zip(traders, segments):
            trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > 500, "500 records")
        # (the trader that became a peer second may have a gap from before: its start)
        gaps_before = [_in_counter(segment, IN_GAP_RECORDS) for segment in segments]
        pid = int(row["pid"])
        os.kill(pid, signal.SIGKILL)
        feed.wait_until(lambda: int(row["pid"]) != pid, "the out bridge restarted")
        for trader, segment in zip(traders, segments):
            received = _in_counter(segment, IN_RECORDS)
            trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > received + 1000,
                              "1,000 records after the restart")
        feed_segment.close()
        sent_report = feed.stop()
        reports = []
        for trader, segment in zip(traders, segments):
            trader.wait_until(lambda: _in_counter(segment, IN_RECORDS)
                              + _in_counter(segment, IN_GAP_RECORDS) >= sent_report["ticks"],
                              "the last records")
            segment.close()
            reports.append(trader.stop())
    finally:
        for engine in [feed, *traders]:
            if engine is not None:
                engine.kill()
    assert sent_report["state"] == "stopped" and sent_report["bridge_out"]["unsent"] == 0
    for report, gap_before in zip(reports, gaps_before):
        received = report["bridge_in"]
        assert received["gap_records"] == gap_before  # none from the restart
        assert received["records"] + received["gap_records"] == sent_report["ticks"]
        assert received["records"] == report["ticks"]


def test_a_peer_with_another_layout_is_refused_in_one_line(tmp_path):
    """A trader engine whose instruments are not the feed engine's: its records would mean
    other symbols and prices here. The out bridge does not take it as a peer (it would
    hold the gate for every other trader) and sends it its header alone; the in bridge
    refuses that, and the engine stops with one line naming both layouts (exit 1). A
    trader of the right layout beside it goes on receiving."""
    port = free_port()
    feed = EngineProcess(unique_name("brlay"), "--seconds", "0",
                         config_file=_feed_config(tmp_path, port))
    good = None
    try:
        good = EngineProcess(unique_name("brgood"), "--seconds", "0",
                             config_file=_trader_config(tmp_path, port, name="good.toml"))
        segment = good.wait_running()
        out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run",
                              _trader_config(tmp_path, port, "symbols = 2\n"), "--seconds",
                              "0", "--name", unique_name("brother")],
                             capture_output=True, text=True, timeout=600)
        received = _in_counter(segment, IN_RECORDS)
        good.wait_until(lambda: _in_counter(segment, IN_RECORDS) > received + 1000,
                        "1,000 records after the other trader was refused")
        feed_segment = feed.wait_running()
        peers = int(feed_segment.view("workers", WORKER_DTYPE)[OUT_ROLE.row]["counters"]
                    [OUT_PEERS])
        feed_segment.close()
        segment.close()
    finally:
        for engine in (feed, good):
            if engine is not None:
                engine.kill()
    assert out.returncode == 1, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "another layout" in last and "refused" in last, out.stderr
    assert peers == 1  # the good trader only


def test_bridge_bad_config_is_one_line(tmp_path):
    """Each mistake is one line before any worker starts."""
    port = free_port()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    out_table = f'[[bridge]]\ndirection = "out"\nlisten = "tcp://127.0.0.1:{port}"\n'
    cases = [
        ('[[bridge]]\ndirection = "sideways"\n', [], "must be 'out'"),
        (out_table + 'ring = "nope"\n', [], "is not a ring of this engine"),
        (out_table + 'ring = "orders"\n', [], "does not carry market data"),
        (out_table + out_table, [], "two tables"),
        (out_table, ["--journal", str(tmp_path / "j")], "has one gate"),
        (f'[[bridge]]\ndirection = "out"\nlisten = "tcp://127.0.0.1:{taken}"\n', [],
         "cannot listen on"),
        (f'[[bridge]]\ndirection = "in"\nconnect = "tcp://127.0.0.1:{port}"\n', [],
         "set [feed] source = 'bridge'"),
        ('[feed]\nsource = "bridge"\n', [], "needs a [[bridge]] table"),
        ('[[bridge]]\ndirection = "out"\nlisten = "tcp://127.0.0.1:99999"\n', [],
         "port '99999' is not 1-65535"),
        ('[feed]\nsource = "bridge"\n[[bridge]]\ndirection = "in"\n'
         'connect = "tcp://no-such-host.invalid:5701"\n', [], "does not resolve"),
        (out_table + 'policy = "newest"\n', [], "[[bridge]] direction = 'out': policy"),
        (out_table + 'secret_key = "keys/feed.key_secret"\n', [],
         "secret_key is set and client_keys is not"),
        (out_table + 'secret_key = "keys/feed.key"\nclient_keys = "keys"\n', [],
         "holds a public key only"),
        (out_table + 'secret_key = "nope.key_secret"\nclient_keys = "keys"\n', [],
         "is not a file"),
        (out_table + 'secret_key = "keys/feed.key_secret"\nclient_keys = "empty"\n', [],
         "holds no public .key file"),
        ('[feed]\nsource = "bridge"\n[[bridge]]\ndirection = "in"\n'
         f'connect = "tcp://127.0.0.1:{port}"\nserver_key = "keys/feed.key"\n', [],
         "server_key is set and secret_key is not"),
        ('[feed]\nsource = "bridge"\n[[bridge]]\ndirection = "in"\n'
         f'connect = "tcp://127.0.0.1:{port}"\nserver_key = "keys/feed.key_secret"\n'
         'secret_key = "keys/feed.key_secret"\n', [], "holds a secret key"),
    ]
    _keys(tmp_path, "feed")
    (tmp_path / "empty").mkdir()
    from click.testing import CliRunner
    from tickpipe.cli.main import tickpipe
    try:
        for k, (text, args, expected) in enumerate(cases):
            path = tmp_path / f"bad{k}.toml"
            path.write_text(text)
            out = CliRunner().invoke(tickpipe, ["run", str(path), "--seconds", "1", "--name",
                                                unique_name("brbad"), *args])
            assert out.exit_code == 1, (text, out.output)
            lines = out.output.strip().splitlines()
            assert expected in lines[-1] and "Traceback" not in out.output, (text, out.output)
    finally:
        busy.close()


@contextlib.contextmanager
def _bridged(tmp_path, tag: str):
    """A feed engine and a trader engine joined on loopback, 1,000 records across: yields
    (feed, trader, the trader's segment); both killed at the end, whatever happened (a
    test stops them first for their reports)."""
    port = free_port()
    feed = EngineProcess(unique_name(f"{tag}f"), "--seconds", "0",
                         config_file=_feed_config(tmp_path, port))
    trader = None
    try:
        trader = EngineProcess(unique_name(f"{tag}t"), "--seconds", "0",
                               config_file=_trader_config(tmp_path, port))
        segment = trader.wait_running()
        trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > 1000, "1,000 records")
        yield feed, trader, segment
    finally:
        for engine in (feed, trader):
            if engine is not None:
                engine.kill()


def test_killed_out_bridge_resends_and_duplicates_are_dropped(tmp_path):
    """kill -9 of the out bridge's worker mid-run: the supervisor restarts it at its gate.
    Records it had sent and the in bridge had not acknowledged come again and are dropped
    as duplicates; records ZeroMQ had queued die with it and are asked for again. The
    receiver has every record once: no gap."""
    with _bridged(tmp_path, "brkill") as (feed, trader, segment):
        feed_segment = feed.wait_running()
        row = feed_segment.view("workers", WORKER_DTYPE)[OUT_ROLE.row]
        pid = int(row["pid"])
        os.kill(pid, signal.SIGKILL)
        feed.wait_until(lambda: int(row["pid"]) != pid, "the out bridge restarted")
        received = _in_counter(segment, IN_RECORDS)
        trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > received + 1000,
                          "1,000 records after the restart")
        feed_segment.close()
        sent_report = feed.stop()
        sent = sent_report["bridge_out"]["records"]
        trader.wait_until(lambda: _in_counter(segment, IN_RECORDS)
                          + _in_counter(segment, IN_GAP_RECORDS)
                          >= sent_report["ticks"], "the last records")
        segment.close()
        report = trader.stop()
    after = report["bridge_in"]
    restarts = next(w["restarts"] for w in sent_report["workers"] if w["role"] == "bridge_out")
    assert restarts == 1
    assert sent >= sent_report["ticks"]  # resent records count again on the sender's side
    assert after["gap_records"] == 0 and after["records"] == sent_report["ticks"]
    assert after["records"] == report["ticks"]
    assert_reconciles(report)


def test_killed_in_bridge_asks_again_for_what_died_with_it(tmp_path):
    """kill -9 of the in bridge's worker mid-stream: what its socket had received and not
    put on the ring dies with it, unacknowledged. The restarted worker asks for it again
    (a RESEND), the out bridge still holds it behind its gate: every record arrives, once,
    with no gap."""
    with _bridged(tmp_path, "brik") as (feed, trader, segment):
        row = segment.view("workers", WORKER_DTYPE)[IN_ROLE.row]
        for _ in range(2):
            pid = int(row["pid"])
            received = _in_counter(segment, IN_RECORDS)
            os.kill(pid, signal.SIGKILL)
            trader.wait_until(lambda: int(row["pid"]) != pid, "the in bridge restarted")
            trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > received + 1000,
                              "1,000 records after the restart")
        sent_report = feed.stop()
        trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) >= sent_report["ticks"],
                          "the last records")
        segment.close()
        report = trader.stop()
    after, sent = report["bridge_in"], sent_report["bridge_out"]
    assert next(w["restarts"] for w in report["workers"] if w["role"] == "bridge_in") == 2
    assert after["gaps"] == after["gap_records"] == 0
    assert after["records"] == sent_report["ticks"] == sent["acked"] and sent["unsent"] == 0
    assert after["records"] == report["ticks"]
    assert_reconciles(report)





def _keys(tmp_path, *names) -> None:
    for name in names:
        out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "bridge-keys", name,
                              "--dir", str(tmp_path / "keys")], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_encrypted_bridge_carries_every_record_and_refuses_a_stranger(tmp_path):
    """CURVE (`tickpipe bridge-keys`): the out bridge lets in the trader whose public key is
    in its client_keys, and every record arrives; an engine with a key of its own that is
    not there is refused in the handshake, said and counted on both sides, and gets no
    record."""
    _keys(tmp_path, "feed", "trader", "stranger")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(tmp_path / "keys" / "trader.key", allowed)
    port = free_port()
    feed_config = _feed_config(tmp_path, port, 'secret_key = "keys/feed.key_secret"\n'
                                               'client_keys = "allowed"\n')
    tables = '[[bridge]]\ndirection = "in"\nconnect = "tcp://127.0.0.1:{port}"\n' \
             'secret_key = "keys/{name}.key_secret"\nserver_key = "keys/feed.key"\n'
    for name in ("trader", "stranger"):
        (tmp_path / f"{name}.toml").write_text('[feed]\nsource = "bridge"\n'
                                               + tables.format(port=port, name=name))
    feed = EngineProcess(unique_name("brcf"), "--seconds", "0", config_file=feed_config)
    trader = stranger = None
    try:
        trader = EngineProcess(unique_name("brct"), "--seconds", "0",
                               config_file=str(tmp_path / "trader.toml"))
        segment = trader.wait_running()
        trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) > 1000, "1,000 records")
        stranger = EngineProcess(unique_name("brcs"), "--seconds", "0",
                                 config_file=str(tmp_path / "stranger.toml"))
        from tickpipe.engine.segment import SegmentError, attach_segment

        def refused_running() -> bool:  # it never ticks: wait_running would wait for ever
            try:
                seen = attach_segment(stranger.name, readonly=True)
            except SegmentError:
                return False
            try:
                state = int(seen.view("control", CONTROL_DTYPE)[0]["engine_state"])
                return _in_counter(seen, IN_REFUSED) >= 1 and state == ENGINE_RUNNING
            finally:
                seen.close()
        stranger.wait_until(refused_running, "a refusal, the engine running")
        refused = attach_segment(stranger.name, readonly=True)
        assert _in_counter(refused, IN_RECORDS) == 0
        refused.close()
        turned_away = stranger.stop()
        sent_report = feed.stop()
        trader.wait_until(lambda: _in_counter(segment, IN_RECORDS) >= sent_report["ticks"],
                          "the last records")
        segment.close()
        report = trader.stop()
    finally:
        for engine in (feed, trader, stranger):
            if engine is not None:
                engine.kill()
    sent, received = sent_report["bridge_out"], report["bridge_in"]
    assert sent["encrypted"] and received["encrypted"]
    assert received["records"] == sent_report["ticks"] == sent["acked"]
    assert received["gaps"] == received["refused"] == 0 and sent["refused"] >= 1
    assert "REFUSED" in sent["summary"] and "encrypted" in received["summary"]
    assert turned_away["bridge_in"]["records"] == 0 and turned_away["bridge_in"]["refused"] >= 1
    assert_reconciles(report)


def test_bench_bridge_smoke_accounts_for_every_record():
    """`tickpipe bench bridge --smoke`: both engine runs, the real bridge workers between
    two segments (and from one to two), ZeroMQ's bare round trip; every record written
    arrives (lost 0), at each receiver."""
    out = subprocess.run([sys.executable, "-m", "tickpipe.cli", "bench", "bridge", "--smoke",
                          "--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    engines = report["engines"]
    assert engines["sent"] == engines["received"] > 0 and engines["gaps"] == 0
    assert report["engines"]["two_engines"]["orders"] > 0
    assert report["bare_round_trip"]["p50_us"] > 0
    for hop in report["hops"]:
        assert hop["one_way"]["p50_us"] > 0
        assert hop["throughput"]["lost"] == 0 and hop["throughput"]["received"] > 0
    fan = report["fan_out"]  # two in bridges on the one out bridge: each had every record
    assert fan["receivers"] == 2 and fan["lost"] == 0 and fan["received"] > 0


@pytest.fixture
def two_namespaces():
    """Two network namespaces joined by a veth pair, 10.203.0.1 and 10.203.0.2: two hosts
    as far as the sockets can tell (root and iproute2 needed, else skipped)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    tag = f"tp{os.getpid() % 100000}"
    names, link = (f"{tag}-a", f"{tag}-b"), (f"{tag}va", f"{tag}vb")
    steps = [["netns", "add", names[0]], ["netns", "add", names[1]],
             ["link", "add", link[0], "type", "veth", "peer", "name", link[1]]]
    for k, address in ((0, "10.203.0.1/24"), (1, "10.203.0.2/24")):
        steps += [["link", "set", link[k], "netns", names[k]],
                  ["-n", names[k], "addr", "add", address, "dev", link[k]],
                  ["-n", names[k], "link", "set", link[k], "up"],
                  ["-n", names[k], "link", "set", "lo", "up"]]
    try:
        for step in steps:
            made = subprocess.run(["ip", *step], capture_output=True, text=True)
            if made.returncode:
                pytest.skip(f"ip {' '.join(step)}: {made.stderr.strip()}")
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_two_engines_in_two_network_namespaces(tmp_path, two_namespaces):
    """The feed engine in one network namespace, the trader in another, joined by a veth
    pair: the bridge crosses a real link between two network stacks, and every record
    arrives once."""
    port = free_port()
    feed_config = tmp_path / "feed.toml"
    feed_config.write_text(f'[engine]\nrate = 2000\n[[bridge]]\ndirection = "out"\n'
                           f'listen = "tcp://10.203.0.1:{port}"\n')
    trader_config = tmp_path / "trader.toml"
    trader_config.write_text(f'[feed]\nsource = "bridge"\n[[bridge]]\ndirection = "in"\n'
                             f'connect = "tcp://10.203.0.1:{port}"\n')
    trader_name = unique_name("brns")
    run = [sys.executable, "-m", "tickpipe.cli", "run", "--json"]
    trader = subprocess.Popen(["ip", "netns", "exec", two_namespaces[1], *run,
                               str(trader_config), "--seconds", "0", "--name", trader_name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = subprocess.run(["ip", "netns", "exec", two_namespaces[0], *run,
                              str(feed_config), "--seconds", "3", "--name",
                              unique_name("brnsfeed")],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        feed = json.loads(out.stdout)
        from tickpipe.engine.segment import attach_segment
        from engine_runs import wait_until
        segment = attach_segment(trader_name, readonly=True)
        wait_until(lambda: _in_counter(segment, IN_RECORDS) >= feed["bridge_out"]["records"],
                   "every record at the trader")
        segment.close()
        trader.send_signal(signal.SIGINT)
        stdout, stderr = trader.communicate(timeout=600)
    finally:
        if trader.poll() is None:
            trader.kill()
            trader.wait()
    report = json.loads(stdout)
    assert report["bridge_in"]["records"] == feed["bridge_out"]["records"] == feed["ticks"]
    assert report["bridge_in"]["gaps"] == report["bridge_in"]["duplicates"] == 0
    assert_reconciles(report)
    assert report["fills"] > 0


def test_drop_oldest_with_no_peer_keeps_the_feed_engine_running(tmp_path):
    """policy = "drop-oldest" and nobody connected: the feed engine runs and trades as if
    there were no bridge (its feed never waits for the network), what the bridge could not
    send is counted as dropped, and the engine stops cleanly with nothing left unsent."""
    config = _feed_config(tmp_path, free_port(), 'policy = "drop-oldest"\n')
    report = EngineProcess(unique_name("brdrop"), "--seconds", "3",
                           config_file=config).result()
    sent = report["bridge_out"]
    assert_reconciles(report)
    assert sent["records"] == 0 and sent["dropped"] == report["ticks"] > 0
    assert sent["unsent"] == 0 and not sent["connected"]
    assert "NO PEER EVER CONNECTED" in sent["summary"]
    assert "dropped (drop-oldest" in sent["summary"]


def test_bridge_figures_reach_prometheus():
    """`tickpipe inspect --serve`'s families for the bridges: connected, records, and what
    did not arrive, from the sections inspect reads."""
    pytest.importorskip("prometheus_client")
    from prometheus_client.core import CollectorRegistry
    from prometheus_client.exposition import generate_latest
    from tickpipe.engine.metrics import bridge_families

    class Bridges:
        def collect(self):
            return bridge_families(
                "e", {"connected": 2, "records": 10, "dropped": 2, "resent": 4, "peers": 2},
                {"connected": False, "records": 7, "gap_records": 3, "duplicates": 1,
                 "resends": 5})

    registry = CollectorRegistry()
    registry.register(Bridges())
    page = generate_latest(registry).decode()
    for line in ('tickpipe_bridge_connected{direction="out",engine="e"} 1.0',
                 'tickpipe_bridge_connected{direction="in",engine="e"} 0.0',
                 'tickpipe_bridge_records_total{direction="out",engine="e"} 10.0',
                 'tickpipe_bridge_peers{engine="e"} 2.0',
                 'tickpipe_bridge_dropped_records_total{engine="e"} 2.0',
                 'tickpipe_bridge_gap_records_total{engine="e"} 3.0',
                 'tickpipe_bridge_duplicates_total{engine="e"} 1.0',
                 'tickpipe_bridge_resent_records_total{engine="e"} 4.0',
                 'tickpipe_bridge_resends_total{engine="e"} 5.0'):
        assert line in page, page
    assert bridge_families("e", None, None) == []
