"""The journal (workers/journal, docs/journal.md): a real engine's every ring on disk,
each record once (the reader checks every seq), across kill -9s of the journal and of
the strategy in the same run; its tools; the P&L recipe against the report; a journal
replayed as the feed; and the bad inputs, each one line."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from engine_runs import EngineProcess, unique_name
from tickpipe.cli.inspect_format import format_snapshot
from tickpipe.cli.main import tickpipe
from tickpipe.engine.snapshot import Inspector
from tickpipe.engine.ring import RingConsumer, RingProducer, ring_header
from tickpipe.shm_layouts.journal_file import JOURNAL_RECORDS_COUNT_OFFSET
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.ring_header import RING_GATE_OFFSET
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_RUNNING
from tickpipe.workers.journal.files import JournalError
from tickpipe.workers.journal.reader import open as open_journal
from tickpipe.workers.journal.role import ROLE as JOURNAL

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")

# Small rings (every ring wraps hundreds of times) and 1 MiB files (the ticks roll
# over several): the journal's paths that matter run in a short run.
CONFIG = """
[engine]
ring_capacity = 256
rate = 50000
seconds = {seconds}

[journal]
roll_mb = 1
"""

TICK_FIELDS = ["symbol_id", "kind", "aggressor_side", "trade_qty", "bid_px", "ask_px",
               "trade_px", "bid_qty", "ask_qty"]


def write_config(tmp_path, seconds: float, name="engine.toml") -> str:
    path = tmp_path / name
    path.write_text(CONFIG.format(seconds=seconds))
    return os.fspath(path)


def _journal_row(segment):
    return segment.view("workers", WORKER_DTYPE)[JOURNAL.row]


@pytest.fixture(scope="module")
def journaled(tmp_path_factory):
    """One run with a journal, in which the journal is killed (kill -9) twice and the
    strategy once: (its report, the journal's run folder). Every test of this file
    that reads a journal reads this one."""
    tmp_path = tmp_path_factory.mktemp("journaled")
    engine = EngineProcess(unique_name("journal"), "--journal", os.fspath(tmp_path / "j"),
                           config_file=write_config(tmp_path, 0))
    try:
        segment = engine.wait_running()
        row = _journal_row(segment)
        strategy = segment.view("workers", WORKER_DTYPE)[1]
        for victim, done in ((row, 20_000), (strategy, 60_000), (row, 100_000)):
            engine.wait_until(lambda: int(row["counters"][0]) >= done, f"{done} records journaled")
            restarts = int(victim["restarts"])
            os.kill(int(victim["pid"]), signal.SIGKILL)
            engine.wait_until(lambda: int(victim["restarts"]) > restarts and
                              int(victim["state"]) == WORKER_RUNNING,
                              "the victim restarted and running")
        records = int(row["counters"][0])
        engine.wait_until(lambda: int(row["counters"][0]) > records + 10_000,
                          "the journal going on after its restart")
        segment.close()
        inspector = Inspector.attach(engine.name)  # what `tickpipe inspect` shows of it
        try:
            seen = inspector.sampled_snapshot(0).data
        finally:
            inspector.close()
        report = engine.stop()
        report["inspected"] = seen
    finally:
        engine.kill()
    assert report["state"] == "stopped", report["failures"]
    return report, report["journal"]["dir"]


def test_a_journal_holds_every_record_of_every_ring_once_across_kill_9s(journaled):
    report, run_dir = journaled
    restarts = {worker["role"]: worker["restarts"] for worker in report["workers"]}
    assert restarts["journal"] == 2 and restarts["strategy"] == 1
    journal = open_journal(os.path.dirname(run_dir))  # the folder of runs: its latest
    assert journal.dir == run_dir and report["journal"]["complete"]
    rings = {ring: journal.ring(ring) for ring in journal.rings}  # each seq checked in order
    assert set(rings) == {"quotes", "fills_strategy", "intents", "fills_risk", "orders",
                          "md_venue"}
    assert len(rings["quotes"]) == len(rings["md_venue"]) == report["ticks"] > 50_000
    assert len(rings["intents"]) == len(rings["orders"]) == report["intents"] > 0
    assert len(rings["fills_strategy"]) == len(rings["fills_risk"]) > 0
    assert sum(map(len, rings.values())) == report["journal"]["records"]
    assert len(journal.files("quotes")) > 1  # 16,384 ticks a file: it rolled
    # the feed wrote each tick to both rings: the same ticks, in the same order
    for field in TICK_FIELDS:
        assert np.array_equal(rings["quotes"][field], rings["md_venue"][field]), field


def test_inspect_shows_the_journal_and_how_far_behind_each_ring_it_is(journaled):
    report, _ = journaled
    seen = report["inspected"]
    assert seen["journal"]["records"] > 0 and set(seen["journal"]["lag"]) == set(
        ring["name"] for ring in seen["rings"])
    assert all(ring["journal_lag"] >= 0 and ring["gate"] <= ring["head"]
               for ring in seen["rings"])
    assert "\njournal: " in format_snapshot(seen)


def test_the_journal_tools_list_print_and_export_a_ring(journaled, tmp_path):
    report, run_dir = journaled
    runner = CliRunner()
    listed = runner.invoke(tickpipe, ["journal", "ls", run_dir, "--json"])
    assert listed.exit_code == 0, listed.output
    counts = {ring["ring"]: ring["records"] for ring in json.loads(listed.output)["rings"]}
    assert counts["quotes"] == report["ticks"]

    orders = open_journal(run_dir).ring("orders")
    symbol = int(orders["symbol_id"][0])
    name = f"SYM{symbol}"
    printed = runner.invoke(tickpipe, ["journal", "cat", run_dir, "--ring", "orders", "--json",
                                       "--symbol", name])
    assert printed.exit_code == 0, printed.output
    rows = [json.loads(line) for line in printed.output.splitlines()]
    assert len(rows) == int(np.count_nonzero(orders["symbol_id"] == symbol))
    assert {row["symbol"] for row in rows} == {name}
    assert [row["seq"] for row in rows] == orders["seq"][orders["symbol_id"] == symbol].tolist()

    # seconds from the run's start (its clock pair in run.json), around the middle tick
    journal = open_journal(run_dir)
    mono0 = journal.run["clock"]["monotonic_ns"]
    ticks_all = journal.ring("md_venue")
    t_from = (int(ticks_all["origin_ns"][len(ticks_all) // 3]) - mono0) / 1e9
    t_to = (int(ticks_all["origin_ns"][2 * len(ticks_all) // 3]) - mono0) / 1e9
    middle = runner.invoke(tickpipe, ["journal", "cat", run_dir, "--ring", "ticks", "--json",
                                      "--from", f"{t_from:.9f}", "--to", f"{t_to:.9f}"])
    assert middle.exit_code == 0, middle.output
    ticks = [json.loads(line) for line in middle.output.splitlines()]
    assert 0 < len(ticks) < report["ticks"]
    assert ticks == sorted(ticks, key=lambda row: row["seq"])
    inside = (ticks_all["origin_ns"] >= mono0 + round(t_from * 1e9) - 1) & \
        (ticks_all["origin_ns"] <= mono0 + round(t_to * 1e9) + 1)
    assert abs(len(ticks) - int(np.count_nonzero(inside))) <= 2  # (rounding at the ends)

    out = tmp_path / "reports.csv"
    exported = runner.invoke(tickpipe, ["journal", "export", run_dir, "--ring", "reports",
                                        "--format", "csv", "-o", os.fspath(out)])
    assert exported.exit_code == 0, exported.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,origin_ns,") and lines[0].endswith(",symbol")
    assert len(lines) - 1 == len(open_journal(run_dir).ring("fills_strategy"))


@pytest.mark.parametrize("args, message", [
    (["cat", "{run}", "--ring", "nosuch"], "no ring 'nosuch' (rings: quotes,"),
    (["cat", "{run}", "--ring", "orders", "--symbol", "NOPE"], "'NOPE' is not an instrument"),
    (["cat", "{run}", "--ring", "orders", "--from", "noon"], "neither seconds from the run's"),
    (["ls", "{empty}"], "no journal in it"),
])
def test_the_journal_tools_refuse_bad_input_in_one_line(journaled, tmp_path, args, message):
    _, run_dir = journaled
    args = [arg.format(run=run_dir, empty=os.fspath(tmp_path)) for arg in args]
    result = CliRunner().invoke(tickpipe, ["journal", *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_the_pnl_recipe_recomputes_the_reported_pnl_fill_by_fill(journaled):
    report, run_dir = journaled
    sys.path.insert(0, EXAMPLES)
    try:
        from journal_pnl import strategy_pnl
    finally:
        sys.path.remove(EXAMPLES)
    books = strategy_pnl(run_dir)
    reported = report["strategies"]["mean_reversion"]["positions"]
    assert books, "the run made no fills"
    for symbol, book in books.items():
        row = reported[symbol]
        assert (book["position"], book["cost_basis"], book["realised_pnl"], book["cash"]) == \
            (row["risk_position"], row["cost_basis"], row["realised_pnl"], row["cash"]), symbol
        assert (book["mid_px"], book["unrealised_pnl"]) == (row["mid_px"], row["unrealised_pnl"])


def test_a_journal_replayed_as_the_feed_gives_the_strategy_the_same_ticks(journaled, tmp_path):
    _, first_run = journaled
    engine = EngineProcess(unique_name("journal-replay"), "--data", first_run, "--speed", "0",
                           "--journal", os.fspath(tmp_path / "j2"),
                           config_file=write_config(tmp_path, 0))
    try:
        report = engine.result()
    finally:
        engine.kill()
    assert report["state"] == "stopped", report["failures"]
    recorded = open_journal(first_run).ring("md_venue")
    replayed = open_journal(report["journal"]["dir"]).ring("quotes")  # what the strategy read
    assert len(replayed) == len(recorded) == report["ticks"]
    for field in TICK_FIELDS:
        assert np.array_equal(replayed[field], recorded[field]), field


def test_a_gated_ring_keeps_each_slot_until_the_journal_passes_it(segments):
    segment = segments.ring(capacity=8, gated=True)
    producer = RingProducer(segment, "data", MARKET_DATA_DTYPE)
    consumer = RingConsumer(segment, "data", MARKET_DATA_DTYPE)
    batch = np.zeros(8, dtype=MARKET_DATA_DTYPE)
    assert producer.try_push(batch) == 8
    assert len(consumer.try_pop(8)) == 8       # the consumer read them all ...
    assert producer.try_push(batch) == 0       # ... the journal none: no room
    gate = segment.base_address + segment.section("data")[0] + RING_GATE_OFFSET
    from tickpipe.engine.atomics_lib import lib
    lib.tp_store_release_u64(gate, 3)          # the journal copied 3
    assert producer.try_push(batch) == 3
    assert int(ring_header(segment, "data")["full_waits"]) >= 1


def test_a_journal_dir_that_cannot_be_written_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", "--seconds", "1",
                             "--name", unique_name("journal-bad"), "--journal",
                             os.fspath(blocker / "j")], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: journal dir ")
    assert "cannot write a journal there" in result.stderr and "Traceback" not in result.stderr


def test_a_journal_of_another_layout_or_cut_short_is_read_as_far_as_it_is_sound(journaled,
                                                                                  tmp_path):
    _, run_dir = journaled
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", run_dir, os.fspath(copy)], check=True)
    # cut the last quotes file in the middle of a record: its whole records stay readable
    last = open_journal(os.fspath(copy)).files("quotes")[-1]
    whole = open_journal(os.fspath(copy)).ring("quotes")
    size = os.path.getsize(last)
    header_size = int(np.fromfile(last, dtype=np.uint32, count=4)[3])
    # half of the records the last file holds (a run's length, so its last file's, varies;
    # the file itself is allocated whole: its header says how many it holds)
    held = int(np.fromfile(last, dtype=np.uint64,
                           count=JOURNAL_RECORDS_COUNT_OFFSET // 8 + 1)[-1])
    keep_records = held // 2
    assert keep_records > 0, held
    os.truncate(last, header_size + keep_records * 64 + 17)
    cut = open_journal(os.fspath(copy)).ring("quotes")
    first_of_last = int(np.fromfile(last, dtype=np.uint64, count=5)[4])
    assert size > os.path.getsize(last)
    assert len(cut) == first_of_last + keep_records
    assert np.array_equal(cut, whole[:len(cut)])
    # another layout: refused, naming both
    run_json = copy / "run.json"
    run = json.loads(run_json.read_text())
    run["layout_hash"] ^= 1
    run_json.write_text(json.dumps(run))
    with pytest.raises(JournalError, match="written by another tickpipe layout"):
        open_journal(os.fspath(copy))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs: needs root")
def test_a_journal_that_fills_its_disk_stops_the_engine_cleanly_and_stays_readable(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", os.fspath(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        name = unique_name("journal-full")
        result = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", "--json",
                                 write_config(tmp_path, 0), "--name", name,
                                 "--journal", os.fspath(mount)],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 1, result.stderr
        assert "No space left on device" in result.stderr
        assert "Traceback" not in result.stderr
        journal = open_journal(os.fspath(mount))
        ticks = journal.ring("quotes")  # what it wrote, readable, every seq in order
        assert len(ticks) > 0
    finally:
        subprocess.run(["umount", "-l", os.fspath(mount)])


@pytest.mark.long
def test_bench_journal_smoke_runs_on_and_off_and_loses_nothing():
    result = CliRunner().invoke(tickpipe, ["bench", "journal", "--smoke", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {"off-100k", "on-100k", "off-max", "on-max"}
    assert all(row["lost"] == 0 and row["ticks_per_s"] > 0 for row in rows.values())
    assert rows["on-max"]["complete"] and rows["on-max"]["mb_per_s"] > 0
    assert report["ratios"]["ticks_per_s_on_over_off_flat_out"] > 0
