"""A strategy as the runner's kernels (engine/kernels.py): the callbacks, and the
engine's bookkeeping around each (engine/strategy_events.py).

The same kernels, and so the same compiled runner (engine/runner_gen.py
role_runner), serve every strategy: a strategy's callbacks are compiled alone, per
strategy file (engine/strategy_entries.py), and called by address through
ctx.callbacks (engine/callback_abi.py), so an edit of a strategy compiles its
callbacks, never the runner. A callback a strategy leaves out has address 0 and is
not called.

  input 0, quotes:   per record of a subscribed symbol, begin_event, then
                     on_quote or on_trade on the symbol's mirror row;
  input 1, reports:  per record, the engine's bookkeeping (position, the order's
                     row), then on_fill; read also while the runner waits for
                     room on the intents ring, with sends refused then
                     (tp.REFUSED_NO_ROOM);
  source, timer:     every TIMER_MS, on_timer once per subscribed symbol;
  before a commit:   the touched state and order rows synced into the segment.

Around each callback the guard (engine/strategy_guard.py) notes the record (a
callback that raises is named by it) and applies [[strategy]] on_error: a record the
supervisor marked gets a batch of its own (record_need: NOT_DUE before it), a
skipped one no callback (counted, with the batch), a retired strategy none at all.
"""

from numba import njit

from tickpipe.engine.callback_abi import (
    CB_CONTEXT, CB_KEPT, CB_ON_FILL, CB_ON_QUOTE, CB_ON_TIMER, CB_ON_TRADE, CB_PARAMS, CB_STATE,
    CB_STATE_BYTES, call_callback, keep_context, record_address,
)
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.clock import latency_sample
from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_has_data
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT
from tickpipe.engine.strategy_context import (
    D_FEED_NS, D_REPORT_NS, E_NOW_NS, T_CURSOR, T_FIRED_NS, T_INTERVAL_NS, T_NEXT_NS,
)
from tickpipe.engine.strategy_events import apply_report, begin_event, event_undo, sync_state
from tickpipe.engine.strategy_guard import kept_apart, left_out, note_record, retired
from tickpipe.engine.kernels import NOT_DUE, all_outputs_read as live_outputs  # noqa: F401
from tickpipe.shm_layouts.strategy_errors import REC_QUOTE, REC_REPORT, REC_TIMER
from tickpipe.shm_layouts.histogram import HOP_FEED_TO_STRATEGY, HOP_GATEWAY_TO_STRATEGY
from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE

IN_QUOTES, IN_REPORTS = 0, 1


# ---- CALLBACK: a strategy's inlined runner has its entries' `inlined` here (engine/inline_tier.py) ----
@njit(cache=True, _nrt=False, inline="always")
def callback(ctx, which, symbol, argument):
    """The strategy's callback `which` (CB_ON_*) on symbol's state row, if it has one."""
    callbacks = ctx.callbacks
    entry = callbacks[which]
    if entry != 0:
        call_callback(entry, callbacks[CB_CONTEXT],
                      callbacks[CB_STATE] + symbol * callbacks[CB_STATE_BYTES],
                      callbacks[CB_PARAMS], argument)
# ---- end of CALLBACK ----


@njit(cache=True, _nrt=False)
def begin_pass(ctx):
    """Keep the context where the callbacks read it, once: it never changes."""
    if ctx.callbacks[CB_KEPT] == 0:
        keep_context(ctx.callbacks[CB_CONTEXT], ctx)
        ctx.callbacks[CB_KEPT] = 1


@njit(cache=True, _nrt=False, inline="always")
def begin_batch(ctx, k, now):
    ctx.event[E_NOW_NS] = now


@njit(cache=True, _nrt=False, inline="always")
def record_need(ctx, k, position, now):
    """A callback may send MAX_ORDERS_PER_EVENT requests; a quote of a symbol the
    strategy does not trade calls none."""
    if k == IN_QUOTES:
        if kept_apart(ctx, k, REC_QUOTE, position):
            return NOT_DUE  # the marked record: a batch of its own (engine/strategy_guard.py)
        tick = ctx.quotes[position & ctx.inputs[IN_QUOTES, H_MASK]]
        if now < tick.origin_ns + latency_sample(ctx.delays[D_FEED_NS], tick.seq):
            return NOT_DUE  # a backtest's market-data latency: not here yet
        return MAX_ORDERS_PER_EVENT if ctx.subscribed[tick.symbol_id] else 0
    if kept_apart(ctx, k, REC_REPORT, position):
        return NOT_DUE
    report = ctx.reports[position & ctx.inputs[IN_REPORTS, H_MASK]]
    if now < report.publish_ns + latency_sample(ctx.delays[D_REPORT_NS], report.seq):
        return NOT_DUE  # a backtest's report latency
    return MAX_ORDERS_PER_EVENT


