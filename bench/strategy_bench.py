"""`tickpipe bench strategy`: ns per quote through one strategy process's loop, in this
process, with no other worker: the runner with the built-in mean reversion plug-in
beside the old inline loop of the same strategy (bench/strategy_inline.py).

Both read the same QUOTES_PER_RUN quotes from a real quotes ring in a real
segment and write their intents into a real intents ring (drained between runs);
each figure is the median of `runs` runs after one warm-up. Without the feed,
risk and gateway beside it this isolates what the loop itself costs, which the
pipeline bench cannot on two shared cores.
"""

import os
import time

import numpy as np

from tickpipe.engine.batch import BATCH
from tickpipe.engine.config import MAX_PRICE, MONEY_BOUND, load_config
from tickpipe.engine.engine_layout import ROLES, initialise, section_specs, strategy_state
from tickpipe.engine.placement import place_workers
from tickpipe.engine.ring import H_POSITION, RingProducer, consumer_handle, consumer_release
from tickpipe.engine.segment import create_segment, unlink_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE

QUOTES_PER_RUN = 50_000


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


def strategy_ns_per_quote(variant: str, runs: int = 7, strategy: dict | None = None) -> float:
    overrides = {"engine": {"name": f"bench-{os.getpid()}-strat", "wait": "spin",
                            "ring_capacity": 1 << 16},
                 "risk": {"max_position": MONEY_BOUND // MAX_PRICE}}  # as high as books allow
    if strategy is not None:
        overrides["strategy"] = [strategy]
    config = load_config(overrides=overrides)
    name = config["engine"]["name"]
    unlink_segment(name)
    segment = create_segment(name, section_specs(config), use_hugetlbfs=False)
    try:
        initialise(segment, config, place_workers(ROLES, None, "spin"))
        segment.mark_ready()
        context = build_context(segment, "strategy", config)
        if variant == "inline":
            from tickpipe.bench.strategy_inline import Agent
        else:
            from tickpipe.workers.strategy import RunnerAgent as Agent
        agent = Agent(context)
        agent.warm_up()
        n_symbols = config["feed"]["symbols"]
        symbols, mids = _quotes(QUOTES_PER_RUN, n_symbols, config["feed"]["start_px"])
        block = np.zeros(QUOTES_PER_RUN, dtype=context.records["quotes"].dtype)
        block["kind"] = MD_KIND_QUOTE
        block["symbol_id"] = symbols
        block["bid_px"], block["ask_px"] = mids - 100, mids + 100
        block["bid_qty"] = block["ask_qty"] = 500
        producer = RingProducer(segment, "quotes", block.dtype)
        intents = consumer_handle(segment, "intents")
        per_quote = []
        for _ in range(runs + 1):
            block["origin_ns"] = block["publish_ns"] = time.monotonic_ns()
            pushed = 0
            while pushed < QUOTES_PER_RUN:  # the ring holds 65,536: one run fits
                pushed += producer.try_push(block[pushed:])
            start = time.perf_counter_ns()
            agent.loop(-(-QUOTES_PER_RUN // BATCH))  # one call: a batch of BATCH per pass
            per_quote.append((time.perf_counter_ns() - start) / QUOTES_PER_RUN)
            if int(context.inputs[0][H_POSITION]) != int(producer.handle[H_POSITION]):
                raise RuntimeError(f"strategy bench: {variant} left quotes unread")
            head = int(context.outputs["intents"][H_POSITION])
            consumer_release(intents, head - int(intents[H_POSITION]))
            if variant != "inline":  # the same start for every run: an empty window
                strategy_state(segment, 0, agent.mirror.dtype)[:] = 0
                agent.mirror[:] = 0
        return float(np.median(per_quote[1:]))
    finally:
        segment.close()
        unlink_segment(name)


def run_strategy_bench(runs: int = 7) -> dict:
    from tickpipe.bench.stats import machine_info
    rows = []
    for variant in ("inline", "runner"):
        rows.append({"name": f"strategy-{variant}", "ns_per_quote":
                     round(strategy_ns_per_quote(variant, runs), 1)})
    rows[1]["vs_inline"] = round(rows[1]["ns_per_quote"] / rows[0]["ns_per_quote"], 2)
    return {"results": rows, "machine": machine_info([os.sched_getaffinity(0).pop()])}


if __name__ == "__main__":
    import json
    print(json.dumps(run_strategy_bench(), indent=2))
