"""A user's edit loop, timed as the user lives it, with a warm cache of tickpipe itself:

- edit -> first order: a strategy file (examples/my_strategy.py, in a directory of
  its own, with examples/my.toml) is changed (a new line, so a new file to every
  cache) and `tickpipe run` started on it; the time from the launch to the first
  order on the strategy's intents ring (polled through the segment, 1 ms);
- edit -> mistake reported: a callback is changed to read a state field that does
  not exist; the time from the launch to `tickpipe run` exiting with its one line
  (which must name the file and line).

Each is taken `runs` times (after one unmeasured run that warms tickpipe's own
cache); the median and the extremes are reported. Runs as `tickpipe bench edit`, or
as a script with any tickpipe's python (`python bench/edit_loop.py`), so that an
older tickpipe can be measured by the same code.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MISTAKE = "    state.no_such_field += 1\n"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _workdir() -> str:
    directory = tempfile.mkdtemp(prefix="tickpipe-edit-")
    for name in ("my_strategy.py", "my.toml"):
        shutil.copy(os.path.join(EXAMPLES, name), directory)
    return directory


def _edit(path: str, mistake: bool) -> None:
    """A change the caches must see: a new comment line; with `mistake`, also a wrong
    field read in on_quote's first line."""
    with open(path) as f:
        text = f.read()
    text += f"\n# edited {time.time_ns()}\n"
    if mistake:
        head = "def on_quote(ctx, state, params, quote):\n"
        text = text.replace(head, head + MISTAKE, 1)
    with open(path, "w") as f:
        f.write(text)


def _launch(directory: str, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tickpipe.cli", "run", "my.toml",
                             "--seconds", "60", "--name", name], cwd=directory,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def first_order_s(directory: str, timeout: float = 300.0) -> float:
    """Launch to the first order of the (just edited) strategy."""
    from tickpipe.engine.segment import SegmentError, attach_segment, unlink_segment
    from tickpipe.engine.ring import ring_records
    from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
    name = f"bench-edit-{os.getpid()}"
    unlink_segment(name)
    launched = time.monotonic()
    proc = _launch(directory, name)
    try:
        deadline = launched + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"tickpipe run ended first: {proc.stderr.read().strip()}")
            try:
                segment = attach_segment(name, readonly=True)
            except SegmentError:
                time.sleep(0.001)
                continue
            try:
                intents = ring_records(segment, "intents", ORDER_INTENT_DTYPE)
                while time.monotonic() < deadline and intents[0]["seq"] == 0:
                    if proc.poll() is not None:
                        raise RuntimeError(f"tickpipe run ended first: "
                                           f"{proc.stderr.read().strip()}")
                    time.sleep(0.001)
                return time.monotonic() - launched
            finally:
                segment.close()
        raise TimeoutError("no order")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=timeout)


def mistake_s(directory: str, timeout: float = 300.0) -> tuple[float, str]:
    """Launch to `tickpipe run` exiting on the mistake; and its last line."""
    launched = time.monotonic()
    proc = _launch(directory, f"bench-edit-{os.getpid()}")
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    took = time.monotonic() - launched
    line = err.strip().splitlines()[-1] if err.strip() else ""
    if proc.returncode == 0 or "my_strategy.py:" not in line:
        raise RuntimeError(f"the mistake was not reported with its line: {err.strip()!r}")
    return took, line


def _summary(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 2), "min_s": round(min(values), 2),
            "max_s": round(max(values), 2), "runs": [round(v, 2) for v in values]}


def _machine() -> dict:
    try:
        from tickpipe.bench.stats import machine_info
    except ImportError:  # an older tickpipe, measured by this file as a script
        return {}
    return machine_info(sorted(os.sched_getaffinity(0)))


def run_edit_bench(runs: int = 3, progress=None) -> dict:
    directory = _workdir()
    try:
        strategy = os.path.join(directory, "my_strategy.py")
        original = open(strategy).read()
        _edit(strategy, False)
        first_order_s(directory)  # unmeasured: tickpipe's own cache warm
        orders, mistakes, line = [], [], ""
        for _ in range(runs):
            _edit(strategy, False)
            orders.append(first_order_s(directory))
            _edit(strategy, True)
            took, line = mistake_s(directory)
            mistakes.append(took)
            with open(strategy, "w") as f:
                f.write(original)
            if progress:
                progress(f"edit {len(orders)}: first order {orders[-1]:.1f} s, mistake {took:.1f} s")
        return {"edit_to_first_order": _summary(orders), "edit_to_mistake": _summary(mistakes),
                "mistake_line": line, "python": sys.executable, "machine": _machine()}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run_edit_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
