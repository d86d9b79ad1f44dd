"""tickpipe backtest: the live kernels on recorded data, on simulated time, in one process."""

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tickpipe.engine.backtest import Backtest, BacktestError
from tickpipe.engine.backtest_sweep import SweepError, parse_grid, row_of, sweep
from tickpipe.engine.config import load_config
from tickpipe.shm_layouts.journal_file import JOURNAL_HEADER_DTYPE
from test_feed_sources import T0, quote_rows, write_csv
from test_inspect_support import REPO, one_line_error

STRATEGIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "strategies")
S = 1_000_000_000


def quote(t, bid, bq, ask, aq):
    return [T0 + t, "ACME", "quote", bid, bq, ask, aq, "", "", ""]


def trade(t, px, qty, side, bid="100.00", bq=30, ask="100.02", aq=20):
    return [T0 + t, "ACME", "trade", bid, bq, ask, aq, px, qty, side]


# Worked by hand (workers/gateway/venue.py's queue model): a buy of 10 at the bid of
# 100.00 joins behind the 30 lots shown; a sell of 25 at 100.00 leaves 5 ahead; a sell
# of 12 eats those 5 and fills 7 of ours; a trade through (99.99) fills the last 3. Ten
# lots long at 100.00, marked at the last mid 100.05: +0.50 USD, nothing realised.
HAND_ROWS = [quote(1 * S, "100.00", 30, "100.02", 20),
             trade(2 * S, "100.00", 25, "sell"),
             trade(3 * S, "100.00", 12, "sell"),
             trade(4 * S, "99.99", 1, "sell"),
             quote(5 * S, "100.04", 10, "100.06", 10)]


def hand_config(tmp_path, **venue):
    data = write_csv(tmp_path / "hand.csv", HAND_ROWS)
    return load_config(overrides={
        "feed": {"source": "file", "file": data},
        "strategy": [{"name": "one_bid", "path": os.path.join(STRATEGIES, "one_bid.py")}],
        "venue": venue})


def rester_config(path, quotes: int):
    """tests/strategies/rester.py (rests and moves orders) on `quotes` CSV quotes."""
    return load_config(overrides={
        "feed": {"source": "file", "file": write_csv(path, quote_rows(quotes))},
        "strategy": [{"name": "rester", "path": os.path.join(STRATEGIES, "rester.py")}]})


def test_backtest_when_a_resting_bid_is_traded_through_then_fills_queue_and_pnl_as_by_hand(
        tmp_path):
    report = Backtest(hand_config(tmp_path), bucket_s=1.0).run()
    assert report["state"] == "completed", report["notes"]
    assert report["backtest"]["events"] == len(HAND_ROWS)
    assert report["orders_sent"] == 1 and report["fills"] == 2  # a partial 7, then 3
    acme = report["positions"]["ACME"]
    assert acme["position"] == 10 and acme["realised_pnl_ccy"] == 0.0
    assert acme["unrealised_pnl_ccy"] == pytest.approx(0.5)
    mine = report["strategies"]["one_bid"]
    assert mine["positions"]["ACME"]["position"] == 10
    assert mine["net_pnl_ccy"] == report["net_pnl_ccy"] == {"USD": pytest.approx(0.5)}
    assert report["lost"] == 0 and report["backtest"]["simulated_s"] == pytest.approx(4.0)


def test_backtest_when_orders_take_a_second_to_arrive_then_the_queue_is_joined_later(tmp_path):
    # The buy reaches the venue at 2 s, after the first sell: 30 ahead, the sell of 12
    # leaves 18, and the trade through fills all 10 at once.
    report = Backtest(hand_config(tmp_path, latency_us=1_000_000.0), bucket_s=1.0).run()
    assert report["fills"] == 1 and report["positions"]["ACME"]["position"] == 10
    assert report["backtest"]["latency_model"]["order_entry_us"] == 1_000_000.0


def test_backtest_when_quotes_reach_the_strategy_late_then_it_joins_behind_what_it_missed(
        tmp_path):
    # Market data 1.5 s late: the strategy sees the 1 s quote at 2.5 s and its buy joins
    # then, after the sell of 25 (the venue saw it at 2 s): 30 ahead, as in the case
    # above, and the trade through fills all 10 at once. 0.5 s late: it joins at 1.5 s,
    # before the sell of 25, as with no delay (a partial, then the rest).
    late = Backtest(hand_config(tmp_path), bucket_s=1.0, feed_latency_us=1_500_000.0).run()
    assert late["fills"] == 1 and late["positions"]["ACME"]["position"] == 10
    assert late["backtest"]["latency_model"]["market_data_us"] == 1_500_000.0
    early = Backtest(hand_config(tmp_path), bucket_s=1.0, feed_latency_us=500_000.0).run()
    assert early["fills"] == 2
    # reports 10 s late: the strategy learns of its fills after the data's end (the
    # driver moves the clock to them), so its books still add up at the end
    slow = Backtest(hand_config(tmp_path), bucket_s=1.0, report_latency_us=10_000_000.0).run()
    assert slow["state"] == "completed", slow["notes"]
    assert slow["strategies"]["one_bid"]["positions"]["ACME"]["position"] == 10


