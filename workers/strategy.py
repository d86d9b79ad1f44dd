"""Strategy worker: runs one [[strategy]] plug-in through its generated runner.

The runner (engine/runner.py, with engine/strategy_kernels.py as its kernels; one
generated copy per strategy: engine/runner_gen.py) owns the loop; the plug-in (workers/strategies/ or a
user's module) is only callbacks, params and a per-symbol state that lives in
the segment. TICKPIPE_STRATEGY_LOOP=inline runs the old hand-written mean
reversion instead (workers/strategy_inline.py), for the bench comparison.
"""

import os

import numpy as np

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.engine_layout import (
    engine_rings, inputs_of, outputs_of, strategy_index, strategy_orders, strategy_positions,
    strategy_state,
)
from tickpipe.engine.commit import undo_words
from tickpipe.engine.idle import I_SLEEP_TIMEOUT_NS
from tickpipe.engine.plugin import load_plugin, source_label
from tickpipe.engine.runner_gen import load_runner, write_runner
from tickpipe.engine.strategy_config import symbol_ids
from tickpipe.engine.order_states import TRANSITIONS
from tickpipe.engine.strategy_context import (
    E_STRATEGY, StrategyContext, new_event, runner_fields,
)
from tickpipe.shm_layouts.open_order import ORDER_SLOTS


class RunnerAgent(LoopAgent):
    """The strategy process: quotes and its reports in, intents out, via its runner."""

    def __init__(self, context):
        super().__init__(context)
        config = context.config
        k = strategy_index(context.role)
        entry = config["strategies"][k]
        plugin = load_plugin(entry)
        self.name, self.label = entry["name"], source_label(plugin.source)
        self.runner = load_runner(write_runner(plugin.source, plugin.file))
        n_symbols = config["feed"]["symbols"]
        state = strategy_state(context.segment, k, plugin.state_dtype)
        # The rows callbacks edit: a copy of the segment's (as recovered), synced into it
        # with each batch (engine/strategy_events.py).
        self.mirror = np.array(state)
        self.params = np.zeros(1, dtype=plugin.params_dtype)
        for key, value in plugin.params.items():
            self.params[0][key] = value
        subscribed = np.zeros(n_symbols, dtype=np.uint8)
        subscribed[symbol_ids(entry, config["instruments"])] = 1
        self.timer_ns = int(plugin.timer_ms * 1_000_000)
        rings = engine_rings(config)
        inputs = [spec.section for spec in inputs_of(context.role, rings)]
        outputs = [spec.section for spec in outputs_of(context.role, rings)]
        if self.timer_ns:  # a sleeping worker wakes in time for its timer
            context.idle_state[I_SLEEP_TIMEOUT_NS] = min(
                int(context.idle_state[I_SLEEP_TIMEOUT_NS]), self.timer_ns)
        # Its order table likewise: a copy edited by the API and the reports, synced per batch.
        orders = strategy_orders(context.segment, k)
        self.orders = np.array(orders)
        event = new_event()
        event[E_STRATEGY] = k
        self.ctx = StrategyContext(
            event=event, inputs=context.inputs, quotes=context.records[inputs[0]],
            reports=context.records[inputs[1]], out=context.outputs[outputs[0]],
            intents=context.records[outputs[0]],
            positions=strategy_positions(context.segment, k, n_symbols), book=context.book,
            top=np.zeros(4, dtype=np.int64),
            tick_sizes=np.array([i["tick_size"] for i in config["instruments"]], dtype=np.int64),
            subscribed=subscribed,
            state_words=state.view(np.uint64).reshape(n_symbols, -1),
            mirror_words=self.mirror.view(np.uint64).reshape(n_symbols, -1),
            dirty=np.zeros(1 + n_symbols, dtype=np.int64),
            dirty_mark=np.zeros(n_symbols, dtype=np.uint8), txn=context.txn,
            undo=undo_words(context.txn),
            row_words=context.row_words, idle_state=context.idle_state,
            histograms=context.histograms, control=context.control_address,
            orders=self.orders, orders_mirror=self.orders.view(np.uint64).reshape(ORDER_SLOTS, -1),
            orders_words=orders.view(np.uint64).reshape(ORDER_SLOTS, -1),
            orders_dirty=np.zeros(1 + ORDER_SLOTS, dtype=np.int64),
            orders_dirty_mark=np.zeros(ORDER_SLOTS, dtype=np.uint8), transitions=TRANSITIONS,
            state=self.mirror, params=self.params,
            **runner_fields(event, context.outputs[outputs[0]], self.timer_ns))

    def loop(self, max_passes):
        try:
            return self.runner.run(self.ctx, max_passes)
        except Exception as exc:  # raised in a callback: say whose (numba gives no line)
            raise StrategyRuntimeError(f"strategy {self.name!r} ({self.label}) raised "
                                       f"{type(exc).__name__}: {exc}") from exc


class StrategyRuntimeError(Exception):
    """A strategy's callback raised; the supervisor restarts the process (its policy)."""


if os.environ.get("TICKPIPE_STRATEGY_LOOP") == "inline":
    from tickpipe.workers.strategy_inline import Agent  # noqa: F401
else:
    Agent = RunnerAgent
