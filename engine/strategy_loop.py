"""The runner of a strategy process: the loop around a strategy's callbacks.

This file is a template. For each strategy, engine/runner_gen.py writes a copy
in which the line marked `# CALLBACKS` binds that strategy's callbacks instead
of the no-ops, so they are module-level globals of the copy: numba compiles
them into `run` and caches the result on disk, and a restarted or second
strategy process loads it instead of compiling (a callback passed as an
argument or closed over would be compiled again in every process).

What the loop does (the mechanics; nothing here is trading logic):
  quotes:  a batch of the quotes ring; per record of a subscribed symbol,
           begin_event, then on_quote or on_trade on the symbol's mirror row; at
           the end the touched rows synced, commit, publish, release.
  reports: a batch of this strategy's reports ring; per record, the engine's
           bookkeeping (position, order in flight), then on_fill; commit, ...
  timer:   every timer_ns, on_timer once per subscribed symbol; commit.
  then:    idle by the wait strategy; account the pass (heartbeat included).
Every wait (for room in the intents ring, on empty rings) stamps the heartbeat
and checks the stop flag (engine/batch.py, engine/idle.py).
"""

from numba import njit

from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.batch import BATCH, account_pass, stop_requested
from tickpipe.engine.histogram import record_value
from tickpipe.engine.idle import idle
from tickpipe.engine.ring import H_MASK, H_POSITION, consumer_available
from tickpipe.engine.strategy_events import (
    apply_report, begin_event, finish_batch, flush, room_for_event, start_batch,
)
from tickpipe.shm_layouts.histogram import HOP_FEED_TO_STRATEGY, HOP_GATEWAY_TO_STRATEGY
from tickpipe.shm_layouts.market_data import MD_KIND_QUOTE

from tickpipe.engine.strategy_callbacks import on_fill, on_quote, on_timer, on_trade  # CALLBACKS


@njit(cache=True, _nrt=False)
def run(ctx, mirror, params, timer_ns, max_passes):
    """Until stop_all (max_passes < 0) or for max_passes passes. Returns 0.

    mirror: the state rows as the strategy's records (the same bytes as
    ctx.mirror_words); a callback gets its symbol's row as `state`."""
    p = params[0]
    quotes_handle = ctx.inputs[0]
    reports_handle = ctx.inputs[1]
    n_symbols = ctx.subscribed.shape[0]
    next_timer = monotonic_ns() + timer_ns
    passes = 0
    while max_passes < 0 or passes < max_passes:
        if stop_requested(ctx.control):
            break
        passes += 1
        work = 0
        n = consumer_available(quotes_handle, BATCH)
        if n > 0:
            now = monotonic_ns()
            start_batch(ctx, now)
            start = quotes_handle[H_POSITION]
            mask = quotes_handle[H_MASK]
            committed = 0   # records of this batch committed by a flush
            end = n
            for i in range(n):
                tick = ctx.quotes[(start + i) & mask]
                record_value(ctx.histograms[HOP_FEED_TO_STRATEGY], now - tick.publish_ns)
                symbol = tick.symbol_id
                if ctx.subscribed[symbol] == 0:
                    continue
                if not room_for_event(ctx):
                    if not flush(ctx, 0, i - committed):
                        committed = end = i  # stopping: this record and the rest stay unread
                        break
                    committed = i
                begin_event(ctx, symbol, tick.origin_ns, tick.seq, (tick.bid_px + tick.ask_px) // 2)
                if tick.kind == MD_KIND_QUOTE:
                    on_quote(ctx, mirror[symbol], p, tick)
                else:
                    on_trade(ctx, mirror[symbol], p, tick)
            finish_batch(ctx, 0, end - committed)
            work += n
        m = consumer_available(reports_handle, BATCH)
        if m > 0:
            now = monotonic_ns()
            start_batch(ctx, now)
            start = reports_handle[H_POSITION]
            mask = reports_handle[H_MASK]
            committed = 0
            end = m
            for i in range(m):
                report = ctx.reports[(start + i) & mask]
                record_value(ctx.histograms[HOP_GATEWAY_TO_STRATEGY], now - report.publish_ns)
                if not room_for_event(ctx):
                    if not flush(ctx, 1, i - committed):
                        committed = end = i
                        break
                    committed = i
                begin_event(ctx, report.symbol_id, report.origin_ns, 0, 0)
                apply_report(ctx, report)
                on_fill(ctx, mirror[report.symbol_id], p, report)
            finish_batch(ctx, 1, end - committed)
            work += m
        if timer_ns > 0:
            now = monotonic_ns()
            if now >= next_timer:
                next_timer = max(next_timer + timer_ns, now)  # late: skip, never burst
                start_batch(ctx, now)
                for symbol in range(n_symbols):
                    if ctx.subscribed[symbol] == 0:
                        continue
                    if not room_for_event(ctx) and not flush(ctx, 0, 0):
                        break
                    begin_event(ctx, symbol, now, 0, 0)
                    on_timer(ctx, mirror[symbol], p, now)
                finish_batch(ctx, 0, 0)
                work += 1
        idle(ctx.idle_state, work, ctx.inputs)
        account_pass(ctx.row_words, ctx.idle_state, work, passes)
    return 0