def test_backtest_when_a_journal_is_asked_then_every_ring_is_in_it_and_the_same_each_run(
        tmp_path):
    import tickpipe
    journal = tickpipe.journal
    data = write_csv(tmp_path / "j.csv", quote_rows(3000))
    runs = []
    for k in range(2):
        config = load_config(overrides={
            "feed": {"source": "file", "file": data},
            "engine": {"ring_capacity": 256},  # the journal's gate holds the producers often
            "journal": {"dir": str(tmp_path / f"journal{k}")}})
        report = Backtest(config, bucket_s=0.5).run()
        assert report["state"] == "completed" and report["journal"]["complete"], report["notes"]
        runs.append(journal.open(str(tmp_path / f"journal{k}")))
    first, second = runs
    assert first.run["clock"]["simulated"]  # times shown are the data's own, not the machine's
    assert len(first.ring("quotes")) == 3000 == report["ticks"]
    assert len(first.ring("intents")) == report["intents"] > 0
    for ring in first.rings:  # the records, byte for byte (run.json names its own run)
        assert first.ring(ring).tobytes() == second.ring(ring).tobytes(), ring


def test_backtest_when_held_quotes_fill_the_ring_then_the_clock_moves_to_them(tmp_path):
    # 2,000 quotes a second, 1 s late, in rings of 256: the feed waits for the strategy
    # (as a live feed waits on backpressure) instead of the run stalling
    data = write_csv(tmp_path / "bp.csv", quote_rows(4000))
    config = load_config(overrides={"feed": {"source": "file", "file": data},
                                    "engine": {"ring_capacity": 256}})
    report = Backtest(config, bucket_s=0.5, feed_latency_us=1_000_000.0).run()
    assert report["state"] == "completed", report["notes"]
    assert report["ticks"] == 4000 and report["lost"] == 0


