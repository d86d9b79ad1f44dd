"""The order state machine: one table of (status, event) -> status, used by the venue
(the gateway), by each strategy's order table and by the tests. A move the table
does not have is INVALID: the caller counts it and leaves the order as it was.

    PENDING_NEW --accept--> NEW --fill_part--> PARTIALLY_FILLED --fill_all--> FILLED
        |  '--reject--> REJECTED          (an IOC may fill or cancel from PENDING_NEW)
    NEW / PARTIALLY_FILLED / REPLACED (working):
        --cancel_req--> PENDING_CANCEL --cancel_ack--> CANCELED
        --replace_req--> PENDING_REPLACE --replace_ack--> REPLACED (working again)
        --cancel_ack--> CANCELED (unsolicited: an IOC's rest, the kill switch)
        --expire--> EXPIRED (a DAY order at the session's end)
    PENDING_CANCEL / PENDING_REPLACE: fills still happen (a fill that crosses a cancel
        wins); a rejected cancel or replace goes back to NEW or PARTIALLY_FILLED.
    FILLED, CANCELED, REJECTED, EXPIRED are final: only a late request's reject (the
        order stays as it is) is legal after them.

Statuses are shm_layouts/open_order.py's STATUS_*, after FIX 4.4 OrdStatus.
"""

import numpy as np
from numba import njit

from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import (
    N_STATUSES, STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NEW, STATUS_NONE,
    STATUS_PARTIALLY_FILLED, STATUS_PENDING_CANCEL, STATUS_PENDING_NEW, STATUS_PENDING_REPLACE,
    STATUS_REJECTED, STATUS_REPLACED,
)
from tickpipe.shm_layouts.order_intent import REQ_NEW

(EV_SEND, EV_ACCEPT, EV_REJECT, EV_FILL_PART, EV_FILL_ALL, EV_CANCEL_REQ, EV_CANCEL_ACK,
 EV_REPLACE_REQ, EV_REPLACE_ACK, EV_REQ_REJECT_UNFILLED, EV_REQ_REJECT_FILLED,
 EV_EXPIRE) = range(12)
EVENT_NAMES = ("send", "accept", "reject", "fill_part", "fill_all", "cancel_req", "cancel_ack",
               "replace_req", "replace_ack", "req_reject_unfilled", "req_reject_filled",
               "expire")
N_EVENTS = len(EVENT_NAMES)
INVALID = -1

WORKING = (STATUS_NEW, STATUS_PARTIALLY_FILLED, STATUS_REPLACED)
PENDING = (STATUS_PENDING_CANCEL, STATUS_PENDING_REPLACE)
FINAL = (STATUS_FILLED, STATUS_CANCELED, STATUS_REJECTED, STATUS_EXPIRED)


def _table() -> np.ndarray:
    t = np.full((N_STATUSES, N_EVENTS), INVALID, dtype=np.int8)
    t[STATUS_NONE, EV_SEND] = STATUS_PENDING_NEW
    t[STATUS_PENDING_NEW, EV_ACCEPT] = STATUS_NEW
    t[STATUS_PENDING_NEW, EV_REJECT] = STATUS_REJECTED
    t[STATUS_PENDING_NEW, EV_FILL_PART] = STATUS_PARTIALLY_FILLED  # an IOC, no NEW first
    t[STATUS_PENDING_NEW, EV_FILL_ALL] = STATUS_FILLED
    t[STATUS_PENDING_NEW, EV_CANCEL_ACK] = STATUS_CANCELED         # an IOC that did not fill
    for s in WORKING:
        t[s, EV_FILL_PART] = STATUS_PARTIALLY_FILLED
        t[s, EV_FILL_ALL] = STATUS_FILLED
        t[s, EV_CANCEL_REQ] = STATUS_PENDING_CANCEL
        t[s, EV_CANCEL_ACK] = STATUS_CANCELED
        t[s, EV_REPLACE_REQ] = STATUS_PENDING_REPLACE
        t[s, EV_EXPIRE] = STATUS_EXPIRED
    for s in PENDING:
        t[s, EV_FILL_PART] = s                  # the fill wins; the request still pends
        t[s, EV_FILL_ALL] = STATUS_FILLED
        t[s, EV_CANCEL_ACK] = STATUS_CANCELED
        t[s, EV_EXPIRE] = STATUS_EXPIRED
        t[s, EV_REQ_REJECT_UNFILLED] = STATUS_NEW
        t[s, EV_REQ_REJECT_FILLED] = STATUS_PARTIALLY_FILLED
    t[STATUS_PENDING_REPLACE, EV_REPLACE_ACK] = STATUS_REPLACED
    for s in WORKING + FINAL:                   # a late request's reject changes nothing
        t[s, EV_REQ_REJECT_UNFILLED] = s
        t[s, EV_REQ_REJECT_FILLED] = s
    return t


TRANSITIONS = _table()


@njit(cache=True)
def next_status(transitions, status, event):
    """The status after `event`, or INVALID (-1) when the table has no such move."""
    return transitions[status, event]


@njit(cache=True)
def is_final(status):
    return status == STATUS_FILLED or status == STATUS_CANCELED or \
        status == STATUS_REJECTED or status == STATUS_EXPIRED


@njit(cache=True)
def is_working(status):
    """Resting at the venue (or about to be): it can fill, be cancelled or replaced."""
    return status == STATUS_NEW or status == STATUS_PARTIALLY_FILLED or \
        status == STATUS_REPLACED or status == STATUS_PENDING_CANCEL or \
        status == STATUS_PENDING_REPLACE


@njit(cache=True, _nrt=False, inline="always")
def start_row(row, order_id, symbol, side, order_type, tif, qty, limit_px, now):
    """An open-order row (shm_layouts/open_order.py) for a new order, before its first
    move: STATUS_NONE, nothing filled, all of qty leaves. The venue's book and each
    strategy's table start their rows so."""
    row.order_id = order_id
    row.symbol_id = symbol
    row.side = side
    row.status = STATUS_NONE
    row.order_type = order_type
    row.time_in_force = tif
    row.reject_reason = 0
    row.requests_out = 0
    row.qty = qty
    row.cum_qty = 0
    row.leaves_qty = qty
    row.queue_ahead = 0
    row.limit_px = limit_px
    row.avg_px = 0
    row.cum_notional = 0
    row.updated_ns = now


@njit(cache=True)
def report_event(exec_type, request, leaves_qty, cum_qty):
    """The event a report is for the order it names; -1 for none (a report the
    order's owner need not track)."""
    if exec_type == EXEC_NEW:
        return EV_ACCEPT
    if exec_type == EXEC_PARTIAL_FILL or exec_type == EXEC_FILL:
        return EV_FILL_ALL if leaves_qty == 0 else EV_FILL_PART
    if exec_type == EXEC_CANCELLED:
        return EV_CANCEL_ACK
    if exec_type == EXEC_REPLACED:
        return EV_REPLACE_ACK
    if exec_type == EXEC_EXPIRED:
        return EV_EXPIRE
    if exec_type == EXEC_REJECTED:
        if request == REQ_NEW:
            return EV_REJECT
        return EV_REQ_REJECT_FILLED if cum_qty > 0 else EV_REQ_REJECT_UNFILLED
    return -1
