"""`tickpipe bench strategy`: ns per quote through one strategy process's loop, in this
process, with no other worker: the runner with the built-in mean reversion plug-in
beside the old inline loop of the same strategy (bench/strategy_inline.py).

Both read the same QUOTES_PER_RUN quotes from a real quotes ring in a real
segment and write their intents into a real intents ring (drained between runs);
each figure is the median of `runs` rounds after one warm-up round, a round running
every variant once in turn (so the VM's fast and slow states fall on all alike). Without the feed,
risk and gateway beside it this isolates what the loop itself costs, which the
pipeline bench cannot on two shared cores.
"""

import os
import time

import numpy as np

from tickpipe.engine.batch import BATCH
from tickpipe.engine.config import MAX_PRICE, MONEY_BOUND, load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs, strategy_state
from tickpipe.engine.placement import place_workers
from tickpipe.engine.ring import H_POSITION, RingProducer, consumer_handle, consumer_release
from tickpipe.engine.segment import create_segment, unlink_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE

QUOTES_PER_RUN = 50_000
SEGMENT_TAGS = {"inline": "si", "runner": "sr", "runner-inlined": "sri"}  # a segment each


def _quotes(count, n_symbols, start_px, seed=7):
    """A random walk per symbol, one tick up, down or none per quote."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, n_symbols, count)
    steps = rng.integers(-1, 2, count) * 100
    mids = np.full(n_symbols, start_px, dtype=np.int64)
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        mids[symbols[i]] += steps[i]
        out[i] = mids[symbols[i]]
    return symbols, out


class VariantRun:
    """One variant's loop, set up once on a segment of its own: run_once() pushes the
    quotes, runs the loop over them, drains the intents and resets the state, and
    returns ns per quote."""

    def __init__(self, variant: str, strategy: dict | None = None, compile_inlined: bool = True):
        overrides = {"engine": {"name": f"bench-{os.getpid()}-{SEGMENT_TAGS[variant]}", "wait": "spin",
                                "ring_capacity": 1 << 16},
                     "risk": {"max_position": MONEY_BOUND // MAX_PRICE}}  # as high as books allow
        if strategy is not None:
            overrides["strategy"] = [strategy]
        config = load_config(overrides=overrides)
        self.variant, self.name = variant, config["engine"]["name"]
        unlink_segment(self.name)
        segment = self.segment = create_segment(self.name, section_specs(config),
                                                use_hugetlbfs=False)
        try:
            initialise(segment, config, place_workers(PIPELINE, None, "spin"))
            segment.mark_ready()
            self.context = context = build_context(segment, "strategy", config)
            self.agent = _agent(variant, config, compile_inlined)(context)
            expected = {"runner": "entries", "runner-inlined": "inlined"}.get(variant)
            tier = getattr(self.agent, "tier", "entries")  # an older tickpipe had one tier
            if expected and tier != expected:
                raise RuntimeError(f"strategy bench: {variant} ran the {tier} runner")
            self.agent.warm_up()
            n_symbols = config["feed"]["symbols"]
            symbols, mids = _quotes(QUOTES_PER_RUN, n_symbols, config["feed"]["start_px"])
            block = self.block = np.zeros(QUOTES_PER_RUN, dtype=context.records["quotes"].dtype)
            block["kind"] = MD_KIND_QUOTE
            block["symbol_id"] = symbols
            block["bid_px"], block["ask_px"] = mids - 100, mids + 100
            block["bid_qty"] = block["ask_qty"] = 500
            self.producer = RingProducer(segment, "quotes", block.dtype)
            self.intents = consumer_handle(segment, "intents")
        except BaseException:
            self.close()
            raise

    def push_and_loop(self) -> float:
        """The quotes pushed, then read by the loop; ns per quote."""
        block, producer, context = self.block, self.producer, self.context
        block["origin_ns"] = block["publish_ns"] = time.monotonic_ns()
        pushed = 0
        while pushed < QUOTES_PER_RUN:  # the ring holds 65,536: one run fits
            pushed += producer.try_push(block[pushed:])
        start = time.perf_counter_ns()
        self.agent.loop(-(-QUOTES_PER_RUN // BATCH))  # one call: a batch of BATCH per pass
        took = (time.perf_counter_ns() - start) / QUOTES_PER_RUN
        if int(context.inputs[0][H_POSITION]) != int(producer.handle[H_POSITION]):
            raise RuntimeError(f"strategy bench: {self.variant} left quotes unread")
        return took

    def run_once(self) -> float:
        took = self.push_and_loop()
        head = int(context.outputs["intents"][H_POSITION])
        consumer_release(self.intents, head - int(self.intents[H_POSITION]))
        if self.variant != "inline":  # the same start for every run: an empty window
            strategy_state(self.segment, 0, self.agent.mirror.dtype)[:] = 0
            self.agent.mirror[:] = 0
        return took

    def close(self) -> None:
        self.segment.close()
        unlink_segment(self.name)


def _agent(variant: str, config, compile_inlined: bool = True):
    if variant == "inline":
        from tickpipe.bench.strategy_inline import Agent
        return Agent
    from tickpipe.workers.strategy.agent import RunnerAgent
    if variant == "runner-inlined":  # the second tier, compiled here and now unless it was
        if compile_inlined:
            from tickpipe.engine.inline_tier import compile_inlined as compile_now
            from tickpipe.engine.plugin import load_plugin
            from tickpipe.engine.runner_gen import compile_strategy, entries_path
            plugin = load_plugin(config["strategies"][0])
            compile_strategy(plugin, config["feed"]["symbols"])
            compile_now(entries_path(plugin))
        return RunnerAgent
    if hasattr(RunnerAgent, "use_inlined"):  # the first tier: callbacks called by address
        return type("EntriesAgent", (RunnerAgent,), {"use_inlined": False})
    return RunnerAgent


def variants() -> tuple:
    """The variants this tickpipe has (an older one, compared in turns, has no second tier)."""
    from tickpipe.workers.strategy.agent import RunnerAgent
    return ("inline", "runner") + (("runner-inlined",) if hasattr(RunnerAgent, "use_inlined") else ())


def run_strategy_bench(runs: int = 7) -> dict:
    """Every variant set up once, then `runs` rounds after a warm-up round, each running
    every variant once in turn: the VM's fast and slow states (a factor of two) fall on
    all of them alike, and each round's ratio to the inline loop is taken within it."""
    from tickpipe.bench.stats import machine_info
    names = variants()
    loops = []
    try:
        for variant in names:
            loops.append(VariantRun(variant))
        rounds = [[loop.run_once() for loop in loops] for _ in range(runs + 1)][1:]
    finally:
        for loop in loops:
            loop.close()
    rows = []
    for i, variant in enumerate(names):
        row = {"name": f"strategy-{variant}",
               "ns_per_quote": round(float(np.median([r[i] for r in rounds])), 1)}
        if i:
            row["vs_inline"] = round(float(np.median([r[i] / r[0] for r in rounds])), 2)
        rows.append(row)
    return {"results": rows, "machine": machine_info([os.sched_getaffinity(0).pop()])}


if __name__ == "__main__":
    import json
    print(json.dumps(run_strategy_bench(), indent=2))
