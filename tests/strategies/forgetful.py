"""A user's strategy that replaces an order its table no longer knows: it rests a sell
far above the market, cancels it, then sends IOCs (each takes a row of its order
table; one at a time, so its position stays 0 or 1) until the cancelled order's row
has been taken by another, and then replaces the old id. The API sends that request
for the event's symbol and BUY (it has nothing else to go by); the venue still has
the order, a sell. Its state keeps the answer."""

import numpy as np
from numba import njit

import tickpipe as tp

STATE = np.dtype([
    ("step", np.int64),
    ("old_id", np.int64),       # the order it forgets
    ("iocs", np.int64),         # IOCs sent
    ("position", np.int64),     # signed lots, from its own fills
    ("answer", np.int64),       # exec_type of the replace's answer (0: none yet)
    ("reason", np.int64),       # its reject_reason
])


@njit
def on_quote(ctx, state, params, quote):
    tick = tp.tick_size(ctx)
    if state.step == 0:
        placed = tp.place(ctx, tp.SELL, 5, quote.ask_px + 20 * tick, tp.GTC)
        if placed > 0:
            state.old_id = placed
            state.step = 1
    elif state.step == 1 and tp.order_status(ctx, state.old_id) == tp.STATUS_NEW:
        if tp.cancel(ctx, state.old_id) == tp.SENT:
            state.step = 2
    elif state.step == 2 and tp.order_status(ctx, state.old_id) != tp.STATUS_NONE:
        # one IOC at a time: with several in flight (a slow machine answers late) their
        # buys would add up to the position limit, and risk would refuse the replace
        if tp.orders_in_flight(ctx) > 0:
            return
        if state.position > 0:
            sent = tp.sell(ctx, 1, quote.bid_px)
        else:
            sent = tp.buy(ctx, 1, quote.ask_px)
        if sent > 0:
            state.iocs += 1
    elif state.step == 2:       # its row went to another order: the table has forgotten it
        if tp.replace(ctx, state.old_id, 5, quote.bid_px - 20 * tick) == tp.SENT:
            state.step = 3


@njit
def on_fill(ctx, state, params, report):
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.position += report.side * report.last_qty
    if state.step == 3 and np.int64(report.order_id) == state.old_id:
        state.answer = report.exec_type
        state.reason = report.reject_reason
