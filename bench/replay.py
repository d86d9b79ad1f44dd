"""`tickpipe bench replay`: ticks/s through the whole pipeline (feed, the default
strategy, risk, gateway and venue) with the feed replaying a data file flat out,
from CSV, an hftbacktest .npz and a zstd DBN (MBP-1) file, beside the synthetic feed flat out, in turns
in one run (the VM's fast and slow states fall on all alike). What the L2 book costs
(docs/data.md "Depth") in the same rounds: a DBN MBP-10 file replayed with its top
only and with `--depth 10`, and the synthetic walk with `--depth 10`.

The files are written first by the formats' own writers (csv, numpy) into a
temporary directory, and read into their tapes once before anything is timed (a
later run of the same file loads the tape: that is what a replay costs after the
first). Each variant is a `tickpipe run --json` of its own; its ticks/s are the
feed's committed ticks over the run's seconds, and `lost` what was left unread.
"""

import csv
import os
import subprocess
import sys
import tempfile
import zlib

import numpy as np

from tickpipe.bench.ring_runs import BenchError

SYMBOLS = ("ACME", "GLOBEX", "INITECH", "UMBRELLA")
SMOKE_RECORDS = 200_000  # a replay of ~10 ms flat out here: enough 1 ms looks to time it
POLL_S = 0.001  # between two looks at the strategy's consumed count


def write_csv(path: str, records: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, len(SYMBOLS), records)
    steps = rng.integers(-1, 2, records)
    mids = np.full(len(SYMBOLS), 10_000)  # cents
    t = 1_700_000_000_000_000_000
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ts_ns", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"])
        for i in range(records):
            s = symbols[i]
            mids[s] += steps[i]
            t += 1_000
            writer.writerow([t, SYMBOLS[s], f"{(mids[s] - 1) / 100:.2f}", 100,
                             f"{(mids[s] + 1) / 100:.2f}", 100])


def write_npz(path: str, records: int, seed: int = 2) -> None:
    """hftbacktest events: per record, one side's best level moves with a walking mid (the
    old level deleted, the new one set, both at one timestamp), so each timestamp moves the
    top of the book: one quote each, and the book holds one level a side."""
    from tickpipe.workers.feed.sources import hftbacktest_npz as hbt
    dtype = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"),
                      ("qty", "f8"), ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")],
                     align=True)
    rng = np.random.default_rng(seed)
    mid = 1000.0 + np.cumsum(rng.choice([-1, 1], records)) * 0.5  # every step moves it
    bid, ask = mid - 0.5, mid + 0.5
    is_bid = np.arange(records) % 2 == 0
    # the level each record replaces: the same side's, one record earlier (its first: none)
    new_px = np.where(is_bid, bid, ask)
    old_px = np.concatenate([[0.0, 0.0], new_px[:-2]])
    events = np.zeros(2 * records, dtype=dtype)
    flags = hbt.EXCH_EVENT | hbt.LOCAL_EVENT | hbt.DEPTH_EVENT
    side = np.where(is_bid, hbt.BUY_EVENT, hbt.SELL_EVENT)
    times = 1_000_000_000 + np.arange(records) * 1_000
    for part, px, qty in ((0, old_px, np.zeros(records)),
                          (1, new_px, rng.integers(1, 50, records).astype(np.float64))):
        events["ev"][part::2] = flags | side
        events["exch_ts"][part::2] = events["local_ts"][part::2] = times
        events["px"][part::2] = px
        events["qty"][part::2] = qty
    np.savez(path, data=events)


