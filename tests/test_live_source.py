"""The live source (workers/live_source/): Alpaca's stream through alpaca-py against a
loopback server speaking its protocol (tests/alpaca_stream_server.py), a user's own
adapter from a file, a kill -9 of the source, and the one-line refusals."""

import json
import os
import signal
import textwrap

import numpy as np
import pytest

from alpaca_stream_server import KEY, SECRET, StreamServer, quote, trade
from engine_runs import EngineProcess, unique_name
from test_feed_sources import TALLY
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import strategy_state
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.role import RoleError
from tickpipe.engine.segment import attach_segment, unlink_segment
from tickpipe.shm_layouts.market_data import PRICE_SCALE
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.live_source.adapter import prepare
from tickpipe.workers.live_source.role import LIVE_RECORDS, ROLE

pytest.importorskip("alpaca")

SYMBOLS = ("ACME", "GLOBEX")
INSTRUMENTS = "".join(f'[[instrument]]\nname = "{name}"\ntick_size = 100\n' for name in SYMBOLS)


def script(n: int, seed: int = 5) -> list[dict]:
    """n messages of the two symbols, every 7th a trade at the last quote's ask or bid;
    then one quote of a symbol the engine does not trade and one crossed quote."""
    rng = np.random.default_rng(seed)
    mids = {"ACME": 10125, "GLOBEX": 5550}  # cents
    out = []
    for i in range(n):
        symbol = SYMBOLS[i % 3 == 1]
        if i % 7 == 6:
            bid, ask = mids[symbol] - 1, mids[symbol] + 1
            out.append(trade(symbol, (ask if rng.integers(0, 2) else bid) / 100,
                             int(rng.integers(1, 9)), i))
        else:
            mids[symbol] += int(rng.integers(-1, 2))
            out.append(quote(symbol, (mids[symbol] - 1) / 100, int(rng.integers(1, 500)),
                             (mids[symbol] + 1) / 100, int(rng.integers(1, 500))))
    return out + [quote("OTHER", 1.00, 1, 1.01, 1), quote("ACME", 101.30, 5, 101.20, 5)]


def expected_tallies(messages) -> dict:
    """Per symbol, what the tally strategy (tests/test_feed_sources.py) must count: Python's
    own arithmetic over the messages, a trade's side from its symbol's last quote."""
    out, last = {}, {}
    for m in messages:
        if m["S"] not in SYMBOLS or (m["T"] == "q" and m["bp"] >= m["ap"]):
            continue
        t = out.setdefault(m["S"], [0, 0, 0, 0])
        if m["T"] == "q":
            last[m["S"]] = m
            t[0] += 1
            t[2] += round(m["bp"] * PRICE_SCALE) + 3 * round(m["ap"] * PRICE_SCALE)
            t[3] += m["bs"] + 7 * m["as"]
        else:
            t[1] += 1
            t[2] += round(m["p"] * PRICE_SCALE)
            t[3] += m["s"] * (1 if m["p"] >= last[m["S"]]["ap"] else -1)
    return out


def write_config(tmp_path, url: str, secret: str = SECRET, extra: str = "") -> str:
    (tmp_path / "tally.py").write_text(TALLY)
    credentials = tmp_path / "alpaca.toml"
    credentials.write_text(f'key = "{KEY}"\nsecret = "{secret}"\n')
    credentials.chmod(0o600)
    (tmp_path / "live.toml").write_text(textwrap.dedent(f"""
        [engine]
        ready_timeout_s = 600
        {extra}
        [feed]
        source = "live"
        [live_source]
        adapter = "alpaca"
        url = "{url}"
        credentials = "alpaca.toml"
        [[strategy]]
        name = "tally"
        path = "tally.py"
        """) + INSTRUMENTS)
    return os.fspath(tmp_path / "live.toml")


def live_records(segment) -> int:
    return int(segment.view("workers", WORKER_DTYPE)[ROLE.row]["counters"][LIVE_RECORDS])


def tally_state(tmp_path, name: str):
    """The tally strategy's state, from the engine's kept segment."""
    segment = attach_segment(name, readonly=True)
    try:
        dtype = load_plugin({"name": "tally", "path": os.fspath(tmp_path / "tally.py"),
                             "params": {}}).state_dtype
        return np.array(strategy_state(segment, 0, dtype))
    finally:
        segment.close()


def tallies(state) -> dict:
    return {name: [int(state[k][f]) for f in ("quotes", "trades", "px_sum", "qty_sum")]
            for k, name in enumerate(SYMBOLS)}


@pytest.mark.slow
def test_alpaca_stream_reaches_the_strategy_record_for_record_across_a_disconnect(tmp_path):
    messages = script(1500)
    wanted = sum(1 for m in messages if m["S"] in SYMBOLS) - 1  # less the crossed quote
    with StreamServer(messages, drop_after=400) as server:
        name = unique_name("live")
        engine = EngineProcess(name, "--seconds", "0", "--keep",
                               config_file=write_config(tmp_path, server.url))
        try:
            segment = engine.wait_running()
            engine.wait_until(lambda: live_records(segment) >= wanted,
                              f"{wanted} records from the stream")
            segment.close()
            engine.proc.send_signal(signal.SIGTERM)
            out, err = engine.proc.communicate(timeout=600)
            report = json.loads(out)
            state = tally_state(tmp_path, name)
        finally:
            engine.kill()
            unlink_segment(name)
    assert report["state"] == "stopped" and report["lost"] == 0, report["notes"]
    live = report["live_source"]
    # the crossed quote skipped; OTHER's never reached the sink (alpaca-py hands a
    # message only to the handler of a symbol subscribed to)
    assert (live["records"], live["skipped"], live["unknown_symbol"]) == (wanted, 1, 0), live
    assert (live["connects"], live["disconnects"]) == (2, 1), live
    assert server.connections == 2 and server.sent == len(messages)
    assert server.subscribed[0]["quotes"] == list(SYMBOLS)
    assert report["ticks"] == wanted  # the feed fanned out each record once
    assert tallies(state) == expected_tallies(messages)
    said = [line for line in err.splitlines() if line.startswith("live source:")]
    assert len(said) == 1 and said[0].endswith("; reconnecting"), err


