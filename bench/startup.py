"""Start-up times, with a warm numba cache:

- engine: from launching `tickpipe run` to the feed's first tick (the first
  record's own origin stamp; one monotonic clock for all processes);
- worker: from launching a consumer process to its first record (interpreter,
  imports, attach, the jitted loop loaded from cache, the first read);
- strategy: a strategy process running a user's module (examples/my_strategy.py,
  loaded by path from a directory of its own) restarted after a SIGKILL: from its
  spawn (the supervisor's stamp) to its row saying RUNNING (interpreter, imports,
  the user's module, the generated runner loaded from cache, recovery, warm-up).
"""

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from tickpipe.bench import ring_loops
from tickpipe.bench.ring_runs import BenchError, make_ring_segment
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.idle import make_idle_state
from tickpipe.engine.wait_codes import WAIT_SPIN
from tickpipe.engine.ring import producer_handle, ring_records, ring_words
from tickpipe.engine.segment import SegmentError, attach_segment, unlink_segment
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE


def engine_first_tick_s(timeout: float = 120.0) -> float:
    """Seconds from the launch of `tickpipe run` to its first tick. The run is then
    stopped (SIGTERM: it drains and exits) rather than waited out: its first tick is
    all this measures."""
    name = f"bench-{os.getpid()}-start"
    unlink_segment(name)
    launched = lib.tp_monotonic_ns()
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "run", "--seconds", "0.5", "--json",
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
            if not first:
                break
            return (first - launched) / 1e9
        raise TimeoutError("the engine did not tick")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)


def worker_first_record_s() -> float:
    segment = make_ring_segment("startup", ["data"], 1024, "spin")
    try:
        # Record 1 written by the throughput bench's own producer loop, so it is
        # exactly what consume_loop checks.
        ring_loops.produce_loop(producer_handle(segment, "data"), ring_words(segment, "data"),
                                make_idle_state(WAIT_SPIN, 0), 1, 1)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "times.npy")
            launched = lib.tp_monotonic_ns()
            result = subprocess.run([sys.executable, "-m", "tickpipe.bench.ring_side", "consume", segment.name,
                                     "--core", str(min(os.sched_getaffinity(0))), "--count", "1",
                                     "--wait", "spin", "--out", out],
                                    stderr=subprocess.PIPE, text=True, timeout=120)
            if result.returncode:
                last = (result.stderr.strip().splitlines() or ["no message"])[-1]
                raise BenchError(f"startup: the consumer exited {result.returncode}: {last}")
            first = int(np.load(out)[0])
        return (first - launched) / 1e9
    finally:
        segment.close()
        unlink_segment(segment.name)


EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "my_strategy.py")
USER_STRATEGY = """
[engine]
rate = 10000
max_restarts = 1000
[[strategy]]
name = "user"
path = "my_strategy.py"
"""


def _user_strategy_dir() -> str:
    """A directory of the user's own holding the example strategy and its config: the
    same one run after run (named by their text), so that the strategy's callbacks,
    whose cached code is found by its file's path and mtime (engine/runner_gen.py
    entries_path), are compiled at the first engine start only, not before each one."""
    with open(EXAMPLE, "rb") as f:
        files = {"my_strategy.py": f.read(), "user.toml": USER_STRATEGY.encode()}
    digest = hashlib.blake2b(digest_size=8)
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + data + b"\0")
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(tempfile.gettempdir(),
                                                             f"tickpipe-{os.getuid()}")
    directory = os.path.join(base, f"bench-startup-{digest.hexdigest()}")
    os.makedirs(directory, exist_ok=True)
    for name, data in files.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):  # written once: its mtime stays that of the first run
            partial = f"{path}.{os.getpid()}.partial"
            with open(partial, "wb") as f:
                f.write(data)
            os.replace(partial, path)
    return directory


def strategy_restarts_s(repeats: int, timeout: float = 120.0) -> list[float]:
    """Seconds from each restarted strategy process's spawn to RUNNING (see the top)."""
    from tickpipe.engine.snapshot import Inspector
    from tickpipe.shm_layouts.worker_table import WORKER_RUNNING
    if not os.path.exists(EXAMPLE):
        raise BenchError(f"startup: {EXAMPLE} is missing (run from a source checkout)")
    name = f"bench-{os.getpid()}-strategy-start"
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "run", "user.toml",
                             "--seconds", "0", "--json", "--name", name],
                            cwd=_user_strategy_dir(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    inspector, times = None, []
    try:
        deadline = time.monotonic() + timeout
        # The feed runs once the start barrier is passed: only then is a death a
        # restart (during the barrier it fails the start).
        while inspector is None or inspector.worker_rows["feed"]["state"] != WORKER_RUNNING:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise BenchError(f"startup: the engine with a user strategy did not run: "
                                 f"{_last_line(proc)}")
            try:
                inspector = inspector or Inspector.attach(name)
            except SegmentError:
                pass
            time.sleep(0.01)
        for _ in range(repeats):
            old = int(_strategy(inspector)["pid"])
            os.kill(old, signal.SIGKILL)
            while True:
                row = _strategy(inspector)
                if int(row["pid"]) != old and row["state"] == WORKER_RUNNING:
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise BenchError(f"startup: the strategy was not restarted: "
                                     f"{_last_line(proc)}")
                time.sleep(0.0005)
            times.append((time.time_ns() - int(row["started_unix_ns"])) / 1e9)
            _wait_processing(inspector, proc, deadline)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if inspector is not None:
            inspector.close()
    return times


def _wait_processing(inspector, proc, deadline: float) -> None:
    """Until the restarted strategy has taken a record since it said RUNNING: it works,
    and a next kill is a kill of a running strategy."""
    seen = int(_strategy(inspector)["processed"])
    while int(_strategy(inspector)["processed"]) == seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise BenchError(f"startup: the restarted strategy took no record: {_last_line(proc)}")
        time.sleep(0.001)


def _last_line(proc) -> str:
    if proc.poll() is None:
        return "the engine still runs"
    lines = proc.stderr.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"the engine exited {proc.returncode}"


def _strategy(inspector):
    return inspector.worker_rows["strategy"]


# --smoke (tests): one start of each kind, without the first unmeasured engine run that
# warms numba's cache; the figures mean nothing.
SMOKE_REPEATS = 1


def run_startup(repeats: int = 5, *, warm: bool = True) -> dict:
    """warm: start one engine first, unmeasured (it compiles, on a cold cache)."""
    from tickpipe.bench.stats import machine_info
    if warm:
        engine_first_tick_s()  # warms numba's cache if it is cold
    engine = [engine_first_tick_s() for _ in range(repeats)]
    worker = [worker_first_record_s() for _ in range(repeats)]
    strategy = strategy_restarts_s(repeats)
    return {"results": [
        {"name": "strategy-with-user-module-spawn-to-running",
         "median_s": round(float(np.median(strategy)), 3), "max_s": round(max(strategy), 3)},
        {"name": "engine-run-to-first-tick", "median_s": round(float(np.median(engine)), 3),
         "max_s": round(max(engine), 3)},
        {"name": "worker-launch-to-first-record", "median_s": round(float(np.median(worker)), 3),
         "max_s": round(max(worker), 3)}],
        "machine": machine_info(sorted(os.sched_getaffinity(0)))}


if __name__ == "__main__":
    import json
    print(json.dumps(run_startup(), indent=2))
