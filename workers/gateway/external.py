"""The gateway's side of a venue that runs in a process of its own ([venue] kind = "fix":
workers/fix_venue/). Jitted kernels over the same VenueBook as the simulated venue's
(workers/gateway/venue.py), so the venue_orders table, `tickpipe inspect`, the drain
and the kill switch read one book whatever the venue.

The boundary is two rings: the gateway forwards each request risk passed on
`venue_requests` (ORDER records, as risk wrote them) and reads the venue's answers from
`venue_reports` (FILL records: the venue's word on the order, in our units: exec_type,
ord_status, last/cum/leaves qty, last/avg/order px, order qty, the request answered and
a reject reason). A venue process translates both to its wire and back and decides
nothing about money: what a report takes off risk's open quantity (released_qty) and
whether it ends the order (closes_order) are computed here, from the row as it stood
before the report, with the same rules as the simulated venue's (shm_layouts/fill.py):

  new ack           released 0
  partial fill      released last_qty
  fill (leaves 0)   released the row's leaves: the lots filled, and any rest the venue
                    cancelled unheard (a reconciliation's news); closes
  cancel / expiry   released the row's leaves; closes
  replaced          released the old leaves + what had filled (risk added the new total)
  new rejected      released the row's qty; closes
  replace rejected  released the qty the replace asked for (the row keeps it in
                    `queue_ahead` while the replace pends: a venue of its own process
                    has no queue model here)
  cancel rejected   released 0

Requests out: a replace pending is queue_ahead != 0 (at most one: the strategy API
refuses a second while one pends); requests_out counts it and every cancel sent, until
each is answered (replaced or refused; cancelled or refused). A cancel the venue made
itself (no cancel of ours out) answers none. The order may end before an answer comes
(filled while the replace was on its way), and the refusal that follows still releases
what risk added: a final row with requests out is not reused (workers/gateway/venue.py
_free_row).

A report applied twice would count money twice, so each is checked against the row
first (the venue process drops what its session layer knows to be a resend; this is
the table's own guard, which also holds across a restart of that process): a fill
whose cum_qty is not above the row's, an ack of an order already acknowledged, a
replace's answer with no replace out, a cancel's refusal with no cancel out, or any
other report for an order already final, is dropped and counted (the gateway's
`venue_reports_dropped`).

Return codes: apply_report returns the reports written to `reports` (0 or 1), or
DROPPED_DUPLICATE (-1), NOT_OURS (-2) for an order the book does not hold.
"""

from numba import njit

from tickpipe.engine.commit import mark_row as mark_dirty
from tickpipe.engine.order_states import is_final
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import STATUS_NONE, STATUS_PENDING_NEW
from tickpipe.shm_layouts.order_intent import REQ_CANCEL, REQ_NEW, REQ_REPLACE
from tickpipe.workers.gateway.venue import _free_row, _take_row, find_row

DROPPED_DUPLICATE, NOT_OURS = -1, -2
NO_ROW = -1


@njit(cache=True)
def take_new(book, order_id, symbol, side, order_type, tif, qty, limit_px, now):
    """A row for a new order going out, PENDING_NEW until the venue answers; its index,
    or NO_ROW when the table is full."""
    rows, used, dirty, dirty_mark = book.rows, book.used, book.dirty, book.dirty_mark
    i = _free_row(rows, used)
    if i < 0:
        return NO_ROW
    _take_row(rows, used, i, order_id, symbol, side, order_type, tif, qty, limit_px, now)
    rows[i].status = STATUS_PENDING_NEW
    mark_dirty(dirty, dirty_mark, i)
    return i


@njit(cache=True)
def note_request(book, i, request, qty, now):
    """Row i has a cancel or replace going out (a replace to `qty`: kept for the answer's
    released_qty). Counted in requests_out until answered: the row's order may end
    before its answer comes (filled), and its row is not reused until then."""
    o = book.rows[i]
    if o.requests_out < 255:
        o.requests_out += 1
    if request == REQ_REPLACE:
        o.queue_ahead = qty
    o.updated_ns = now
    mark_dirty(book.dirty, book.dirty_mark, i)


@njit(cache=True)
def _answered(o):
    if o.requests_out > 0:
        o.requests_out -= 1


@njit(cache=True)
def _released(o, report):
    """What `report` takes off risk's open quantity, and whether it ends the order, from
    row o before the report (the table in the module's docstring)."""
    kind = report.exec_type
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
        if report.leaves_qty == 0:  # it ends the order: whatever was open goes back (the
            return o.leaves_qty, 1  # venue may have cancelled the rest unheard)
        return report.last_qty, 0
    if kind == EXEC_CANCELLED or kind == EXEC_EXPIRED:
        return o.leaves_qty, 1
    if kind == EXEC_REPLACED:
        return o.leaves_qty + o.cum_qty, 0
    if kind == EXEC_REJECTED:
        if report.request == REQ_NEW:
            return o.qty, 1
        if report.request == REQ_REPLACE:
            return o.queue_ahead, 0
        return 0, 0
    return 0, 0


