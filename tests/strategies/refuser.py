"""A user's strategy that makes each kind of refusal once per symbol, on its first
quote: a negative quantity (the API refuses it: bad_order), a price off the tick grid
(risk denies it: off_tick), and a fifth order from one callback (no_room)."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"far_ticks": 50}

STATE = np.dtype([
    ("done", np.int64),
    ("bad_order", np.int64),   # -REFUSED_BAD_ORDER returned
    ("no_room", np.int64),     # -REFUSED_NO_ROOM returned
    ("off_tick", np.int64),    # REJECTED reports with REASON_RISK_OFF_TICK
])


@njit
def on_quote(ctx, state, params, quote):
    if state.done or quote.bid_px <= 0:
        return
    state.done = 1
    if tp.place(ctx, tp.BUY, -5, quote.bid_px, tp.GTC) == -tp.REFUSED_BAD_ORDER:
        state.bad_order += 1
    far = quote.bid_px - params.far_ticks * tp.tick_size(ctx)
    tp.buy(ctx, 1, far + 1)             # off the tick grid: risk's to deny
    for _ in range(3):
        tp.buy(ctx, 1, far)             # far below the market: the IOC cancels unfilled
    if tp.buy(ctx, 1, far) == -tp.REFUSED_NO_ROOM:
        state.no_room += 1


@njit
def on_fill(ctx, state, params, report):
    if report.exec_type == tp.EXEC_REJECTED and report.reject_reason == tp.REASON_RISK_OFF_TICK:
        state.off_tick += 1
