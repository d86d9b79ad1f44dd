"""A sweep: one backtest per combination of strategy params, over the cores.

`--param gamma=0.05,0.1 --param order_qty=1,5` is a grid of 4 combinations. Every one
is checked before any runs (a name no strategy has, a value of the wrong type: one
line), then each runs in a process of its own, as many at once as there are cores
(`jobs`). The processes are forked from this one: the data's tape is one file mapped
by each (engine/backtest.py's feed reads it in place), and what numba compiled here is
loaded from its cache. A row per combination: the params, then the figures.
"""

import copy
import itertools
import multiprocessing
import os

from tickpipe.engine.backtest import Backtest, BacktestError


class SweepError(Exception):
    """A grid that cannot run; str() is one line."""


def _value(text: str):
    """A param's value as TOML would read it: an int, a float, or true/false."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise SweepError(f"--param value {text!r}: not an int, a float or true/false")


def parse_grid(config: dict, specs) -> list[dict]:
    """The combinations of `--param NAME=V1,V2` specs, each {name: value}, checked against
    the config's strategies (every strategy whose params have the name takes the value).
    [] when no spec is given."""
    from tickpipe.engine.plugin import StrategyError, load_plugin
    if not specs:
        return []
    axes = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise SweepError(f"--param {spec!r}: expected NAME=V1,V2,...")
        if name in axes:
            raise SweepError(f"--param {name}: given twice")
        axes[name] = [_value(v) for v in values.split(",")]
    plugins = [load_plugin(entry) for entry in config["strategies"]]
    known = sorted({key for plugin in plugins for key in plugin.params})
    for name in axes:
        if name not in known:
            raise SweepError(f"--param {name}: no strategy of the config has it (params: "
                             f"{', '.join(known) or 'none'})")
    grid = [dict(zip(axes, combination)) for combination in itertools.product(*axes.values())]
    for params in grid:  # every combination's types, before any run
        try:
            for entry in combination_config(config, params)["strategies"]:
                load_plugin(entry)
        except StrategyError as exc:
            raise SweepError(f"--param: {exc}") from None
    return grid


def combination_config(config: dict, params: dict) -> dict:
    """The config with these params set in every strategy that has them."""
    from tickpipe.engine.plugin import load_plugin
    config = copy.deepcopy(config)
    for entry in config["strategies"]:
        declared = load_plugin(entry).params
        entry["params"] = {**entry.get("params", {}),
                           **{k: v for k, v in params.items() if k in declared}}
    return config


def row_of(params: dict, report: dict) -> dict:
    """A sweep's row: the params, then what one compares combinations by."""
    bt = report["backtest"]
    return {**params, "net_pnl": report.get("net_pnl_ccy", {}), "fees": report.get("fees_ccy", {}),
            "fills": report["fills"], "orders_sent": report["orders_sent"],
            "max_drawdown": bt["max_drawdown"], "sharpe_per_bucket": bt["sharpe_per_bucket"],
            "events": bt["events"]}


def _one(job):
    config, params, seconds, bucket_s, latency = job
    try:
        report = Backtest(combination_config(config, params), bucket_s=bucket_s,
                          seconds=seconds, **latency).run()
    except BacktestError as exc:
        return None, f"{params}: {exc}"
    return row_of(params, report), None


def sweep(config: dict, grid: list[dict], *, seconds=None, bucket_s: float = 60.0,
          jobs: int | None = None, latency: dict | None = None, progress=None) -> list[dict]:
    """Every combination's row, in the grid's order; `latency`: Backtest's latency
    arguments (feed_latency_us, report_latency_us, latencies)."""
    jobs = min(jobs or len(os.sched_getaffinity(0)), len(grid))
    work = [(config, params, seconds, bucket_s, latency or {}) for params in grid]
    if jobs == 1:
        results = []
        for job in work:
            results.append(_one(job))
            if progress is not None:
                progress(len(results), len(work))
    else:
        # fork: the children start with this process's imports and compiled code
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            results = []
            for result in pool.imap(_one, work):
                results.append(result)
                if progress is not None:
                    progress(len(results), len(work))
    failed = [error for _, error in results if error]
    if failed:
        raise SweepError(f"{len(failed)} of {len(work)} runs failed; the first: {failed[0]}")
    return [row for row, _ in results]
