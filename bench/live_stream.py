"""Records/s from a loopback Alpaca-protocol server through the live source, the feed and
the strategy: N messages in frames of BATCH, the rate the live source put them on its ring
(first to last record, watched from the segment). From a checkout, with the `.[test]`
extra (alpaca-py) installed: `python bench/live_stream.py 200000 100` (bench/RESULTS.md).
The server is the tests' (tests/alpaca_stream_server.py), in this process."""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
from alpaca_stream_server import StreamServer, quote, trade, KEY, SECRET
from tickpipe.engine.segment import attach_segment, SegmentError
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.live_source.role import ROLE, LIVE_RECORDS, LIVE_HELD


def main(n: int, frame: int) -> None:
    msgs = [quote("ACME", 10.00 + (i % 5) * 0.01, 3, 10.10, 4) if i % 10 else
            trade("ACME", 10.10, 2, i) for i in range(n)]  # 9 quotes to a trade
    os.chdir(tempfile.mkdtemp(prefix="tickpipe-live-"))
    with open("c.toml", "w") as f:
        f.write(f'key = "{KEY}"\nsecret = "{SECRET}"\n')
    os.chmod("c.toml", 0o600)
    with StreamServer(msgs, batch=frame) as server:
        open("l.toml", "w").write(textwrap.dedent(f"""
            [feed]
            source = "live"
            [live_source]
            url = "{server.url}"
            credentials = "c.toml"
            [[instrument]]
            name = "ACME"
            tick_size = 100
            """))
        proc = subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "run", "l.toml", "--seconds",
                                 "0", "--json", "--name", "livebench"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while True:
            try:
                seg = attach_segment("livebench", readonly=True)
                break
            except SegmentError:
                time.sleep(0.01)
        row = seg.view("workers", WORKER_DTYPE)[ROLE.row]
        while int(row["counters"][LIVE_RECORDS]) == 0:
            time.sleep(0.0005)
        t0 = time.monotonic()
        while int(row["counters"][LIVE_RECORDS]) < n - 1:  # the first, a trade, is skipped
            time.sleep(0.0005)
        t1 = time.monotonic()
        held = int(row["counters"][LIVE_HELD])
        seg.close()
        proc.send_signal(15)
        report = json.loads(proc.communicate()[0])
    print(json.dumps({"messages": n, "frame": frame, "records_per_s": round((n - 1) / (t1 - t0)),
                      "held": held, "ticks": report["ticks"], "lost": report["lost"]}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
