"""Momentum breakout: a run of rising (falling) mids, confirmed by the trades' volume.

Per symbol it counts the quotes in a row whose mid rose above the one before (or
fell below it); a mid that did not change neither extends nor breaks the run.
From the trades it keeps a decaying sum of the volume bought by aggressors and
one of the volume sold: each trade first scales both by `volume_decay`.
While the run is at least `run_length` rises and buyers dominate (buy volume >=
`volume_ratio` x sell volume, `min_volume` lots in all) it buys at the ask (IOC),
and symmetrically sells at the bid, while its position stays within
`max_position`, one order in flight per symbol at a time. An order sent starts
the run again from the mid it was sent at.

Everything it remembers lives in STATE, in shared memory: `tickpipe inspect`
shows it, and a restarted strategy process resumes with it exactly as committed.
"""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {
    "run_length": 4,       # rises (falls) of the mid in a row that trigger an order
    "volume_ratio": 1.5,   # the run's side must trade this many times the other side
    "min_volume": 50,      # lots of recent trade volume, both sides, for a signal to count
    "volume_decay": 0.9,   # each trade first scales recent volume by this (0: that trade only)
    "order_qty": 10,       # lots per order
    "max_position": 100,   # stop adding past this, lots
}

NEGLIGIBLE = 1e-6  # lots: a decayed volume below this is 0 (no slow subnormal floats)


def check_params(params):
    if not 1 <= params["run_length"] <= 1_000_000:
        return f"param run_length = {params['run_length']}: must be from 1 to 1000000"
    if not params["volume_ratio"] >= 1.0:
        return f"param volume_ratio = {params['volume_ratio']}: must be >= 1"
    if not params["min_volume"] >= 0:
        return f"param min_volume = {params['min_volume']}: must be >= 0"
    if not 0.0 <= params["volume_decay"] < 1.0:
        return f"param volume_decay = {params['volume_decay']}: must be from 0 to below 1"
    if not params["order_qty"] >= 1:
        return f"param order_qty = {params['order_qty']}: must be >= 1"
    if not params["max_position"] >= 0:
        return f"param max_position = {params['max_position']}: must be >= 0"
    return None


def STATE(params):
    return np.dtype([
        ("last_mid", np.float64),     # the previous quote's mid, price units (0: none yet)
        ("run", np.int64),            # rises in a row (> 0) or falls in a row (< 0)
        ("buy_volume", np.float64),   # decaying sum of buy-aggressor trade volume, lots
        ("sell_volume", np.float64),  # the same for sell aggressors
    ])


@njit
def extend_run(run, mid, last_mid):
    """The run after a mid of `mid` following `last_mid`."""
    if mid > last_mid:
        return run + 1 if run > 0 else 1
    if mid < last_mid:
        return run - 1 if run < 0 else -1
    return run  # unchanged: the run goes on


@njit
def decayed(volume, decay):
    volume *= decay
    return volume if volume >= NEGLIGIBLE else 0.0


@njit
def signal(run, run_length, buy_volume, sell_volume, volume_ratio, min_volume,
           position, max_position):
    """+1 buy, -1 sell or 0 from the run and the volume that confirms it."""
    if buy_volume + sell_volume < min_volume:
        return 0
    if run >= run_length and buy_volume >= volume_ratio * sell_volume \
            and position < max_position:
        return 1
    if -run >= run_length and sell_volume >= volume_ratio * buy_volume \
            and position > -max_position:
        return -1
    return 0


@njit
def on_trade(ctx, state, params, trade):
    state.buy_volume = decayed(state.buy_volume, params.volume_decay)
    state.sell_volume = decayed(state.sell_volume, params.volume_decay)
    if trade.trade_qty <= 0:
        return
    if trade.aggressor_side > 0:
        state.buy_volume += trade.trade_qty
    elif trade.aggressor_side < 0:
        state.sell_volume += trade.trade_qty


@njit
def on_quote(ctx, state, params, quote):
    if quote.bid_px <= 0 or quote.ask_px <= quote.bid_px:
        return  # one-sided or crossed: no mid
    mid = (quote.bid_px + quote.ask_px) / 2
    if state.last_mid > 0.0:
        state.run = extend_run(state.run, mid, state.last_mid)
    state.last_mid = mid
    if tp.order_in_flight(ctx):
        return
    side = signal(state.run, params.run_length, state.buy_volume, state.sell_volume,
                  params.volume_ratio, params.min_volume, tp.position(ctx), params.max_position)
    sent = 0  # the order's id once sent (> 0), or -REFUSED_*
    if side > 0:
        sent = tp.buy(ctx, params.order_qty, quote.ask_px)
    elif side < 0:
        sent = tp.sell(ctx, params.order_qty, quote.bid_px)
    if sent > 0:
        state.run = 0
