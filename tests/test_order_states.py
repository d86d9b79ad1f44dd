"""The order state machine (engine/order_states.py): every legal move, every illegal
one, and random request/report sequences that never reach an illegal state."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpipe.engine.order_states import (
    EV_ACCEPT, EV_CANCEL_ACK, EV_CANCEL_REQ, EV_EXPIRE, EV_FILL_ALL, EV_FILL_PART, EV_REJECT,
    EV_REPLACE_ACK, EV_REPLACE_REQ, EV_REQ_REJECT_FILLED, EV_REQ_REJECT_UNFILLED, EV_SEND,
    EVENT_NAMES, INVALID, TRANSITIONS, is_final, is_working, next_status, report_event,
)
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import (
    STATUS_CANCELED as CANCELED, STATUS_EXPIRED as EXPIRED, STATUS_FILLED as FILLED,
    STATUS_NAMES, STATUS_NEW as NEW, STATUS_NONE as NONE,
    STATUS_PARTIALLY_FILLED as PARTIAL, STATUS_PENDING_CANCEL as PENDING_CANCEL,
    STATUS_PENDING_NEW as PENDING_NEW, STATUS_PENDING_REPLACE as PENDING_REPLACE,
    STATUS_REJECTED as REJECTED, STATUS_REPLACED as REPLACED,
)
from tickpipe.shm_layouts.order_intent import REQ_CANCEL, REQ_NEW, REQ_REPLACE

# Every legal move, written out by hand from the lifecycle (not from the table).
LEGAL = {
    (NONE, EV_SEND): PENDING_NEW,
    (PENDING_NEW, EV_ACCEPT): NEW, (PENDING_NEW, EV_REJECT): REJECTED,
    (PENDING_NEW, EV_FILL_PART): PARTIAL, (PENDING_NEW, EV_FILL_ALL): FILLED,
    (PENDING_NEW, EV_CANCEL_ACK): CANCELED,
}
for working in (NEW, PARTIAL, REPLACED):
    LEGAL.update({
        (working, EV_FILL_PART): PARTIAL, (working, EV_FILL_ALL): FILLED,
        (working, EV_CANCEL_REQ): PENDING_CANCEL, (working, EV_CANCEL_ACK): CANCELED,
        (working, EV_REPLACE_REQ): PENDING_REPLACE, (working, EV_EXPIRE): EXPIRED,
        (working, EV_REQ_REJECT_UNFILLED): working, (working, EV_REQ_REJECT_FILLED): working,
    })
for pending in (PENDING_CANCEL, PENDING_REPLACE):
    LEGAL.update({
        (pending, EV_FILL_PART): pending, (pending, EV_FILL_ALL): FILLED,
        (pending, EV_CANCEL_ACK): CANCELED, (pending, EV_EXPIRE): EXPIRED,
        (pending, EV_REQ_REJECT_UNFILLED): NEW, (pending, EV_REQ_REJECT_FILLED): PARTIAL,
    })
LEGAL[(PENDING_REPLACE, EV_REPLACE_ACK)] = REPLACED
for final in (FILLED, CANCELED, REJECTED, EXPIRED):
    LEGAL.update({(final, EV_REQ_REJECT_UNFILLED): final, (final, EV_REQ_REJECT_FILLED): final})

ALL_MOVES = [(s, e) for s in STATUS_NAMES for e in range(len(EVENT_NAMES))]


@pytest.mark.parametrize("status, event", ALL_MOVES,
                         ids=[f"{STATUS_NAMES[s]}-{EVENT_NAMES[e]}" for s, e in ALL_MOVES])
def test_next_status_when_a_move_is_tried_then_the_table_gives_the_lifecycle_or_invalid(status,
                                                                                    event):
    assert next_status(TRANSITIONS, status, event) == LEGAL.get((status, event), INVALID)


@pytest.mark.parametrize("events, final", [
    ([EV_SEND, EV_ACCEPT, EV_FILL_ALL], FILLED),
    ([EV_SEND, EV_ACCEPT, EV_FILL_PART, EV_FILL_PART, EV_FILL_ALL], FILLED),
    ([EV_SEND, EV_ACCEPT, EV_CANCEL_REQ, EV_CANCEL_ACK], CANCELED),
    ([EV_SEND, EV_ACCEPT, EV_CANCEL_REQ, EV_FILL_ALL, EV_REQ_REJECT_FILLED], FILLED),  # the race
    ([EV_SEND, EV_ACCEPT, EV_REPLACE_REQ, EV_REPLACE_ACK, EV_FILL_ALL], FILLED),
    ([EV_SEND, EV_ACCEPT, EV_REPLACE_REQ, EV_REQ_REJECT_UNFILLED, EV_CANCEL_REQ,
      EV_CANCEL_ACK], CANCELED),
    ([EV_SEND, EV_REJECT], REJECTED),
    ([EV_SEND, EV_FILL_PART, EV_CANCEL_ACK], CANCELED),  # an IOC
    ([EV_SEND, EV_ACCEPT, EV_FILL_PART, EV_EXPIRE], EXPIRED),
], ids=["fill", "partials-then-fill", "cancel", "cancel-crossing-a-fill", "replace-then-fill",
        "replace-rejected-then-cancel", "reject", "ioc-partial", "day-expiry"])
def test_next_status_when_an_order_takes_a_lifecycle_then_it_ends_final(events, final):
    status = NONE
    for event in events:
        status = next_status(TRANSITIONS, status, event)
        assert status != INVALID
    assert status == final and is_final(status) and not is_working(status)


@pytest.mark.parametrize("exec_type, asked, leaves, cum, event", [
    (EXEC_NEW, REQ_NEW, 10, 0, EV_ACCEPT), (EXEC_PARTIAL_FILL, REQ_NEW, 4, 6, EV_FILL_PART),
    (EXEC_FILL, REQ_NEW, 0, 10, EV_FILL_ALL), (EXEC_CANCELLED, REQ_CANCEL, 0, 0, EV_CANCEL_ACK),
    (EXEC_REPLACED, REQ_REPLACE, 8, 0, EV_REPLACE_ACK), (EXEC_EXPIRED, REQ_NEW, 0, 0, EV_EXPIRE),
    (EXEC_REJECTED, REQ_NEW, 0, 0, EV_REJECT),
    (EXEC_REJECTED, REQ_CANCEL, 5, 0, EV_REQ_REJECT_UNFILLED),
    (EXEC_REJECTED, REQ_REPLACE, 5, 5, EV_REQ_REJECT_FILLED),
])
def test_report_event_when_a_report_arrives_then_it_is_the_event_for_its_order(
        exec_type, asked, leaves, cum, event):
    assert report_event(exec_type, asked, leaves, cum) == event


# ---- random sequences: an order as its owner and the venue see it ----------------------

class Order:
    """One order driven by requests (the owner) and the venue's answers, through the
    table, keeping qty, cum and leaves as the gateway's venue does."""

    def __init__(self, qty):
        self.status, self.qty, self.cum, self.leaves = NONE, qty, 0, qty
        self.move(EV_SEND)

    def move(self, event):
        status = next_status(TRANSITIONS, self.status, event)
        assert status != INVALID, (STATUS_NAMES[self.status], EVENT_NAMES[event])
        self.status = status

    def step(self, action, lots):
        """Apply one action if the real system could take it now; return whether it did."""
        s = self.status
        if action == "accept" and s == PENDING_NEW:
            self.move(EV_ACCEPT)
        elif action == "reject" and s == PENDING_NEW:
            self.move(EV_REJECT)
            self.leaves = 0
        elif action == "fill" and (is_working(s) or s == PENDING_NEW) and self.leaves > 0:
            lots = min(lots, self.leaves)
            self.cum, self.leaves = self.cum + lots, self.leaves - lots
            self.move(EV_FILL_ALL if self.leaves == 0 else EV_FILL_PART)
        elif action == "cancel_req" and s in (NEW, PARTIAL, REPLACED):
            self.move(EV_CANCEL_REQ)
        elif action == "replace_req" and s in (NEW, PARTIAL, REPLACED):
            self.move(EV_REPLACE_REQ)
        elif action == "answer" and s == PENDING_CANCEL:
            self.move(EV_CANCEL_ACK)
            self.leaves = 0
        elif action == "answer" and s == PENDING_REPLACE:
            if lots > self.cum:  # the new total; at or below what filled: rejected
                self.qty, self.leaves = lots, lots - self.cum
                self.move(EV_REPLACE_ACK)
            else:
                self.move(EV_REQ_REJECT_FILLED if self.cum else EV_REQ_REJECT_UNFILLED)
        elif action == "late_reject" and is_final(s):
            self.move(EV_REQ_REJECT_FILLED if self.cum else EV_REQ_REJECT_UNFILLED)
        elif action == "expire" and is_working(s):
            self.move(EV_EXPIRE)
            self.leaves = 0
        else:
            return False
        return True


ACTIONS = st.sampled_from(["accept", "reject", "fill", "cancel_req", "replace_req", "answer",
                           "late_reject", "expire"])


@settings(max_examples=300, deadline=None)
@given(qty=st.integers(1, 50), steps=st.lists(st.tuples(ACTIONS, st.integers(1, 60)),
                                               max_size=40))
def test_order_when_random_requests_and_reports_arrive_then_no_illegal_state_and_qty_adds_up(
        qty, steps):
    order = Order(qty)
    for action, lots in steps:
        order.step(action, lots)
        if is_final(order.status):
            assert order.leaves == 0
        else:
            assert order.cum + order.leaves == order.qty
        assert order.status in STATUS_NAMES and order.status != NONE
