"""A strategy's order table (engine/strategy_api.py): open-addressed rows, so an order
that works for long does not block the orders sent after it, and lookups by id find
each order wherever it went."""

import numpy as np
import pytest

from tickpipe.engine import strategy_api as tp
from tickpipe.engine.ring import H_MASK, H_POSITION
from tickpipe.engine.runner_gen import sample_context
from tickpipe.engine.strategy_context import E_NOW_NS, E_ROOM, E_SENT, E_WRITTEN
from tickpipe.shm_layouts.open_order import ORDER_SLOTS, STATUS_FILLED
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE

PRICE = 1_000_000


@pytest.fixture
def ctx():
    ctx, _, _, _ = sample_context(2, np.dtype([("x", np.int64)]), np.dtype([("p", np.int64)]))
    out = ctx.out.copy()
    out[H_MASK] = 15
    ctx = ctx._replace(intents=np.zeros(16, ORDER_INTENT_DTYPE), out=out)
    ctx.event[E_NOW_NS] = 1
    ctx.event[E_ROOM] = 1 << 30
    return ctx


def place_at(ctx, number):
    """Place a buy as the request numbered `number` (its seq) would be."""
    ctx.out[H_POSITION] = number - 1
    ctx.event[E_SENT] = ctx.event[E_WRITTEN] = 0
    return tp.place(ctx, tp.BUY, 5, PRICE, tp.GTC)


def test_place_when_an_older_order_still_works_in_its_row_then_the_new_one_takes_the_next(ctx):
    old = place_at(ctx, 7)
    new = place_at(ctx, 7 + ORDER_SLOTS)      # the same home row as `old`
    assert old > 0 and new > 0 and old != new
    assert tp.order_status(ctx, old) == tp.STATUS_PENDING_NEW
    assert tp.order_status(ctx, new) == tp.STATUS_PENDING_NEW
    assert tp.order_leaves(ctx, new) == 5
    rows = ctx.orders
    assert rows[7]["order_id"] == old and rows[8]["order_id"] == new


def test_order_status_when_the_row_before_it_has_ended_then_it_is_still_found(ctx):
    first = place_at(ctx, 3)
    second = place_at(ctx, 3 + ORDER_SLOTS)   # row 4
    ctx.orders[3]["status"] = STATUS_FILLED   # the first order ended
    ctx.orders[3]["leaves_qty"] = 0
    assert tp.order_status(ctx, second) == tp.STATUS_PENDING_NEW
    third = place_at(ctx, 3 + 2 * ORDER_SLOTS)  # takes the ended order's row again
    assert ctx.orders[3]["order_id"] == third
    assert tp.order_status(ctx, first) == tp.STATUS_NONE  # forgotten, not confused
    assert tp.order_status(ctx, 12345) == tp.STATUS_NONE


def test_place_when_every_row_holds_a_working_order_then_refused_table_full(ctx):
    ids = [place_at(ctx, n) for n in range(1, ORDER_SLOTS + 1)]
    assert all(i > 0 for i in ids)
    assert place_at(ctx, ORDER_SLOTS + 1) == -tp.REFUSED_TABLE_FULL
