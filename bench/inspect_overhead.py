"""The attach inspector's two targets, measured: `python -m tickpipe.bench.inspect_overhead` prints JSON.

1. startup: `tickpipe inspect ENGINE --json` against a live engine, wall time from
   process start to exit (target < 300 ms), beside two references taken in the
   same run on the same machine: a bare `python -c pass` and `python -c "import
   numpy"` (the floor any numpy-reading tool pays). It also lists which of the
   modules the inspector must not import (numba, the ring and idle loops, the
   supervisor, the workers) showed up in `python -X importtime`.
2. p99: the same engine config run alternately without and with a 10 Hz
   inspector (`tickpipe inspect ENGINE --watch 0.1 --json` in its own process,
   already running when the engine starts), several runs each; the ratio of the
   tick-to-trade p99 medians (target: within 5%, i.e. a ratio < 1.05). Each run's
   report must reconcile (lost == 0), and the inspector must have kept refreshing.
   `--cores 0` puts every worker on core 0, so the inspector (which moves to the
   cores no worker uses, at SCHED_IDLE) has a core of its own, as on a host with a
   housekeeping core; without it, on a machine with fewer than five cores, the
   inspector shares the workers' cores.

    python -m tickpipe.bench.inspect_overhead [--only startup|p99] [--runs 8] [--cores 0]
"""

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from tickpipe.bench.stats import machine_info

FORBIDDEN_IMPORTS = ("numba", "tickpipe.engine.ring", "tickpipe.engine.idle",
                     "tickpipe.engine.histogram", "tickpipe.engine.atomics",
                     "tickpipe.engine.supervisor", "tickpipe.workers")
TICKPIPE = [sys.executable, "-m", "tickpipe.cli"]
INSPECT_ALONE = ("import sys; from tickpipe.cli.inspect_cmd import inspect_command; "
                 "inspect_command(sys.argv[1:], prog_name='tickpipe inspect')")


def _engine_name(tag: str) -> str:
    return f"bench-{os.getpid()}-{tag}"


def _timed(command: list[str], *, timeout: float = 30.0) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one run of `command`, start to exit.

    CPU time is what the command itself costs; on a loaded machine the wall time
    adds the time it waited for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _summary_ms(samples: list[tuple[float, float]]) -> dict:
    walls = sorted(wall for wall, _ in samples)
    cpus = sorted(cpu for _, cpu in samples)
    return {"wall_median_ms": round(statistics.median(walls) * 1000, 1),
            "wall_min_ms": round(walls[0] * 1000, 1),
            "cpu_median_ms": round(statistics.median(cpus) * 1000, 1),
            "runs": len(samples)}