@pytest.mark.slow
def test_alpaca_refusing_the_login_fails_the_run_with_its_reason(tmp_path):
    with StreamServer(script(10)) as server:
        name = unique_name("live-refused")
        engine = EngineProcess(name, config_file=write_config(tmp_path, server.url,
                                                             secret="wrong"))
        try:
            out, err = engine.proc.communicate(timeout=600)
        finally:
            engine.kill()
    assert engine.proc.returncode == 1, err
    assert "Traceback" not in err
    assert "Alpaca refused the login" in err and "auth failed" in err, err
    assert "a restart cannot help: stopping all" in err
    assert server.auth_failures == 1  # not restarted into the same refusal


USER_SOURCE = '''
import time
import tickpipe


class Replay(tickpipe.LiveSource):
    """A user's adapter: N quotes of its own making, then quiet until stopped."""

    def run(self):
        self.sink.connected()
        for i in range(N):
            symbol = self.symbols[i % len(self.symbols)]
            self.sink.quote(symbol, 10.00 + i * 0.01, 3, 10.02 + i * 0.01, 4)
        while not self.stopped:
            time.sleep(0.01)

    def stop(self):
        self.stopped = True

    stopped = False
'''


@pytest.mark.slow
def test_a_users_adapter_from_a_file_feeds_the_engine_and_a_kill_9_of_it_loses_nothing(
        tmp_path):
    n = 3000
    (tmp_path / "my_source.py").write_text(USER_SOURCE.replace("range(N)", f"range({n})"))
    config = write_config(tmp_path, "")
    text = open(config).read().replace('adapter = "alpaca"', 'adapter = "my_source.py:Replay"')
    open(config, "w").write(text)
    name = unique_name("live-user")
    engine = EngineProcess(name, "--seconds", "0", "--keep", config_file=config)
    try:
        segment = engine.wait_running()
        row = segment.view("workers", WORKER_DTYPE)[ROLE.row]
        # killed once it has sent all of its quotes: the restarted one sends them again
        engine.wait_until(lambda: live_records(segment) >= n, f"{n} records")
        pid = int(row["pid"])
        os.kill(pid, signal.SIGKILL)
        engine.wait_until(lambda: live_records(segment) >= 2 * n, "the restarted source's")
        segment.close()
        report = engine.stop()
        state = tally_state(tmp_path, name)
    finally:
        engine.kill()
        unlink_segment(name)
    assert report["state"] == "stopped" and report["lost"] == 0, report["notes"]
    assert report["live_source"]["records"] == report["ticks"] == 2 * n
    assert [w["restarts"] for w in report["workers"] if w["role"] == "live_source"] == [1]
    assert sum(int(state[k]["quotes"]) for k in range(2)) == 2 * n


def _config(tmp_path, text: str) -> dict:
    (tmp_path / "c.toml").write_text(text)
    return load_config(os.fspath(tmp_path / "c.toml"))


@pytest.mark.parametrize("text, env, expected", [
    ('[feed]\nsource = "live"\n', {"APCA_API_KEY_ID": "k", "APCA_API_SECRET_KEY": "s"},
     "needs [[instrument]] tables"),
    ('[feed]\nsource = "live"\n' + INSTRUMENTS, {},
     "no credentials: set APCA_API_KEY_ID and APCA_API_SECRET_KEY"),
    ('[feed]\nsource = "live"\n[live_source]\nadapter = "nope"\n' + INSTRUMENTS, {},
     "expected 'alpaca', 'module:Class' or 'file.py:Class'"),
    ('[feed]\nsource = "live"\n[live_source]\nadapter = "no_such_module:X"\n' + INSTRUMENTS,
     {}, "No module named 'no_such_module'"),
    ('[feed]\nsource = "live"\n[live_source]\nadapter = "json:JSONDecoder"\n' + INSTRUMENTS,
     {}, "JSONDecoder is not a class derived from tickpipe.LiveSource"),
    ('[feed]\nsource = "live"\n[live_source]\nadapter = "gone.py:X"\n' + INSTRUMENTS,
     {}, "no file"),
])
def test_a_live_source_that_cannot_start_is_one_line(tmp_path, monkeypatch, text, env,
                                                     expected):
    for variable in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(RoleError, match=None) as raised:
        prepare(_config(tmp_path, text))
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_credentials_others_may_read_are_refused(tmp_path):
    (tmp_path / "keys.toml").write_text('key = "k"\nsecret = "s"\n')
    (tmp_path / "keys.toml").chmod(0o644)
    config = _config(tmp_path, '[feed]\nsource = "live"\n[live_source]\ncredentials = '
                     '"keys.toml"\n' + INSTRUMENTS)
    assert config["live_source"]["credentials"] == os.fspath(tmp_path / "keys.toml")
    with pytest.raises(RoleError, match="mode 0644 lets others read it; chmod 600 it"):
        prepare(config)
    (tmp_path / "keys.toml").chmod(0o600)
    prepare(config)  # and then it starts
