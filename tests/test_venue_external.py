"""The gateway's side of a venue in a process of its own (workers/gateway/external.py),
kernel by kernel: what each report of the venue releases from risk's open quantity, and
that one applied twice, in any order the wire allows, counts once. Risk's open quantity
for an order is what it added (the new order's qty, then each replace's new total)
less every released_qty: these tests keep that sum and check it ends at 0."""

import numpy as np
import pytest

from tickpipe.engine.order_states import TRANSITIONS
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED, EXEC_REPLACED,
    FILL_DTYPE,
)
from tickpipe.shm_layouts.open_order import (
    OPEN_ORDER_DTYPE, STATUS_CANCELED, STATUS_FILLED, STATUS_NEW, STATUS_PARTIALLY_FILLED,
    VENUE_SLOTS,
)
from tickpipe.shm_layouts.order_intent import REQ_CANCEL, REQ_NEW, REQ_REPLACE
from tickpipe.workers.gateway.external import (
    DROPPED_DUPLICATE, NOT_OURS, apply_report, note_request, take_new,
)
from tickpipe.workers.gateway.venue import VenueBook, _free_row

ORDER, PX = 7, 1_000_000


class Book:
    """One order's row and risk's open quantity for it."""

    def __init__(self, qty=10):
        self.rows = np.zeros(VENUE_SLOTS, dtype=OPEN_ORDER_DTYPE)
        self.book = VenueBook(rows=self.rows, used=np.zeros(1, np.int64),
                              dirty=np.zeros(1 + VENUE_SLOTS, np.int64),
                              dirty_mark=np.zeros(VENUE_SLOTS, np.uint8),
                              transitions=TRANSITIONS, illegal=np.zeros(1, np.int64))
        self.out = np.zeros(1, dtype=FILL_DTYPE)
        self.row = take_new(self.book, ORDER, 0, 1, 0, 0, qty, PX, 1)
        self.open = qty  # what risk added for the new order
        self.closed = 0

    def replace(self, qty):
        note_request(self.book, self.row, REQ_REPLACE, qty, 2)
        self.open += qty  # risk adds the new total

    def cancel(self):
        note_request(self.book, self.row, REQ_CANCEL, 0, 2)

    def report(self, exec_type, request=REQ_NEW, cum=0, leaves=0, last=0, status=0):
        r = np.zeros(1, dtype=FILL_DTYPE)[0]
        r["order_id"], r["exec_type"], r["request"], r["ord_status"] = \
            ORDER, exec_type, request, status
        r["cum_qty"], r["leaves_qty"], r["last_qty"], r["last_px"] = cum, leaves, last, PX
        made = apply_report(self.book, r, 3, self.out)
        if made == 1:
            self.open -= int(self.out[0]["released_qty"])
            self.closed += int(self.out[0]["closes_order"])
        return made


def test_fill_then_cancel_learnt_late_releases_the_rest():
    """The venue filled 4 of 10 and cancelled the rest while we could not hear: the fill
    that ends the order (leaves 0) gives back all 10; the cancel after it is old news."""
    b = Book()
    assert b.report(EXEC_NEW, leaves=10, status=STATUS_NEW) == 1
    assert b.report(EXEC_FILL, cum=4, leaves=0, last=4, status=STATUS_CANCELED) == 1
    assert b.report(EXEC_CANCELLED, cum=4, status=STATUS_CANCELED) == DROPPED_DUPLICATE
    assert (b.open, b.closed) == (0, 1)


def test_a_cancel_the_venue_made_does_not_answer_our_replace():
    """A replace to 15 is out when the venue cancels the order by itself: the replace's
    refusal that follows still gives back the 15 risk added."""
    b = Book()
    b.report(EXEC_NEW, leaves=10, status=STATUS_NEW)
    b.replace(15)
    assert b.report(EXEC_CANCELLED, REQ_NEW, status=STATUS_CANCELED) == 1
    assert b.rows[b.row]["requests_out"] == 1          # the replace is still out
    assert _free_row(b.rows, b.book.used) != b.row     # so its row is not reused
    assert b.report(EXEC_REJECTED, REQ_REPLACE) == 1
    assert b.report(EXEC_REJECTED, REQ_REPLACE) == DROPPED_DUPLICATE
    assert (b.open, b.closed) == (0, 1)
    assert _free_row(b.rows, b.book.used) == b.row


def test_replace_racing_a_fill():
    """The order fills while a replace is on its way: the venue's too-late refusal comes
    after the fill and still releases the replace's qty."""
    b = Book()
    b.report(EXEC_NEW, leaves=10, status=STATUS_NEW)
    b.replace(12)
    assert b.report(EXEC_FILL, cum=10, leaves=0, last=10, status=STATUS_FILLED) == 1
    assert b.report(EXEC_REJECTED, REQ_REPLACE) == 1
    assert (b.open, b.closed) == (0, 1)


def test_every_report_twice_counts_once():
    """A resend after a restart delivers each report again: the table drops each."""
    b = Book()
    steps = [(EXEC_NEW, REQ_NEW, 0, 10, 0, STATUS_NEW),
             (EXEC_PARTIAL_FILL, REQ_NEW, 3, 7, 3, STATUS_PARTIALLY_FILLED)]
    for step in steps:
        assert b.report(*step) == 1
        assert b.report(*step) == DROPPED_DUPLICATE
    b.replace(13)  # 3 filled + 10 working
    replaced = (EXEC_REPLACED, REQ_REPLACE, 3, 10, 0, STATUS_PARTIALLY_FILLED)
    assert b.report(*replaced) == 1 and b.report(*replaced) == DROPPED_DUPLICATE
    b.cancel()
    cancelled = (EXEC_CANCELLED, REQ_CANCEL, 3, 0, 0, STATUS_CANCELED)
    assert b.report(*cancelled) == 1 and b.report(*cancelled) == DROPPED_DUPLICATE
    assert (b.open, b.closed) == (0, 1)
    assert b.rows[b.row]["requests_out"] == 0


@pytest.mark.parametrize("request_kind", [REQ_CANCEL, REQ_REPLACE])
def test_a_refusal_with_nothing_out_is_dropped(request_kind):
    b = Book()
    b.report(EXEC_NEW, leaves=10, status=STATUS_NEW)
    assert b.report(EXEC_REJECTED, request_kind) == DROPPED_DUPLICATE


def test_a_report_for_an_order_not_in_the_book():
    b = Book()
    r = np.zeros(1, dtype=FILL_DTYPE)[0]
    r["order_id"], r["exec_type"] = ORDER + 1, EXEC_NEW
    assert apply_report(b.book, r, 3, b.out) == NOT_OURS