class LiveEngine:
    """`tickpipe run --seconds 0` in a subprocess, stopped (and unlinked) on exit."""

    def __init__(self, name: str, rate: int, seconds: float = 0.0, cores: str | None = None):
        self.name = name
        self.proc = subprocess.Popen(
            [*TICKPIPE, "run", "--json", "--name", name, "--rate", str(rate),
             "--seconds", str(seconds), *(["--cores", cores] if cores else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._report = None

    def wait_segment(self, timeout: float = 120.0) -> None:
        """Until the segment is attachable (the engine may still be warming up)."""
        from tickpipe.engine.segment import SegmentError
        from tickpipe.engine.snapshot import Inspector

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"engine {self.name} exited: {self.proc.stderr.read()}")
            try:
                Inspector.attach(self.name).close()
                return
            except SegmentError:
                time.sleep(0.02)
        raise RuntimeError(f"engine {self.name} made no segment in {timeout} s")

    def wait_ticking(self, timeout: float = 120.0) -> None:
        from tickpipe.engine.snapshot import Inspector

        self.wait_segment(timeout)
        inspector = Inspector.attach(self.name)
        try:
            deadline = time.monotonic() + timeout
            while inspector.snapshot().data["rings"][0]["head"] == 0:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"engine {self.name} did not start ticking")
                time.sleep(0.05)
        finally:
            inspector.close()

    def report(self, timeout: float = 120.0) -> dict:
        """Wait for the run to end; its final report (read once)."""
        if self._report is None:
            out, err = self.proc.communicate(timeout=timeout)
            if not out.strip():
                raise RuntimeError(f"engine {self.name} gave no report: {err.strip()}")
            self._report = json.loads(out)
        return self._report

    def stop(self) -> None:
        """SIGTERM (the engine drains and exits), else SIGKILL; the segment is unlinked."""
        from tickpipe.engine.segment import unlink_segment

        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            unlink_segment(self.name)


def inspect_startup(runs: int = 15, rate: int = 20_000) -> dict:
    """Wall and CPU time of `tickpipe inspect ENGINE --json`, process start to exit, against a
    live engine, beside the interpreter's and numpy's own start-up in the same run."""
    engine = LiveEngine(_engine_name("startup"), rate)
    try:
        engine.wait_ticking()
        script = os.path.join(os.path.dirname(sys.executable), "tickpipe")  # the console script
        launcher = [script] if os.path.exists(script) else TICKPIPE
        # --sample 0: the start-up of the command, not the 0.2 s it waits for its rates
        inspect = [*launcher, "inspect", engine.name, "--json", "--sample", "0"]
        references = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
            # The same command without cli.main's imports of the other commands (bench, tune, run):
            # what `tickpipe inspect` would cost if cli/main.py imported them lazily.
            "inspect_cmd alone": [sys.executable, "-c", INSPECT_ALONE, engine.name, "--json",
                                  "--sample", "0"],
        }
        samples = {"tickpipe inspect --json": [], **{name: [] for name in references}}
        _timed(inspect)  # one unmeasured run: .pyc files and the page cache warm
        for _ in range(runs):  # interleaved, so load changes hit every command alike
            samples["tickpipe inspect --json"].append(_timed(inspect))
            for name, command in references.items():
                samples[name].append(_timed(command))
        imported = imported_modules(engine.name)
        cost = refresh_cost(engine.name)
    finally:
        engine.stop()
    rows = {name: _summary_ms(values) for name, values in samples.items()}
    inspect_row, numpy_row = rows["tickpipe inspect --json"], rows["python -c 'import numpy'"]
    return {
        "command": f"tickpipe inspect {engine.name} --json",
        "results": rows,
        "inspect_over_numpy_floor_wall": round(inspect_row["wall_median_ms"]
                                               / numpy_row["wall_median_ms"], 2),
        "target_ms": 300,
        "meets_target_wall": inspect_row["wall_median_ms"] < 300,
        "meets_target_cpu": inspect_row["cpu_median_ms"] < 300,
        "refresh": cost,
        "forbidden_imports_seen": sorted(m for m in imported
                                         if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IMPORTS)),
    }


