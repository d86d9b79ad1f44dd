"""A user's IOC taker that guards with tp.order_in_flight: it buys until its position
would pass `limit`, then sells back to flat, never with an order in flight. Under a
slow venue ([venue] latency_us) only an exact in-flight flag keeps it inside `limit`.
It also follows each IOC by its id to its final status."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"order_qty": 3, "limit": 10}

STATE = np.dtype([
    ("max_abs_position", np.int64),  # lots, the largest |position| its fills ever made
    ("sent", np.int64),              # IOCs sent (ids > 0)
    ("last_id", np.int64),           # the last IOC's id
    ("tracked", np.int64),           # IOCs whose final report it matched by id, status final
    ("selling", np.int64),           # 1 while it flattens
])


@njit
def on_quote(ctx, state, params, quote):
    if tp.order_in_flight(ctx) or quote.bid_px <= 0 or quote.ask_px <= 0:
        return
    position = tp.position(ctx)
    if state.selling == 1 and position <= 0:
        state.selling = 0
    if state.selling == 0 and position + params.order_qty > params.limit:
        state.selling = 1
    if state.selling == 1:
        order_id = tp.sell(ctx, min(params.order_qty, position), quote.bid_px)
    else:
        order_id = tp.buy(ctx, params.order_qty, quote.ask_px)
    if order_id > 0:
        state.sent += 1
        state.last_id = order_id


@njit
def on_fill(ctx, state, params, report):
    state.max_abs_position = max(state.max_abs_position, abs(tp.position(ctx)))
    if report.order_id == state.last_id and tp.is_final(tp.order_status(ctx, report.order_id)):
        state.tracked += 1