@njit(cache=True)
def _replace_out(o):
    return o.queue_ahead != 0  # a replace's qty is > 0


@njit(cache=True)
def _cancels_out(o):
    return o.requests_out - (1 if _replace_out(o) else 0)


@njit(cache=True)
def _duplicate(o, report):
    """Every request out is answered once: a replace's answer with no replace out, or a
    cancel's refusal with no cancel out, is one seen before."""
    kind = report.exec_type
    if kind == EXEC_REPLACED or (kind == EXEC_REJECTED and report.request == REQ_REPLACE):
        return not _replace_out(o)
    if kind == EXEC_REJECTED and report.request == REQ_CANCEL:
        return _cancels_out(o) <= 0
    if is_final(o.status):
        return True
    if kind == EXEC_NEW:
        return o.status != STATUS_PENDING_NEW
    if kind == EXEC_FILL or kind == EXEC_PARTIAL_FILL:
        return report.cum_qty <= o.cum_qty
    return False


@njit(cache=True)
def apply_report(book, report, now, out):
    """The venue's report on one of our orders: checked against its row, the row set to
    the venue's word, and the report for risk and the strategy in out[0] (released_qty
    and closes_order ours). Returns 1, DROPPED_DUPLICATE or NOT_OURS."""
    i = find_row(book.rows, book.used, report.order_id)
    if i < 0:
        return NOT_OURS
    o = book.rows[i]
    if _duplicate(o, report):
        return DROPPED_DUPLICATE
    released, closes = _released(o, report)
    r = out[0]
    r.order_id = o.order_id
    r.symbol_id = o.symbol_id
    r.side = o.side
    r.exec_type = report.exec_type
    r.last_qty = report.last_qty
    r.last_px = report.last_px
    r.request = report.request
    r.reject_reason = report.reject_reason
    r.released_qty = released
    r.closes_order = closes
    r.order_type = o.order_type
    r.time_in_force = o.time_in_force
    if report.exec_type == EXEC_REJECTED and report.request != REQ_NEW:
        # a cancel or replace refused: the order stands as it was (a venue's cancel
        # reject may carry no quantities at all)
        _answered(o)
        if report.request == REQ_REPLACE:
            o.queue_ahead = 0
    else:
        o.status = report.ord_status
        o.cum_qty = report.cum_qty
        o.leaves_qty = report.leaves_qty
        if report.avg_px != 0:
            o.avg_px = report.avg_px
        if report.order_px != 0:
            o.limit_px = report.order_px
        if report.order_qty != 0:
            o.qty = report.order_qty
        if report.exec_type == EXEC_REPLACED:
            o.queue_ahead = 0
            _answered(o)
        if report.exec_type == EXEC_CANCELLED and report.request == REQ_CANCEL and \
                _cancels_out(o) > 0:
            _answered(o)  # our cancel's answer (one the venue made itself answers none)
        if report.exec_type == EXEC_FILL or report.exec_type == EXEC_PARTIAL_FILL:
            o.cum_notional += report.last_qty * report.last_px
    o.updated_ns = now
    mark_dirty(book.dirty, book.dirty_mark, i)
    r.ord_status = o.status
    r.cum_qty = o.cum_qty
    r.leaves_qty = o.leaves_qty
    r.avg_px = o.avg_px
    r.order_px = o.limit_px
    r.order_qty = o.qty
    return 1


@njit(cache=True)
def cancel_targets(book, cancel_sent, out):
    """The kill switch at a venue of its own process: the working rows no cancel has
    been sent for, at most out.shape[0] of them, into `out`; each is marked sent
    (process memory: a restarted gateway sends one more, which the venue refuses as
    too late at worst). Returns how many."""
    n = 0
    for i in range(book.used[0]):
        s = book.rows[i].status
        if s != STATUS_NONE and not is_final(s) and cancel_sent[i] == 0:
            if n >= out.shape[0]:
                break
            cancel_sent[i] = 1
            note_request(book, i, REQ_CANCEL, 0, book.rows[i].updated_ns)
            out[n] = i
            n += 1
    return n


@njit(cache=True)
def unsent_cancels(book, cancel_sent):
    """Working rows the kill switch has not sent a cancel for yet."""
    n = 0
    for i in range(book.used[0]):
        s = book.rows[i].status
        if s != STATUS_NONE and not is_final(s) and cancel_sent[i] == 0:
            n += 1
    return n
