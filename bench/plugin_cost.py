"""`tickpipe bench plugin`: what running a strategy as a plug-in costs, same run.

Three variants of the same mean reversion through the four real workers, taken
in turns (round-robin, `rounds` times each, so the VM's slow and fast spells
fall on all three alike), at each offered rate:

- inline:  the old hand-written strategy loop (bench/strategy_inline.py), as the
           strategy worker of an engine whose workers start as bench/inline_worker.py;
- builtin: the runner with workers/strategies/mean_reversion.py, by module name;
- user:    the runner with a copy of that file loaded by path from a directory
           of its own, as a user's strategy is.

Per variant: the median over rounds of tick-to-trade p50 and p99 (from the
feed's due time) and of the achieved ticks/s; the ratios to `inline`.
"""

import os
import shutil
import tempfile

import numpy as np

from tickpipe.bench.pipeline import _stop_if_signalled
from tickpipe.bench.stats import machine_info
from tickpipe.engine import supervisor as supervisor_module
from tickpipe.engine.config import load_config
from tickpipe.engine.supervisor import EngineError, Supervisor
from tickpipe.workers.strategies import mean_reversion

RATES = (("100k", 100_000), ("max", 0))
VARIANTS = ("inline", "builtin", "user")
WORKER_MODULE = "tickpipe.engine.worker_main"   # what the supervisor starts
INLINE_WORKER = "tickpipe.bench.inline_worker"  # the same, the strategy played inline


class InlineStrategySupervisor(Supervisor):
    """The engine's own supervisor, whose strategy worker starts as
    bench/inline_worker.py (the inline loop) instead of engine/worker_main.py. Only the
    module in the command changes, for the one Popen call of each spawn and restart;
    the rest of _spawn (the worker's row, SCHED_FIFO) is the supervisor's own, so the
    inline variant is started and watched exactly as the others."""

    def _spawn(self, role: str) -> None:
        if not role.startswith("strategy"):
            return super()._spawn(role)
        real = supervisor_module.subprocess
        supervisor_module.subprocess = _InlineWorkerSubprocess(real)
        try:
            super()._spawn(role)
        finally:
            supervisor_module.subprocess = real


class _InlineWorkerSubprocess:
    """The subprocess module, with Popen starting INLINE_WORKER where the command names
    WORKER_MODULE; an error if it names it no more (the inline variant would otherwise
    run the runner unnoticed)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def Popen(self, command, **kwargs):  # noqa: N802 (subprocess's name)
        if WORKER_MODULE not in command:
            raise RuntimeError(f"bench plugin: the supervisor no longer starts its workers "
                               f"as -m {WORKER_MODULE} ({command[:3]}): {INLINE_WORKER} "
                               f"cannot take their place")
        k = command.index(WORKER_MODULE)
        return self._real.Popen([*command[:k], INLINE_WORKER, *command[k + 1:]], **kwargs)


def _run(variant: str, rate: int, seconds: float, user_path: str) -> dict:
    overrides = {"engine": {"rate": rate, "seconds": seconds,
                            "name": f"bench-{os.getpid()}-plugin"}}
    if variant == "user":
        overrides["strategy"] = [{"name": "mean_reversion", "path": user_path}]
    supervisor = (InlineStrategySupervisor if variant == "inline" else Supervisor)(
        load_config(overrides=overrides))
    try:
        report = supervisor.run()
    except EngineError as exc:
        _stop_if_signalled(exc.stopped_by)
        raise
    _stop_if_signalled(report["stopped_by"])
    t2t = report["tick_to_trade_ns"]
    return {"p50_ns": t2t["p50"], "p99_ns": t2t["p99"], "orders": report["orders_sent"],
            "ticks_per_s": report["ticks"] / report["seconds"], "lost": report["lost"]}


def run_plugin_cost(seconds: float = 3.0, rounds: int = 3, rates=RATES,
                    progress=lambda message: None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        user_path = os.path.join(tmp, "my_mean_reversion.py")
        shutil.copy(mean_reversion.__file__, user_path)
        for label, rate in rates:
            runs = {variant: [] for variant in VARIANTS}
            for k in range(rounds):
                for variant in VARIANTS:
                    progress(f"{variant} at {label} ticks/s, round {k + 1} of {rounds}")
                    runs[variant].append(_run(variant, rate, seconds, user_path))
            base = _medians(runs["inline"])
            for variant in VARIANTS:
                row = {"name": f"{variant}-{label}", "offered_rate": rate, "rounds": rounds,
                       **_medians(runs[variant]),
                       "lost": sum(r["lost"] for r in runs[variant])}
                for key in ("p50_ns", "p99_ns", "ticks_per_s"):
                    row[f"{key}_vs_inline"] = round(row[key] / base[key], 3) \
                        if row[key] and base[key] else None
                row["per_round_p50_ns"] = [r["p50_ns"] for r in runs[variant]]
                rows.append(row)
    return {"results": rows, "machine": machine_info(sorted(os.sched_getaffinity(0)))}


def _medians(runs: list[dict]) -> dict:
    def median(key):
        values = [r[key] for r in runs if r[key] is not None]
        return float(np.median(values)) if values else None
    return {"p50_ns": median("p50_ns"), "p99_ns": median("p99_ns"),
            "ticks_per_s": round(median("ticks_per_s") or 0), "orders": int(median("orders") or 0)}


def format_plugin_table(rows) -> str:
    lines = [f"{'variant':<14} {'ticks/s':>11} {'p50 ns':>9} {'p99 ns':>9} {'lost':>5} "
             f"{'p50/inl':>8} {'p99/inl':>8} {'tps/inl':>8}  per-round p50"]
    for row in rows:
        ratios = " ".join(f"{row[k] if row[k] is not None else '-':>8}" for k in
                          ("p50_ns_vs_inline", "p99_ns_vs_inline", "ticks_per_s_vs_inline"))
        lines.append(f"{row['name']:<14} {row['ticks_per_s']:>11,} {row['p50_ns'] or 0:>9,.0f} "
                     f"{row['p99_ns'] or 0:>9,.0f} {row['lost']:>5} {ratios}  "
                     f"{row['per_round_p50_ns']}")
    return "\n".join(lines)