def test_backtest_when_the_timer_is_late_then_it_fires_once_at_each_event_after_it(tmp_path):
    # Quotes 250 ms apart, a 100 ms timer (tests/strategies/ticker.py: an IOC a firing):
    # the timer is late at every quote after the first and fires once there, never twice
    # at one time (it did: its next firing was set to now, due again at once)
    import tickpipe
    rows = [quote(k * S // 4, "100.00", 30, "100.02", 20) for k in range(1, 21)]
    config = load_config(overrides={
        "feed": {"source": "file", "file": write_csv(tmp_path / "sparse.csv", rows)},
        "strategy": [{"name": "ticker", "path": os.path.join(STRATEGIES, "ticker.py")}],
        "journal": {"dir": str(tmp_path / "journal")}})
    report = Backtest(config).run()
    assert report["state"] == "completed", report["notes"]
    sent = tickpipe.journal.open(str(tmp_path / "journal")).ring("intents")["publish_ns"]
    assert len(sent) == 19 == len(set(sent.tolist()))
    assert sent.tolist() == [T0 + k * S // 4 for k in range(2, 21)]
    # the report has the strategy's own state at the end (its last bid: 100.00), and what
    # ended the run
    assert report["strategies"]["ticker"]["state"] == {"ACME": {"bid": 100 * 10_000}}
    assert report["ended_by"] == "data-end"
    # each ring's last file is cut to its records at the end (it was allocated whole:
    # 64 MiB a ring for 20 quotes)
    journal = tickpipe.journal.open(str(tmp_path / "journal"))
    for ring in journal.rings:
        for path in journal.files(ring):
            header_size = int(np.fromfile(path, dtype=JOURNAL_HEADER_DTYPE, count=1)[0]
                              ["header_size"])
            assert os.path.getsize(path) == header_size + journal.dtype(ring).itemsize \
                * journal.count(ring), ring
    # `journal cat --from/--to` count seconds from the data's start (they counted from 1970)
    run_dir = tickpipe.journal.open(str(tmp_path / "journal")).dir
    cat = subprocess.run([sys.executable, "-m", "tickpipe.cli", "journal", "cat", run_dir,
                          "--ring", "intents", "--from", "0.3", "--to", "1.1", "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert cat.returncode == 0, cat.stderr
    rows = [json.loads(line) for line in cat.stdout.splitlines()]
    assert [row["seq"] for row in rows] == [2, 3, 4]  # sent 0.5, 0.75, 1.0 s in


def _journal_and_report(config, directory, **options) -> tuple[dict, dict]:
    """A backtest's every ring, as bytes, and its report less the wall-clock figures."""
    import tickpipe
    config["journal"]["dir"] = str(directory)
    report = Backtest(config, bucket_s=0.5, **options).run()
    report.pop("timing")
    journal = report.pop("journal")  # its folder, and how often its gate held a producer
    report["journal_records"] = journal["records"]
    run = tickpipe.journal.open(str(directory))
    return {ring: run.ring(ring).tobytes() for ring in run.rings}, report


@pytest.mark.parametrize("spacing_ms", [0.5, 150])
def test_backtest_when_idle_passes_are_skipped_then_the_results_are_every_pass_ones(
        tmp_path, spacing_ms):
    # The driver gives a role a pass only when it can do something (engine/backtest.py
    # `wanted`); the reference gives every role a pass in every round. Three strategies
    # (resting and moving orders; a timer on one symbol of two, so it fires at times
    # with no quote of its own; a market maker on a timer), latencies on
    # every leg, rings of 256 that the journal's gate holds: the same records, byte for
    # byte, and the same report. Quotes 0.5 ms apart, and 150 ms (the timers late).
    rows = quote_rows(1500, spacing_ns=int(spacing_ms * 1e6))
    config = load_config(overrides={
        "feed": {"source": "file", "file": write_csv(tmp_path / "q.csv", rows)},
        "engine": {"ring_capacity": 256},
        "venue": {"latency_us": 300.0},
        "strategy": [{"name": "rester", "path": os.path.join(STRATEGIES, "rester.py")},
                     {"name": "ticker", "path": os.path.join(STRATEGIES, "ticker.py"),
                      "symbols": ["GLOBEX"]},  # its timer fires between its quotes too
                     {"name": "as", "module": "tickpipe.workers.strategies.avellaneda_stoikov"}]})
    latencies = {"feed_latency_us": 200.0, "report_latency_us": 100.0}
    skipping = _journal_and_report(copy.deepcopy(config), tmp_path / "skipping", **latencies)
    every = _journal_and_report(copy.deepcopy(config), tmp_path / "every", every_pass=True,
                                **latencies)
    assert skipping[1]["state"] == "completed", skipping[1]["notes"]
    assert skipping[1]["fills"] > 0 and len(skipping[0]["intents"]) > 0
    assert skipping[0].keys() == every[0].keys()
    for ring in skipping[0]:
        assert skipping[0][ring] == every[0][ring], ring
    assert json.dumps(skipping[1], sort_keys=True) == json.dumps(every[1], sort_keys=True)


@pytest.mark.slow
def test_parity_when_a_live_runs_journal_is_backtested_then_the_same_orders_in_the_same_order(
        tmp_path):
    # A strategy whose orders follow from the quotes alone (tests/strategies/ladder.py):
    # live, then backtested on the live run's own journal of quotes, it sends the same
    # requests (ids, sides, prices, quantities, in order), and risk decides them alike.
    # What may differ, and is not compared: times (live ones are the machine's), and
    # anything that follows from fills or the clock (docs/backtest.md, "Parity").
    import tickpipe
    data = write_csv(tmp_path / "live.csv", quote_rows(3000))
    config = tmp_path / "ladder.toml"
    config.write_text(f'[[strategy]]\nname = "ladder"\npath = "{STRATEGIES}/ladder.py"\n')
    live = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", str(config), "--data", data,
                           "--speed", "0", "--journal", str(tmp_path / "live"), "--json",
                           "--name", f"parity-{os.getpid()}"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert live.returncode == 0, live.stderr
    run = tickpipe.journal.open(str(tmp_path / "live"))
    replayed = _cli(str(config), "--data", run.dir, "--journal", str(tmp_path / "bt"), "--json")
    assert replayed.returncode == 0, replayed.stderr
    backtest = tickpipe.journal.open(str(tmp_path / "bt"))
    fields = ["order_id", "side", "limit_px", "qty", "request", "symbol_id"]
    sent_live, sent_bt = (j.ring("intents")[fields] for j in (run, backtest))
    assert len(sent_live) >= 100  # a buy every 25th quote of a symbol
    assert sent_live.tolist() == sent_bt.tolist()
    decided = ["order_id", "side", "limit_px", "qty", "reject_reason"]
    assert run.ring("orders")[decided].tolist() == backtest.ring("orders")[decided].tolist()


def test_backtest_when_latencies_are_a_recorded_distribution_then_drawn_per_record_the_same_each_run(
        tmp_path):
    from tickpipe.engine.backtest_latency import read_latency_file
    config = rester_config(tmp_path / "dist.csv", 3000)
    samples = tmp_path / "latency.json"
    samples.write_text(json.dumps({"order_entry_us": [50, 400, 2000, 9000],
                                   "market_data_us": [10, 20, 300], "reports_us": [5]}))
    latencies = read_latency_file(str(samples))
    runs = [Backtest(config, bucket_s=0.5, latencies=latencies).run() for _ in range(2)]
    for run in runs:
        assert run["state"] == "completed", run["notes"]
        run.pop("timing")
    assert json.dumps(runs[0], sort_keys=True) == json.dumps(runs[1], sort_keys=True)
    model = runs[0]["backtest"]["latency_model"]
    assert model["kind"] == "distribution" and model["order_entry_us"]["samples"] == 4
    assert model["order_entry_us"]["max"] == 9000 and model["reports_us"] == 5
    constant = Backtest(config, bucket_s=0.5).run()  # the draws change what happens
    assert (constant["fills"], constant["net_pnl_ccy"]) != (runs[0]["fills"],
                                                           runs[0]["net_pnl_ccy"])
    # a live run's report: its hops' percentiles become the distribution
    report = tmp_path / "live.json"
    hop = {"count": 10, "p50": 20_000, "p90": 40_000, "p99": 90_000, "p999": 95_000,
           "max": 100_000}
    report.write_text(json.dumps({"hops_ns": {name: hop for name in (
        "feed_to_strategy", "strategy_to_risk", "risk_to_gateway", "gateway_to_strategy")}}))
    from_live = read_latency_file(str(report))
    assert sorted(set(from_live["market_data_us"])) == [20.0, 40.0, 90.0, 100.0]
    assert from_live["order_entry_us"][0] == 40.0  # two hops' p50s
    for bad, message in ((b"{nope", "not JSON"), (b'{"order_entry_us": [-1]}', ">= 0"),
                         (b'{"feed": [1]}', "keys must be among")):
        (tmp_path / "bad.json").write_bytes(bad)
        with pytest.raises(BacktestError, match=message):
            read_latency_file(str(tmp_path / "bad.json"))


def test_backtest_plot_when_journaled_then_a_png_of_equity_position_and_fills(tmp_path):
    pytest.importorskip("matplotlib")
    data = write_csv(tmp_path / "plot.csv", quote_rows(2000))
    out = tmp_path / "bt.png"
    done = _cli("--data", data, "--journal", str(tmp_path / "j"), "--plot", str(out),
                "--bucket", "0.1", "--json")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    most = json.loads(done.stdout)["backtest"]["traded_most"]
    assert most["symbol"] in ("ACME", "GLOBEX") and len(most["t"]) == len(most["position"])
    assert "--plot" not in done.stderr
    # 1 s of data in the default 60 s buckets: one point a curve, said with the cure
    done = _cli("--data", data, "--plot", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert "--plot: 1 sample(s) of equity, one per --bucket of 60 s" in done.stderr
    assert "a smaller --bucket draws a curve" in done.stderr


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tickpipe.cli", "backtest", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)


def test_backtest_when_run_twice_in_two_processes_then_the_results_are_byte_identical(tmp_path):
    data = write_csv(tmp_path / "two.csv", quote_rows(3000))
    runs = [_cli("--data", data, "--json", "--bucket", "0.1") for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    results = [json.loads(run.stdout) for run in runs]
    for result in results:
        assert result.pop("timing")["events_per_s"] > 0  # wall-clock figures: not results
    first, second = (json.dumps(r, sort_keys=True) for r in results)
    assert first == second
    assert results[0]["backtest"]["events"] == 3000 and results[0]["orders_sent"] > 0


def test_backtest_when_a_users_strategy_file_rests_and_moves_orders_then_the_books_add_up(
        tmp_path):
    config = rester_config(tmp_path / "rest.csv", 4000)
    report = Backtest(config, bucket_s=0.5).run()
    assert report["state"] == "completed", report["notes"]  # engine/book_checks.py passed
    assert report["orders_sent"] > 20 and report["fills"] > 0 and report["lost"] == 0
    assert report["venue"]["working"] == 0  # closed as a live run closes: every order final


def test_sweep_when_a_grid_runs_over_processes_then_each_row_equals_its_single_run(tmp_path):
    data = write_csv(tmp_path / "grid.csv", quote_rows(2000))
    config = load_config(overrides={"feed": {"source": "file", "file": data}})
    grid = parse_grid(config, ["order_qty=1,3"])
    rows = sweep(config, grid, seconds=0.0, bucket_s=0.5, jobs=2)
    from tickpipe.engine.backtest_sweep import combination_config
    singles = [row_of(params, Backtest(combination_config(config, params), bucket_s=0.5,
                                       seconds=0.0).run()) for params in grid]
    assert rows == singles and [row["order_qty"] for row in rows] == [1, 3]
    assert rows[0]["fills"] != rows[1]["fills"] or rows[0]["net_pnl"] != rows[1]["net_pnl"]


@pytest.mark.parametrize("spec, message", [
    ("no_such=1,2", "--param no_such: no strategy of the config has it"),
    ("order_qty=1.5", "expected int"),
    ("order_qty", "expected NAME=V1,V2"),
    ("order_qty=abc", "not an int, a float or true/false"),
])
def test_sweep_when_the_grid_is_wrong_then_one_line_before_any_run(spec, message):
    with pytest.raises(SweepError, match=message):
        parse_grid(load_config(), [spec])


def test_backtest_cli_when_the_input_cannot_run_then_one_line_and_exit_1(tmp_path):
    assert "no strategy of the config has it" in one_line_error(
        _cli("--param", "nope=1"))
    for args, message in ((["--seconds", "-1"], "--seconds -1: must be from 0"),
                          (["--bucket", "0"], "--bucket 0: must be from 0.001"),
                          (["--seconds", "0"], "needs --seconds > 0"),
                          (["--csv"], "--csv prints a sweep's rows"),
                          (["--param", "order_qty=1,2", "--plot", "x.png"], "not with --param")):
        assert message in one_line_error(_cli(*args))
    config = tmp_path / "rate0.toml"
    config.write_text("[engine]\nrate = 0\n")
    assert "needs [engine] rate > 0" in one_line_error(_cli(str(config)))
    assert "No such file" in one_line_error(_cli("--data", str(tmp_path / "missing.csv")))
    with pytest.raises(BacktestError, match="live source"):
        Backtest(load_config(overrides={"feed": {"source": "live"}, "instrument": [
            {"name": "AAPL", "tick_size": 100}]}))


@pytest.mark.slow
def test_bench_backtest_smoke_when_run_then_the_sweep_rows_equal_the_runs_in_turn():
    done = subprocess.run([sys.executable, "-m", "tickpipe.cli", "bench", "backtest", "--smoke",
                           "--json"], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    sweep = report["sweep"]  # (bench/backtest_peer.py asserts the rows equal)
    assert sweep["combinations"] == 8 and sweep["sweep_s"] > 0 and sweep["sequential_s"] > 0
    if "tickpipe" in report:  # hftbacktest installed (the `peers` extra)
        assert report["tickpipe"]["events_per_s"] > 0 and report["hftbacktest"]["events_per_s"] > 0
        assert report["tickpipe"]["fills"] > 0


def test_journal_when_written_by_layout_8_then_it_still_reads_and_a_foreign_one_does_not(
        tmp_path):
    # layout 9 moved the rings' order and the control block; no record changed, so a
    # journal of layout 8 reads (shm_layouts JOURNAL_READABLE_LAYOUTS); another is refused
    import glob
    import tickpipe
    from tickpipe.shm_layouts import JOURNAL_READABLE_LAYOUTS
    from tickpipe.workers.journal.reader import JournalError
    data = write_csv(tmp_path / "old.csv", quote_rows(500))
    config = load_config(overrides={"feed": {"source": "file", "file": data},
                                    "journal": {"dir": str(tmp_path / "j")}})
    Backtest(config).run()
    run = tickpipe.journal.open(str(tmp_path / "j"))
    quotes = run.ring("quotes").tobytes()

    def stamp(hash_value):
        path = os.path.join(run.dir, "run.json")
        meta = json.load(open(path))
        meta["layout_hash"] = hash_value
        json.dump(meta, open(path, "w"))
        for name in glob.glob(os.path.join(run.dir, "*.tpj")):  # each file's header
            with open(name, "r+b") as f:
                f.seek(16)
                f.write(int(hash_value).to_bytes(8, "little"))

    stamp(next(iter(JOURNAL_READABLE_LAYOUTS)))
    assert tickpipe.journal.open(run.dir).ring("quotes").tobytes() == quotes
    stamp(0x1234)
    with pytest.raises(JournalError, match="another tickpipe layout"):
        tickpipe.journal.open(run.dir)
