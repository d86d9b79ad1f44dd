"""The bench's quoting loop (a plug-in, as a user writes one): one resting order a side, at
the touch, moved (replaced) when the touch moves, a new one when it is done. The same
loop as bench/backtest_peer.py gives hftbacktest."""

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {"order_qty": 1}

STATE = np.dtype([("buy_id", np.int64), ("buy_px", np.int64),
                  ("sell_id", np.int64), ("sell_px", np.int64), ("fills", np.int64)])


@njit
def _side(ctx, order_id, own_px, side, px, qty):
    """The order id of the side's order after this quote (placed, moved or kept)."""
    status = tp.order_status(ctx, order_id) if order_id > 0 else tp.STATUS_NONE
    if order_id <= 0 or status == tp.STATUS_NONE or tp.is_final(status):
        placed = tp.place(ctx, side, qty, px, tp.GTC)
        return placed if placed > 0 else 0
    if own_px != px and (status == tp.STATUS_NEW or status == tp.STATUS_PARTIALLY_FILLED):
        tp.replace(ctx, order_id, qty, px)
    return order_id


@njit
def on_quote(ctx, state, params, quote):
    if not tp.can_trade(ctx):
        return
    state.buy_id = _side(ctx, state.buy_id, state.buy_px, tp.BUY, quote.bid_px,
                         params.order_qty)
    state.buy_px = quote.bid_px
    state.sell_id = _side(ctx, state.sell_id, state.sell_px, tp.SELL, quote.ask_px,
                          params.order_qty)
    state.sell_px = quote.ask_px


@njit
def on_fill(ctx, state, params, report):
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.fills += 1