def write_dbn(path: str, records: int, seed: int = 3, schema: str = "mbp-1") -> None:
    """A zstd-compressed DBN MBP-1 file: databento-dbn encodes its metadata; the records,
    too many to build one by one, are numpy rows of the layout the reader checks
    (workers/feed/sources/databento_dbn.py RECORD_DTYPES), each a quote of one of the
    SYMBOLS around a walking mid, every 10th a trade. MBP-10: the nine levels below
    a cent apart, level k's size changing every k + 1 records (about two levels a
    record), the mid moving every 10th record (all nine)."""
    import datetime
    from types import SimpleNamespace

    import databento_dbn as dbn
    import zstandard

    from tickpipe.workers.feed.sources.databento_dbn import RECORD_DTYPES
    dtype, rtype = RECORD_DTYPES[schema]
    rng = np.random.default_rng(seed)
    iid = rng.integers(0, len(SYMBOLS), records)
    steps = rng.integers(-1, 2, records)
    if schema == "mbp-10":
        steps[np.arange(records) % 10 != 0] = 0
    mid = 100_00 + np.cumsum(steps)  # cents, one walk for all: enough
    rows = np.zeros(records, dtype=dtype)
    rows["length"], rows["rtype"], rows["publisher_id"] = dtype.itemsize // 4, rtype, 2
    rows["instrument_id"] = iid + 1
    rows["ts_recv"] = rows["ts_event"] = 1_704_200_000_000_000_000 + np.arange(records) * 1_000
    top = rows["levels"][:, 0]
    top["bid_px"], top["ask_px"] = (mid - 1) * 10_000_000, (mid + 1) * 10_000_000
    top["bid_sz"] = top["ask_sz"] = 100
    trade = np.arange(records) % 10 == 9
    rows["action"] = np.where(trade, ord("T"), ord("A"))
    rows["side"] = ord("B")
    rows["price"] = np.where(trade, top["ask_px"], top["bid_px"])
    rows["size"] = 1
    rows["levels"][:, 0] = top
    if schema == "mbp-10":
        number = np.arange(records)
        for k in range(1, 10):
            level = rows["levels"][:, k]
            level["bid_px"], level["ask_px"] = (mid - 1 - k) * 10_000_000, (mid + 1 + k) * 10_000_000
            level["bid_sz"] = level["ask_sz"] = 50 + (number // (k + 1)) % 7
            rows["levels"][:, k] = level
    mappings = [SimpleNamespace(raw_symbol=name, intervals=[SimpleNamespace(
        start_date=datetime.date(2024, 1, 2), end_date=datetime.date(2024, 1, 3),
        symbol=str(k + 1))]) for k, name in enumerate(SYMBOLS)]
    metadata = dbn.Metadata(dataset="XNAS.ITCH", start=0, stype_in=dbn.SType.RAW_SYMBOL,
                            stype_out=dbn.SType.INSTRUMENT_ID, schema=dbn.Schema.from_str(schema),
                            symbols=list(SYMBOLS), mappings=mappings)
    with open(path, "wb") as f:
        f.write(zstandard.ZstdCompressor().compress(metadata.encode() + rows.tobytes()))


def _run(args: list[str], directory: str, tag: str, total: int | None) -> dict:
    """One engine run; the rate at which the strategy consumed ticks, watched from the
    segment (every POLL_S) from its first tick: until it has consumed all `total` of a
    replay, or for the synthetic feed while the engine runs (its drain not counted). Not
    the feed's own rate: a feed fills the rings ahead of the strategy and the drain
    empties them after the run's clock stops."""
    import json
    import time

    from tickpipe.engine.report import counts
    from tickpipe.engine.segment import SegmentError, attach_segment, unlink_segment
    from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, ENGINE_RUNNING
    name = f"bench-replay-{os.getpid()}-{zlib.crc32(tag.encode()):08x}"  # a name per variant
    config = os.path.join(directory, "bench.toml")
    with open(config, "w") as f:
        f.write("[engine]\nready_timeout_s = 900\n")
    command = [sys.executable, "-m", "tickpipe.cli", "run", config, "--json", "--name", name,
               *args]
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(command, stdout=out, stderr=err, text=True)
    first = last = None  # (time, consumed)
    segment = None
    try:
        while proc.poll() is None:
            if segment is None:
                try:
                    segment = attach_segment(name, readonly=True)
                except SegmentError:
                    time.sleep(POLL_S)
                    continue
            now = time.monotonic()
            consumed = counts(segment)["ticks_consumed"]
            running = int(segment.view("control", CONTROL_DTYPE)[0]["engine_state"]) == \
                ENGINE_RUNNING
            if consumed > 0 and first is None:
                first = (now, consumed)
            if first is not None and (running or total is not None):
                last = (now, consumed)
            if (total is not None and consumed >= total) or (first and not running and
                                                             total is None):
                break
            time.sleep(POLL_S)
        proc.wait(timeout=1800)
    finally:
        if segment is not None:
            segment.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        unlink_segment(name)
    out.seek(0)
    err.seek(0)
    text = out.read()
    if proc.returncode != 0 or not text.strip():
        lines = err.read().strip().splitlines()
        raise BenchError(f"bench replay: {tag} failed (exit {proc.returncode}): "
                         f"{lines[-1] if lines else 'no output'}")
    report = json.loads(text)
    if first is None or last is None or last[0] <= first[0]:
        # over within one look (a small file on a fast machine): the run's own clock,
        # which counts the feed's rate, not the strategy's (the figure of a --smoke run)
        return {"ticks": report["ticks"], "lost": report["lost"], "timed_by": "run",
                "ticks_per_s": round(report["ticks"] / max(report["seconds"], 1e-9))}
    return {"ticks": report["ticks"], "lost": report["lost"], "timed_by": "segment",
            "ticks_per_s": round((last[1] - first[1]) / (last[0] - first[0]))}


VARIANTS = 7   # the engine runs of a round (run_replay_bench's variants)
TAPES = 5      # the data variants' tapes, read once before the rounds


def progress_steps(rounds: int) -> int:
    """The progress calls of one bench: the files, the tapes, each round's runs."""
    return 1 + TAPES + rounds * VARIANTS


def run_replay_bench(records: int = 1_000_000, rounds: int = 3, smoke: bool = False,
                     progress=lambda message: None) -> dict:
    from tickpipe.bench.stats import machine_info
    from tickpipe.engine.config import load_config
    if smoke:
        records, rounds = SMOKE_RECORDS, 1
    with tempfile.TemporaryDirectory(prefix="tickpipe-replay-") as directory:
        files = {"csv": os.path.join(directory, "day.csv"),
                 "hftbacktest": os.path.join(directory, "btc.npz"),
                 "dbn": os.path.join(directory, "xnas.dbn.zst"),
                 "mbp10": os.path.join(directory, "xnas.mbp10.dbn.zst")}
        progress(f"writing {records:,} records as CSV, hftbacktest events, DBN MBP-1 and "
                 f"MBP-10")
        write_csv(files["csv"], records)
        write_npz(files["hftbacktest"], records)
        write_dbn(files["dbn"], records)
        write_dbn(files["mbp10"], records, schema="mbp-10")
        # the synthetic feed runs about as long as a replay (~5 M records/s here)
        seconds = max(0.5, min(30.0, records / 5_000_000))
        variants = {"synthetic": ["--rate", "0", "--seconds", str(seconds)],
                    "synthetic, depth 10": ["--rate", "0", "--seconds", str(seconds),
                                            "--depth", "10"],
                    "csv": ["--data", files["csv"], "--speed", "0"],
                    "hftbacktest": ["--data", files["hftbacktest"], "--speed", "0"],
                    "dbn": ["--data", files["dbn"], "--speed", "0"],
                    "dbn mbp-10": ["--data", files["mbp10"], "--speed", "0"],
                    "dbn mbp-10, depth 10": ["--data", files["mbp10"], "--speed", "0",
                                             "--depth", "10"]}
        tapes = {}
        for name, args in variants.items():  # the tapes, once, before anything is timed
            if "--data" in args:
                path = args[args.index("--data") + 1]
                depth = int(args[args.index("--depth") + 1]) if "--depth" in args else 1
                progress(f"reading {os.path.basename(path)} into its tape (depth {depth})")
                tapes[name] = load_config(overrides={"feed": {
                    "source": "file", "file": path, "depth": depth}})["tape"]
        assert len(variants) == VARIANTS and len(tapes) == TAPES
        results = {name: [] for name in variants}
        for r in range(rounds):
            for name, args in variants.items():
                progress(f"round {r + 1}/{rounds}: {name}")
                # the strategy consumes the quotes and trades (a depth row reaches no ring)
                total = tapes[name]["records"] - tapes[name]["depth_rows"] \
                    if name in tapes else None
                results[name].append(_run(args, directory, name, total))
    rows = []
    for name, runs in results.items():
        rates = [run["ticks_per_s"] for run in runs]
        rows.append({"name": name, "ticks_per_s": int(np.median(rates)),
                     "timed_by": sorted({run["timed_by"] for run in runs}),
                     "ticks_per_s_each": rates, "lost": sum(run["lost"] for run in runs),
                     "ticks": [run["ticks"] for run in runs],
                     "records": tapes[name]["records"] if name in tapes else None,
                     "depth_rows": tapes[name]["depth_rows"] if name in tapes else None})
    synthetic = rows[0]["ticks_per_s"]
    for row in rows:
        row["vs_synthetic"] = round(row["ticks_per_s"] / synthetic, 2) if synthetic else None
    return {"results": rows, "records_written": records, "rounds": rounds,
            "machine": machine_info(sorted(os.sched_getaffinity(0)))}


def format_replay_table(report: dict) -> str:
    lines = [f"{'feed':<21} {'ticks/s':>11} {'vs synthetic':>13} {'lost':>6} {'records':>10} "
             f"{'depth rows':>10}"]
    for row in report["results"]:
        lines.append(f"{row['name']:<21} {row['ticks_per_s']:>11,} {row['vs_synthetic']:>13} "
                     f"{row['lost']:>6} {row['records'] if row['records'] else '':>10} "
                     f"{row['depth_rows'] if row['depth_rows'] else '':>10}")
    return "\n".join(lines)
