"""Start-up times, with a warm numba cache:

- engine: from launching `tickpipe run` to the feed's first tick (the first
  record's own origin stamp; one monotonic clock for all processes);
- worker: from launching a consumer process to its first record (interpreter,
  imports, attach, the jitted loop loaded from cache, the first read).
"""

import os
import subprocess
import sys
import time

import numpy as np

from bench.ring_runs import make_ring_segment
from engine.atomics_lib import lib
from engine.ring import RingProducer, ring_records
from engine.segment import SegmentError, attach_segment, unlink_segment
from shm_layouts.market_data import MARKET_DATA_DTYPE


def engine_first_tick_s(timeout: float = 120.0) -> float:
    name = f"bench-{os.getpid()}-start"
    unlink_segment(name)
    launched = lib.tp_monotonic_ns()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run", "--seconds", "0.5", "--json",
                             "--name", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                segment = attach_segment(name, readonly=True)
            except SegmentError:
                time.sleep(0.001)
                continue
            quotes = ring_records(segment, "quotes", MARKET_DATA_DTYPE)
            while time.monotonic() < deadline and quotes[0]["seq"] == 0:
                time.sleep(0.001)
            first = int(quotes[0]["origin_ns"])
            segment.close()
            return (first - launched) / 1e9
        raise TimeoutError("the engine did not tick")
    finally:
        proc.wait(timeout=timeout)


def worker_first_record_s() -> float:
    segment = make_ring_segment("startup", ["data"], 1024, "spin")
    try:
        record = np.zeros(1, dtype=MARKET_DATA_DTYPE)
        record["seq"] = 1
        record.view(np.uint64).reshape(-1, 8)[:, 7] = 1  # what consume_loop checks
        RingProducer(segment, "data", MARKET_DATA_DTYPE).try_push(record)
        out = f"/tmp/tickpipe-startup-{os.getpid()}.npy"
        launched = lib.tp_monotonic_ns()
        subprocess.run([sys.executable, "-m", "bench.ring_side", "consume", segment.name,
                        "--core", str(min(os.sched_getaffinity(0))), "--count", "1",
                        "--wait", "spin", "--out", out], check=True, timeout=120)
        first = int(np.load(out)[0])
        os.unlink(out)
        return (first - launched) / 1e9
    finally:
        segment.close()
        unlink_segment(segment.name)


def run_startup(repeats: int = 5) -> dict:
    from bench.stats import machine_info
    engine_first_tick_s()  # warms numba's cache if it is cold
    engine = [engine_first_tick_s() for _ in range(repeats)]
    worker = [worker_first_record_s() for _ in range(repeats)]
    return {"results": [
        {"name": "engine-run-to-first-tick", "median_s": round(float(np.median(engine)), 3),
         "max_s": round(max(engine), 3)},
        {"name": "worker-launch-to-first-record", "median_s": round(float(np.median(worker)), 3),
         "max_s": round(max(worker), 3)}],
        "machine": machine_info(sorted(os.sched_getaffinity(0)))}


if __name__ == "__main__":
    import json
    print(json.dumps(run_startup(), indent=2))