@njit(cache=True, _nrt=False)
def next_event_ns(ctx):
    """When the strategy next has a record due that a modelled delay holds back (a
    backtest's driver moves simulated time to it, engine/backtest_driver.py); -1 when none."""
    due = -1
    if consumer_has_data(ctx.inputs[IN_QUOTES]):
        handle = ctx.inputs[IN_QUOTES]
        tick = ctx.quotes[handle[H_POSITION] & handle[H_MASK]]
        delay = latency_sample(ctx.delays[D_FEED_NS], tick.seq)
        if delay > 0:
            due = tick.origin_ns + delay
    if consumer_has_data(ctx.inputs[IN_REPORTS]):
        handle = ctx.inputs[IN_REPORTS]
        report = ctx.reports[handle[H_POSITION] & handle[H_MASK]]
        delay = latency_sample(ctx.delays[D_REPORT_NS], report.seq)
        if delay > 0 and (due < 0 or report.publish_ns + delay < due):
            due = report.publish_ns + delay
    return due


@njit(cache=True, _nrt=False, inline="always")
def undo_need(ctx, need):
    return event_undo(ctx)


@njit(cache=True, _nrt=False, inline="always")
def on_record(ctx, k, position, now):
    if k == IN_QUOTES:
        tick = ctx.quotes[position & ctx.inputs[IN_QUOTES, H_MASK]]
        record_value(ctx.histograms[HOP_FEED_TO_STRATEGY], now - tick.publish_ns)
        symbol = tick.symbol_id
        if ctx.subscribed[symbol] == 0:
            return
        begin_event(ctx, symbol, tick.origin_ns, tick.seq, (tick.bid_px + tick.ask_px) // 2)
        if left_out(ctx, REC_QUOTE, position, symbol, tick.origin_ns):
            return
        if tick.kind == MD_KIND_QUOTE:
            callback(ctx, CB_ON_QUOTE, symbol, record_address(tick))
        else:
            callback(ctx, CB_ON_TRADE, symbol, record_address(tick))
    else:
        report = ctx.reports[position & ctx.inputs[IN_REPORTS, H_MASK]]
        record_value(ctx.histograms[HOP_GATEWAY_TO_STRATEGY], now - report.publish_ns)
        begin_event(ctx, report.symbol_id, report.origin_ns, 0, 0)
        apply_report(ctx, report)
        note_record(ctx, REC_REPORT, position)
        if left_out(ctx, REC_REPORT, position, report.symbol_id, report.origin_ns):
            return
        callback(ctx, CB_ON_FILL, report.symbol_id, record_address(report))


@njit(cache=True, _nrt=False)
def before_commit(ctx):
    sync_state(ctx)


@njit(cache=True, _nrt=False)
def source_need(ctx, now):
    """The timer: when it is due, one step per subscribed symbol, all at the firing's
    time; a late timer skips what it missed (never a burst)."""
    timer = ctx.timer
    interval = timer[T_INTERVAL_NS]
    if interval <= 0 or retired(ctx):
        return 0
    if timer[T_CURSOR] < 0:
        if timer[T_NEXT_NS] == 0:
            timer[T_NEXT_NS] = now + interval  # the first firing: one interval after the start
        if now < timer[T_NEXT_NS]:
            return 0
        # the next firing on the timer's own grid, after now: a late timer skips what it
        # missed. (It was max(next + interval, now): one late by more than an interval
        # was due again at once and fired twice at one time, a burst.)
        timer[T_NEXT_NS] += interval * ((now - timer[T_NEXT_NS]) // interval + 1)
        timer[T_FIRED_NS] = now
        timer[T_CURSOR] = 0
    n_symbols = ctx.subscribed.shape[0]
    while timer[T_CURSOR] < n_symbols and ctx.subscribed[timer[T_CURSOR]] == 0:
        timer[T_CURSOR] += 1
    if timer[T_CURSOR] >= n_symbols:
        timer[T_CURSOR] = -1
        return 0
    return MAX_ORDERS_PER_EVENT


@njit(cache=True, _nrt=False)
def source_step(ctx, now):
    timer = ctx.timer
    symbol = timer[T_CURSOR]
    timer[T_CURSOR] += 1
    fired = timer[T_FIRED_NS]
    ctx.event[E_NOW_NS] = fired
    begin_event(ctx, symbol, fired, 0, 0)
    note_record(ctx, REC_TIMER, symbol)
    if left_out(ctx, REC_TIMER, symbol, symbol, fired):
        return 1
    callback(ctx, CB_ON_TIMER, symbol, fired)
    return 1


@njit(cache=True, _nrt=False)
def pass_idle(ctx, work):
    idle(ctx.idle_state, work, ctx.inputs)
