"""The strategy's part of the final report, the status line and `tickpipe inspect`
(named by its declaration, workers/strategy/role.py), read from the segment alone; and
its hooks: every strategy compiled before the engine starts, inlined once it runs.

(Each strategy's table, positions, P&L and orders are the engine's sections, shown by
engine/report.py and engine/snapshot.py as "strategies"; what is here reads this
role's counters.)"""

import time

from tickpipe.engine.report import ring_positions
from tickpipe.engine.role import RoleError
from tickpipe.engine.segment_catalog import read_strategies
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_REFUSED_BASE, STRATEGY_REFUSED_NAMES, WORKER_DTYPE,
)
from tickpipe.workers.strategy.role import ROLE


def counts(segment) -> dict:
    """intents: every strategy's requests (the heads of their intents rings)."""
    return {"intents": sum(head for section, (head, _) in ring_positions(segment).items()
                           if section.startswith("intents"))}


def _refusals(segment) -> dict:
    """{strategy name: {refusal: count}}: the sends the strategy API refused (nothing
    sent; tp.REFUSED_*), per strategy and code, from each strategy worker's counters.
    Zero counts are left out."""
    rows = segment.view("workers", WORKER_DTYPE)
    out = {}
    for table in read_strategies(segment):
        if table.index >= len(ROLE.rows):
            continue
        counters = rows[ROLE.rows[table.index]]["counters"]
        out[table.name] = {name: int(counters[STRATEGY_REFUSED_BASE + code - 1])
                           for code, name in STRATEGY_REFUSED_NAMES.items()
                           if int(counters[STRATEGY_REFUSED_BASE + code - 1])}
    return out


def report_sections(segment, config: dict) -> dict:
    return {"refused": _refusals(segment)}


def inspect_sections(segment) -> dict:
    return {"risk": {"refused": _refusals(segment)}}  # beside risk's own refusals


def compile_strategies(config: dict, say) -> list:
    """Compile each strategy's runner here, before any segment or process exists: a
    callback that does not compile is one line naming it, and the workers load the
    compiled callbacks and runner from numba's cache instead of compiling them each.
    Returns (name, plugin) of each, for `start_inlining`."""
    from tickpipe.engine.plugin import StrategyError, load_plugin
    from tickpipe.engine.runner_gen import compile_strategy
    compiled = []
    for entry in config["strategies"]:
        started = time.monotonic()
        try:
            plugin = load_plugin(entry)
            compile_strategy(plugin, config["feed"]["symbols"])
        except StrategyError as exc:
            raise RoleError(str(exc)) from None
        took = time.monotonic() - started
        if took > 2:
            say(f"strategy {entry['name']!r}: compiled in {took:.1f} s (cached for the next "
                f"start)")
        compiled.append((entry["name"], plugin))
    return compiled


def start_inlining(config: dict, say, compiled: list) -> None:
    """Each strategy's inlined runner (engine/inline_tier.py), for its next start: at
    idle priority, and only once the workers are warm. Started before them, it took a
    core of a two-core host from their compiles (an idle-priority task is still one
    the load balancer counts), and a cold start took 94 s instead of ~60."""
    from tickpipe.engine.inline_tier import start_background_compile
    if not config["engine"]["inline_callbacks"]:
        return
    for name, plugin in compiled:
        if start_background_compile(plugin):
            say(f"strategy {name!r}: inlining its callbacks in the background (idle "
                f"priority), for its next start")
