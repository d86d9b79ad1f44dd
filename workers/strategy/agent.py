"""Strategy worker: runs one [[strategy]] plug-in through the strategy runner.

The runner (engine/runner.py, with engine/strategy_kernels.py as its kernels, the
same compiled code for every strategy: engine/runner_gen.py) owns the loop and calls
the plug-in's callbacks, compiled apart, by address (engine/callback_abi.py); the
plug-in (workers/strategies/ or a user's module) is only callbacks, params and a
per-symbol state that lives in the segment.

A callback that raises ends the process (the supervisor's restart policy and the
strategy's on_error take it from there: engine/on_error.py). Before it goes, the
process names the record it was handling in its errors row and, once marked FAILED,
explains the failure: the record's fields and, by a re-run of the callback in
Python, the user's file and line (engine/poison.py).
"""

import os

import numpy as np

from tickpipe.engine.agent import LoopAgent
from tickpipe.engine.engine_layout import (
    engine_rings, inputs_of, outputs_of, strategy_errors, strategy_index, strategy_orders,
    strategy_positions, strategy_state,
)
from tickpipe.engine.commit import undo_words
from tickpipe.engine.idle import I_SLEEP_TIMEOUT_NS
from tickpipe.engine.inline_tier import inlined_runner
from tickpipe.engine.plugin import load_plugin, source_label
from tickpipe.engine.poison import failed_record, record_phrase, rerun
from tickpipe.engine.runner_gen import (
    entry_addresses, load_entries, set_callbacks, strategy_runner,
)
from tickpipe.engine.strategy_config import symbol_ids
from tickpipe.engine.order_states import TRANSITIONS
from tickpipe.engine.strategy_context import (
    E_STRATEGY, StrategyContext, new_callbacks, new_context_cell, new_event, runner_fields,
)
from tickpipe.engine.strategy_guard import current_record, new_guard
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.open_order import ORDER_SLOTS


class RunnerAgent(LoopAgent):
    """The strategy process: quotes and its reports in, intents out, via its runner."""

    use_inlined = True  # False: always the shared runner (bench strategy compares the two)

    def __init__(self, context):
        super().__init__(context)
        config = context.config
        k = strategy_index(context.role)
        entry = config["strategies"][k]
        plugin = load_plugin(entry)
        self.plugin, self.config = plugin, config
        self.name, self.label = entry["name"], source_label(plugin.source)
        addresses = entry_addresses(load_entries(plugin), plugin)
        # The runner with this strategy's callbacks inlined once it has been compiled (in
        # the background, after its first start: engine/inline_tier.py), else the one
        # every strategy shares, calling them by address.
        inlined = inlined_runner(plugin) if self.use_inlined else None
        self.runner = inlined or strategy_runner()
        self.tier = "inlined" if inlined is not None else "entries"
        n_symbols = config["feed"]["symbols"]
        state = strategy_state(context.segment, k, plugin.state_dtype)
        # The rows callbacks edit: a copy of the segment's (as recovered), synced into it
        # with each batch (engine/strategy_events.py).
        self.mirror = byte_copy(state)
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
        self.orders = byte_copy(orders)
        event = new_event()
        event[E_STRATEGY] = k
        # on_error's word for this process (the supervisor's, before it started us)
        self.errors = strategy_errors(context.segment, k)
        guard = new_guard(self.errors[0], self.errors.ctypes.data)
        cell = new_context_cell()
        self.ctx = StrategyContext(
            event=event, inputs=context.inputs, quotes=context.records[inputs[0]],
            reports=context.records[inputs[1]], out=context.outputs[outputs[0]],
            intents=context.records[outputs[0]],
            positions=strategy_positions(context.segment, k, n_symbols), book=context.book,
            depth=context.depth, top=np.zeros(4, dtype=np.int64),
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
            callbacks=new_callbacks(cell, self.mirror, self.params), context_cell=cell,
            guard=guard,
            **runner_fields(event, context.outputs[outputs[0]], self.timer_ns))
        set_callbacks(self.ctx.callbacks, addresses)

    def loop(self, max_passes):
        try:
            return self.runner.run(self.ctx, max_passes)
        except Exception as exc:  # raised in a callback: say whose and on what record
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> "StrategyRuntimeError":
        """The error to end the process with: the record it was handling, named here and in
        the errors row (which the supervisor reads once we are gone: on_error)."""
        message = " ".join(str(exc).split())
        if len(message) > 160:
            message = message[:157] + "..."
        text = f"strategy {self.name!r} ({self.label}) raised {type(exc).__name__}: {message}"
        failure = None
        try:
            kind, position = current_record(self.ctx.event, self.ctx.guard)
            row = self.errors[0]
            row["failed_kind"], row["failed_position"] = kind, position
            row["failed_pid"] = os.getpid()
            failure = failed_record(self.ctx, kind, position)
            if failure is not None:
                text += f" in {failure.callback} on {self._phrase(failure)}"
        except Exception as error:  # naming the record must never hide the failure
            text += f" (its record not named: {type(error).__name__}: {error})"
        error = StrategyRuntimeError(text)
        error.failure = failure
        return error

    def explain_failure(self, exc: Exception) -> None:
        """Add to a StrategyRuntimeError the user's file and line (`where`, for the one-line
        summary) and the re-run's traceback (`log_text`, for the worker log), by re-running
        the callback in Python on the record (engine/poison.py). Never raises."""
        failure = getattr(exc, "failure", None)
        if failure is None:
            return
        try:
            result = rerun(self.plugin, self.ctx, failure)
            exc.where = result.where or f"raised in the jitted {failure.callback} of " \
                f"{self.label}, its line not found (a re-run in Python {result.why})"
            exc.log_text = (f"{failure.callback} raised on {self._phrase(failure)}, origin_ns "
                            f"{failure.time_ns}\n{result.text}")
        except Exception as error:  # an explanation must never hide the failure
            exc.log_text = f"no explanation: {type(error).__name__}: {error}"

    def _phrase(self, failure) -> str:
        """'quote SYM0 #4 (t+0.61 s: bid_px=... ...)': the record, for people."""
        return record_phrase(failure.kind, failure.position, self._symbol_name(failure.symbol),
                             failure.time_ns, failure.record, self._feed_started_ns())

    def _symbol_name(self, symbol: int) -> str:
        instruments = self.config["instruments"]
        return instruments[symbol]["name"] if 0 <= symbol < len(instruments) else f"#{symbol}"

    def _feed_started_ns(self) -> int:
        return int(self.context.segment.view("control", CONTROL_DTYPE)[0]["feed_started_ns"])


def byte_copy(rows: np.ndarray) -> np.ndarray:
    """A copy of segment rows byte for byte, padding included: np.array() copies a padded
    record's fields and leaves its padding as malloc had it, and the batch's sync
    compares and writes whole words, so the garbage would be logged and written into the
    segment."""
    return np.array(rows.view(np.uint8)).view(rows.dtype).reshape(rows.shape)


class StrategyRuntimeError(Exception):
    """A strategy's callback raised; the supervisor restarts the process (its policy) and
    the strategy's on_error acts on a record it raises on twice. `failure` is the record
    (engine/poison.py Failure); explain_failure adds `where` and `log_text`."""

    failure = None


Agent = RunnerAgent