def imported_modules(engine: str) -> set[str]:
    """Every module `tickpipe inspect ENGINE --json` imports (from python -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tickpipe.cli", "inspect", engine,
                           "--json", "--sample", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=30)
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2} - {"package"}


def p99_overhead(runs: int = 5, seconds: float = 5.0, rate: int = 20_000, hz: float = 10.0,
                 cores: str | None = None, progress=lambda line: None) -> dict:
    """Tick-to-trade p99 of the same engine config without and with a `hz` inspector, alternating.

    cores: the engine's --cores. With workers on some cores only, the inspector moves
    to a free one (engine.snapshot.step_aside), as on a host with a housekeeping core.
    """
    arms = {"without": [], "with": []}
    for index in range(runs):
        for arm in ("without", "with") if index % 2 == 0 else ("with", "without"):
            progress(f"run {index + 1}/{runs} {arm} inspector")
            arms[arm].append(_one_run(f"p99-{index}-{arm}", seconds, rate,
                                      hz if arm == "with" else None, cores))
    p99 = {arm: _spread([r["tick_to_trade_ns"]["p99"] for r in reports]) for arm, reports in arms.items()}
    p50 = {arm: _spread([r["tick_to_trade_ns"]["p50"] for r in reports]) for arm, reports in arms.items()}
    any_report = arms["without"][0]
    return {
        "config": {"runs_per_arm": runs, "seconds": seconds, "rate": rate, "inspector_hz": hz,
                   "engine_cores_option": cores,
                   "waits": {w["role"]: w["wait"] for w in any_report["workers"]},
                   "cores": {w["role"]: w["core"] for w in any_report["workers"]},
                   "page_size": any_report["memory"]["page_size"]},
        "tick_to_trade_p99_ns": p99, "tick_to_trade_p50_ns": p50,
        "p99_ratio_with_over_without": round(p99["with"]["median"] / p99["without"]["median"], 3),
        "p50_ratio_with_over_without": round(p50["with"]["median"] / p50["without"]["median"], 3),
        # Run-to-run spread of the arm without an inspector: the smallest effect this run can see.
        "noise_p99_without_max_over_min": round(p99["without"]["max"] / p99["without"]["min"], 3),
        "orders": {arm: [r["orders_sent"] for r in reports] for arm, reports in arms.items()},
        "lost": {arm: [r["lost"] for r in reports] for arm, reports in arms.items()},
        "target_ratio": 1.05,
    }


def _spread(values: list[int]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def refresh_cost(engine: str, refreshes: int = 200) -> dict:
    """CPU one inspector refresh costs (snapshot + JSON), in this process, against `engine`."""
    from tickpipe.engine.snapshot import Inspector

    inspector = Inspector.attach(engine)
    try:
        inspector.snapshot()
        start = time.process_time()
        for _ in range(refreshes):
            json.dumps(inspector.snapshot().data)
        per_refresh_s = (time.process_time() - start) / refreshes
    finally:
        inspector.close()
    return {"cpu_ms_per_refresh": round(per_refresh_s * 1000, 3),
            "share_of_one_core_at_10_hz": round(per_refresh_s * 10, 4)}


# The 10 Hz inspector of the "with" arm, started before the engine so that its one-off
# start-up (imports: ~0.2 s of CPU) does not land on the engine's first ticks: the target
# is about an inspector that is already refreshing. It waits at SCHED_IDLE for the
# segment, then runs the real `tickpipe inspect ENGINE --watch S --json`.
INSPECTOR_ALREADY_RUNNING = """
import os, sys, time
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
from tickpipe.cli.main import main
from tickpipe.engine.segment import SegmentError
from tickpipe.engine.snapshot import Inspector
while True:
    try:
        Inspector.attach(sys.argv[1]).close()
        break
    except SegmentError:
        time.sleep(0.01)
sys.argv = ["tickpipe", "inspect", sys.argv[1], "--watch", sys.argv[2], "--json"]
main()
"""


def _one_run(tag: str, seconds: float, rate: int, hz: float | None, cores: str | None) -> dict:
    name = _engine_name(tag)
    inspector, frames = None, tempfile.TemporaryFile()  # a file: a pipe would fill and stall it
    if hz:
        inspector = subprocess.Popen([sys.executable, "-c", INSPECTOR_ALREADY_RUNNING, name,
                                      str(1.0 / hz)], stdout=frames, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # its imports, before the engine starts
    engine = LiveEngine(name, rate, seconds, cores)
    try:
        report = engine.report(timeout=seconds + 180)
    finally:
        engine.stop()
        if inspector is not None:
            inspector.terminate()
            inspector.wait(timeout=10)
    frames.seek(0)
    refreshes = frames.read().count(b"\n")
    frames.close()
    if inspector is not None and refreshes < seconds * hz / 2:
        raise RuntimeError(f"run {tag}: the inspector refreshed only {refreshes} times")
    if report["state"] != "stopped" or report["lost"] != 0:
        raise RuntimeError(f"run {tag} did not reconcile: state {report['state']}, "
                           f"lost {report['lost']}, notes {report['notes']}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("startup", "p99"), default=None)
    parser.add_argument("--startup-runs", type=int, default=15)
    parser.add_argument("--runs", type=int, default=5, help="runs per arm of the p99 comparison")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each p99 run")
    parser.add_argument("--rate", type=int, default=20_000, help="ticks/s offered by the feed")
    parser.add_argument("--hz", type=float, default=10.0, help="inspector refreshes per second")
    parser.add_argument("--cores", default=None,
                        help="the engine's --cores for the p99 runs (e.g. 0: all workers on core 0, "
                             "leaving the others to the inspector)")
    args = parser.parse_args(argv)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    result = {"machine": machine_info(sorted(os.sched_getaffinity(0)))}
    if args.only in (None, "startup"):
        say("startup: tickpipe inspect --json against a live engine")
        result["startup"] = inspect_startup(args.startup_runs, args.rate)
    if args.only in (None, "p99"):
        result["p99"] = p99_overhead(args.runs, args.seconds, args.rate, args.hz, args.cores,
                                     progress=say)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
