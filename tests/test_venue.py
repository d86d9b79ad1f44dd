"""The simulated venue's book of our resting orders (workers/gateway/venue.py): the jitted kernels
called directly on small numpy arrays, their reports and rows, the queue model, and the
bookkeeping risk depends on (released_qty, closes_order, one answer per request)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpipe.engine.order_states import TRANSITIONS
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED, FILL_DTYPE, VENUE_BAD_PRICE, VENUE_BAD_QTY, VENUE_BOOK_FULL, VENUE_OFF_TICK,
    VENUE_REASON_BASE, VENUE_SESSION_CLOSED, VENUE_TOO_LATE, VENUE_UNKNOWN_ORDER, check_fill,
)
from tickpipe.shm_layouts.open_order import (
    OPEN_ORDER_DTYPE, STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NEW,
    STATUS_PARTIALLY_FILLED, STATUS_REJECTED, STATUS_REPLACED, check_open_order,
)
from tickpipe.shm_layouts.order_intent import (
    ORDER_TYPE_IOC, ORDER_TYPE_LIMIT, REQ_CANCEL, REQ_NEW, REQ_REPLACE, TIF_DAY, TIF_GTC, TIF_IOC,
)
from tickpipe.workers.gateway.venue import (
    REPORTS_TOO_SMALL, VenueBook, find_row, venue_cancel, venue_cancel_all, venue_expire_day,
    venue_new, venue_on_tick, venue_replace, working_count,
)

BUY, SELL = 1, -1
SYM = 3
FILLS = (EXEC_PARTIAL_FILL, EXEC_FILL)
FINAL = (STATUS_FILLED, STATUS_CANCELED, STATUS_REJECTED, STATUS_EXPIRED)


def reason(code):
    return VENUE_REASON_BASE + code


class Venue:
    """The kernels' arrays plus a market; each call returns its reports as dicts."""

    def __init__(self, slots=8, report_slots=16, bid=100, ask=101, bid_qty=10, ask_qty=10):
        self.rows = np.zeros(slots, dtype=OPEN_ORDER_DTYPE)
        self.used = np.zeros(1, dtype=np.int64)
        self.dirty = np.zeros(1 + slots, dtype=np.int64)
        self.dirty_mark = np.zeros(slots, dtype=np.uint8)
        self.illegal = np.zeros(1, dtype=np.int64)
        self.reports = np.zeros(report_slots, dtype=FILL_DTYPE)
        self.market = dict(bid=bid, ask=ask, bid_qty=bid_qty, ask_qty=ask_qty, has_market=True)
        self.now = 0
        self.next_id = 1
        self.levels = np.zeros((4, 10), dtype=np.int64)  # the L2 book: none until depth()
        self.n_levels = 0

    def depth(self, bids=(), asks=()):
        """The L2 book the venue sees from now on: bids, asks as [(px, qty), ...] from the
        best; level 0 is the market's top."""
        self.levels[:] = 0
        m = self.market
        for k, (px, qty) in enumerate([(m["bid"], m["bid_qty"])] + list(bids)):
            self.levels[0, k], self.levels[2, k] = px, qty
        for k, (px, qty) in enumerate([(m["ask"], m["ask_qty"])] + list(asks)):
            self.levels[1, k], self.levels[3, k] = px, qty
        self.n_levels = 5

    def _args(self):
        return (VenueBook(self.rows, self.used, self.dirty, self.dirty_mark, TRANSITIONS,
                          self.illegal),)

    def _out(self, n):
        assert n >= 0
        out = []
        for r in self.reports[:n]:
            check_fill(r)
            assert not r["_reserved"].any()
            out.append({name: (int(r[name]) if name != "_reserved" else None)
                        for name in FILL_DTYPE.names})
        return out

    def _tick_clock(self):
        self.now += 1
        return self.now

    def new(self, side=BUY, qty=10, px=100, order_type=ORDER_TYPE_LIMIT, tif=TIF_GTC, tick=1,
            session_open=True, order_id=None, symbol=SYM):
        if order_id is None:
            order_id, self.next_id = self.next_id, self.next_id + 1
        m = self.market
        n = venue_new(*self._args(), order_id, symbol, side, order_type, tif, qty, px, tick,
                      m["bid"], m["ask"], m["bid_qty"], m["ask_qty"], m["has_market"],
                      self.levels, self.n_levels, session_open, self._tick_clock(), self.reports)
        return order_id, self._out(n)

    def cancel(self, order_id):
        return self._out(venue_cancel(*self._args(), order_id, self._tick_clock(), self.reports))

    def replace(self, order_id, qty, px, tick=1):
        m = self.market
        return self._out(venue_replace(*self._args(), order_id, qty, px, tick, m["bid"], m["ask"],
                                       m["bid_qty"], m["ask_qty"], m["has_market"],
                                       self.levels, self.n_levels, self._tick_clock(),
                                       self.reports))

    def tick(self, bid=None, ask=None, bid_qty=None, ask_qty=None, trade_px=0, trade_qty=0,
             aggressor=0, symbol=SYM):
        m = self.market
        for key, value in (("bid", bid), ("ask", ask), ("bid_qty", bid_qty), ("ask_qty", ask_qty)):
            if value is not None and symbol == SYM:
                m[key] = value
        n = venue_on_tick(*self._args(), symbol, m["bid"], m["ask"], m["bid_qty"], m["ask_qty"],
                          trade_qty > 0, trade_px, trade_qty, aggressor, self.levels,
                          self.n_levels, self._tick_clock(), self.reports)
        return self._out(n)

    def trade(self, px, qty, aggressor=SELL):
        return self.tick(trade_px=px, trade_qty=qty, aggressor=aggressor)

    def cancel_all(self):
        return self._out(venue_cancel_all(*self._args(), self._tick_clock(), self.reports))

    def expire_day(self):
        return self._out(venue_expire_day(*self._args(), self._tick_clock(), self.reports))

    def row(self, order_id):
        i = find_row(self.rows, self.used, order_id)
        assert i >= 0, f"order {order_id} has no row"
        return self.rows[i]

    def dirty_rows(self):
        rows = list(self.dirty[1:1 + self.dirty[0]])
        assert sorted(rows) == sorted(np.flatnonzero(self.dirty_mark)), "marks and list differ"
        self.dirty[0] = 0
        self.dirty_mark[:] = 0
        return rows

    def check(self):
        """The invariants every kernel keeps."""
        assert self.illegal[0] == 0
        for row in self.rows[:self.used[0]]:
            check_open_order(row)        # cum + leaves == qty when working; leaves 0 when final
            if int(row["status"]) in FINAL:
                assert int(row["leaves_qty"]) == 0
            elif int(row["status"]) != 0:
                assert int(row["leaves_qty"]) > 0 and int(row["queue_ahead"]) >= 0


def only(reports):
    assert len(reports) == 1, reports
    return reports[0]


def row_of(v, order_id):
    r = v.row(order_id)
    return {name: int(r[name]) for name in ("status", "qty", "cum_qty", "leaves_qty",
                                            "queue_ahead", "limit_px", "avg_px")}


# ---- joining the queue ------------------------------------------------------------------

def test_new_limit_when_at_the_best_bid_then_it_rests_behind_the_quoted_size():
    v = Venue(bid=100, bid_qty=10)
    oid, reports = v.new(BUY, 7, 100, tif=TIF_DAY)
    r = only(reports)
    assert r == dict(r, order_id=oid, symbol_id=SYM, side=BUY, exec_type=EXEC_NEW, last_qty=0,
                     last_px=0, cum_qty=0, leaves_qty=7, avg_px=0, order_px=100, order_qty=7,
                     released_qty=0, ord_status=STATUS_NEW, request=REQ_NEW, reject_reason=0,
                     closes_order=0, order_type=ORDER_TYPE_LIMIT, time_in_force=TIF_DAY,
                     seq=0, origin_ns=0, publish_ns=0, order_seq=0)
    assert row_of(v, oid) == dict(status=STATUS_NEW, qty=7, cum_qty=0, leaves_qty=7,
                                  queue_ahead=10, limit_px=100, avg_px=0)
    assert v.dirty_rows() == [0]
    assert int(v.row(oid)["updated_ns"]) == v.now
    v.check()


def test_new_limit_when_behind_the_best_then_at_least_the_quoted_size_is_ahead():
    v = Venue(bid=100, ask=101, bid_qty=10, ask_qty=6)
    buy, _ = v.new(BUY, 5, 98)
    sell, _ = v.new(SELL, 5, 103)
    assert v.row(buy)["queue_ahead"] == 10
    assert v.row(sell)["queue_ahead"] == 6


def test_new_limit_when_improving_the_best_then_nothing_is_ahead():
    v = Venue(bid=100, ask=103)
    buy, _ = v.new(BUY, 5, 101)
    sell, _ = v.new(SELL, 5, 102)
    assert v.row(buy)["queue_ahead"] == 0 and v.row(sell)["queue_ahead"] == 0


def test_new_limit_when_there_is_no_market_then_nothing_is_ahead_and_nothing_fills():
    v = Venue()
    v.market["has_market"] = False
    oid, reports = v.new(BUY, 5, 200)
    assert only(reports)["exec_type"] == EXEC_NEW
    assert v.row(oid)["queue_ahead"] == 0 and v.row(oid)["leaves_qty"] == 5


def test_new_limit_when_crossing_then_it_takes_the_quote_and_rests_the_rest():
    v = Venue(bid=100, ask=101, ask_qty=4)
    oid, reports = v.new(BUY, 10, 102)
    assert [r["exec_type"] for r in reports] == [EXEC_NEW, EXEC_PARTIAL_FILL]
    fill = reports[1]
    assert (fill["last_qty"], fill["last_px"], fill["cum_qty"], fill["leaves_qty"],
            fill["avg_px"], fill["released_qty"], fill["ord_status"], fill["closes_order"]) == \
        (4, 101, 4, 6, 101, 4, STATUS_PARTIALLY_FILLED, 0)
    assert row_of(v, oid) == dict(status=STATUS_PARTIALLY_FILLED, qty=10, cum_qty=4,
                                  leaves_qty=6, queue_ahead=0, limit_px=102, avg_px=101)
    # the rest is a maker at its limit: avg = cum_notional // cum_qty
    fill = only(v.trade(99, 1))
    assert (fill["exec_type"], fill["last_qty"], fill["last_px"], fill["avg_px"],
            fill["closes_order"]) == (EXEC_FILL, 6, 102, (4 * 101 + 6 * 102) // 10, 1)
    v.check()


def test_new_limit_when_crossing_for_all_of_it_then_it_fills_and_frees_the_row():
    v = Venue(bid=100, ask_qty=50)
    oid, reports = v.new(SELL, 10, 99)
    assert [r["exec_type"] for r in reports] == [EXEC_NEW, EXEC_FILL]
    assert (reports[1]["last_px"], reports[1]["closes_order"], reports[1]["ord_status"]) == \
        (100, 1, STATUS_FILLED)
    assert v.row(oid)["status"] == STATUS_FILLED and v.row(oid)["leaves_qty"] == 0
    assert working_count(v.rows, v.used, SYM) == 0


# ---- ticks: trades, the level taken, the queue ------------------------------------------

def test_tick_when_trades_at_our_price_then_they_eat_the_queue_ahead_first_then_fill_us():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 10, 100)
    assert v.trade(100, 6) == []
    assert v.row(oid)["queue_ahead"] == 4
    part = only(v.trade(100, 7, aggressor=BUY))         # any aggressor trades our level
    assert (part["exec_type"], part["last_qty"], part["last_px"], part["cum_qty"],
            part["leaves_qty"], part["avg_px"], part["released_qty"], part["ord_status"],
            part["closes_order"], part["request"]) == \
        (EXEC_PARTIAL_FILL, 3, 100, 3, 7, 100, 3, STATUS_PARTIALLY_FILLED, 0, REQ_NEW)
    assert v.row(oid)["queue_ahead"] == 0
    full = only(v.trade(100, 20))
    assert (full["exec_type"], full["last_qty"], full["cum_qty"], full["leaves_qty"],
            full["ord_status"], full["closes_order"]) == (EXEC_FILL, 7, 10, 0, STATUS_FILLED, 1)
    assert row_of(v, oid)["status"] == STATUS_FILLED
    v.check()


def test_tick_when_a_trade_goes_through_our_price_then_all_leaves_fill_at_our_price():
    v = Venue(bid=100, ask=101, bid_qty=50, ask_qty=50)
    buy, _ = v.new(BUY, 10, 100)
    sell, _ = v.new(SELL, 5, 101)
    fill = only(v.trade(99, 1))
    assert (fill["order_id"], fill["last_qty"], fill["last_px"], fill["exec_type"]) == \
        (buy, 10, 100, EXEC_FILL)
    fill = only(v.trade(102, 1, aggressor=BUY))
    assert (fill["order_id"], fill["last_qty"], fill["last_px"]) == (sell, 5, 101)
    v.check()


def test_tick_when_the_opposite_side_reaches_our_price_then_we_fill_up_to_its_size():
    v = Venue(bid=100, ask=102, bid_qty=50)
    oid, _ = v.new(BUY, 10, 101)
    assert v.tick(ask=101, ask_qty=4) != []
    assert row_of(v, oid)["cum_qty"] == 4
    fill = only(v.tick(ask=100, ask_qty=30))          # through our price: still our limit
    assert (fill["last_qty"], fill["last_px"], fill["exec_type"]) == (6, 101, EXEC_FILL)
    v.check()


def test_tick_when_our_level_shrinks_then_the_queue_shrinks_to_the_visible_size_never_below():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 5, 100)
    assert v.tick(bid_qty=6) == []
    assert v.row(oid)["queue_ahead"] == 6
    v.tick(bid_qty=20)                                # others joining behind us: no change
    assert v.row(oid)["queue_ahead"] == 6
    v.tick(bid_qty=0)
    assert v.row(oid)["queue_ahead"] == 0 and v.row(oid)["leaves_qty"] == 5


def test_tick_when_the_best_moves_above_us_then_nothing_changes_and_below_us_then_we_are_first():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 5, 100)
    v.dirty_rows()
    assert v.tick(bid=101, bid_qty=3, ask=102) == []
    assert v.row(oid)["queue_ahead"] == 10 and v.dirty_rows() == []
    v.tick(bid=99, bid_qty=30)
    assert v.row(oid)["queue_ahead"] == 0 and v.dirty_rows() == [0]
    v.check()


def test_tick_when_another_symbol_trades_then_our_rows_stay():
    v = Venue()
    oid, _ = v.new(BUY, 5, 100)
    v.dirty_rows()
    assert v.tick(symbol=SYM + 1, trade_px=90, trade_qty=100) == []
    assert v.row(oid)["leaves_qty"] == 5 and v.dirty_rows() == []


def test_tick_when_two_of_our_orders_share_a_level_then_a_trade_fills_them_once():
    v = Venue(bid=100, ask=102, bid_qty=0)
    a, _ = v.new(BUY, 2, 100)
    b, _ = v.new(BUY, 5, 100)
    assert [(r["order_id"], r["last_qty"]) for r in v.trade(100, 4)] == [(a, 2), (b, 2)]
    assert [(r["order_id"], r["last_qty"]) for r in v.tick(ask=100, ask_qty=2)] == [(b, 2)]
    v.check()


def test_tick_when_reports_are_full_then_it_stops_and_the_rest_fill_on_the_next_tick():
    v = Venue(report_slots=2, bid=100, bid_qty=0)
    ids = [v.new(BUY, 1, 100)[0] for _ in range(3)]
    first = v.trade(99, 1)
    assert [r["order_id"] for r in first] == ids[:2]
    assert v.row(ids[2])["leaves_qty"] == 1
    assert [r["order_id"] for r in v.trade(99, 1)] == [ids[2]]
    v.check()


# ---- cancel -----------------------------------------------------------------------------

def test_cancel_when_working_then_canceled_with_its_leaves_released():
    v = Venue(bid=100, bid_qty=0)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 3)
    r = only(v.cancel(oid))
    assert (r["exec_type"], r["ord_status"], r["request"], r["released_qty"], r["leaves_qty"],
            r["cum_qty"], r["closes_order"], r["order_id"], r["side"], r["symbol_id"]) == \
        (EXEC_CANCELLED, STATUS_CANCELED, REQ_CANCEL, 7, 0, 3, 1, oid, BUY, SYM)
    assert row_of(v, oid)["status"] == STATUS_CANCELED
    v.check()


def test_cancel_when_the_fill_came_first_then_rejected_too_late_and_it_stays_filled():
    v = Venue(bid=100, bid_qty=0)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(99, 1)
    r = only(v.cancel(oid))
    assert (r["exec_type"], r["reject_reason"], r["ord_status"], r["cum_qty"], r["leaves_qty"],
            r["released_qty"], r["closes_order"], r["request"]) == \
        (EXEC_REJECTED, reason(VENUE_TOO_LATE), STATUS_FILLED, 10, 0, 0, 0, REQ_CANCEL)
    assert row_of(v, oid)["status"] == STATUS_FILLED
    v.check()


def test_cancel_when_unknown_then_rejected_unknown_order():
    v = Venue()
    r = only(v.cancel(999))
    assert (r["exec_type"], r["reject_reason"], r["ord_status"], r["released_qty"],
            r["closes_order"], r["symbol_id"], r["side"], r["order_id"]) == \
        (EXEC_REJECTED, reason(VENUE_UNKNOWN_ORDER), STATUS_REJECTED, 0, 0, 0, 0, 999)


def test_cancel_when_the_ended_orders_row_was_reused_then_the_old_id_is_unknown():
    v = Venue()
    old, _ = v.new(BUY, 1, 100)
    v.cancel(old)
    new, _ = v.new(BUY, 1, 100)
    assert find_row(v.rows, v.used, new) == 0 and find_row(v.rows, v.used, old) == -1
    assert only(v.cancel(old))["reject_reason"] == reason(VENUE_UNKNOWN_ORDER)
    assert v.row(new)["status"] == STATUS_NEW


def test_cancel_all_when_some_orders_are_working_then_each_is_canceled_once():
    v = Venue(bid=100, bid_qty=0)
    a, _ = v.new(BUY, 4, 100)
    b, _ = v.new(SELL, 6, 105)
    done, _ = v.new(BUY, 2, 99)
    v.cancel(done)
    reports = v.cancel_all()
    assert [(r["order_id"], r["exec_type"], r["released_qty"], r["request"], r["closes_order"])
            for r in reports] == [(a, EXEC_CANCELLED, 4, REQ_CANCEL, 1),
                                  (b, EXEC_CANCELLED, 6, REQ_CANCEL, 1)]
    assert working_count(v.rows, v.used, SYM) == 0 and v.cancel_all() == []
    v.check()


# ---- replace ----------------------------------------------------------------------------

def test_replace_when_the_qty_goes_down_at_the_same_price_then_the_queue_place_is_kept():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 6)
    r = only(v.replace(oid, 8, 100))
    assert (r["exec_type"], r["ord_status"], r["request"], r["order_qty"], r["leaves_qty"],
            r["order_px"], r["released_qty"], r["closes_order"]) == \
        (EXEC_REPLACED, STATUS_REPLACED, REQ_REPLACE, 8, 8, 100, 10, 0)
    assert row_of(v, oid) == dict(status=STATUS_REPLACED, qty=8, cum_qty=0, leaves_qty=8,
                                  queue_ahead=4, limit_px=100, avg_px=0)


def test_replace_when_the_price_changes_then_it_joins_the_back_of_the_new_level():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 6)
    v.replace(oid, 10, 99)
    assert v.row(oid)["queue_ahead"] == 10 and v.row(oid)["limit_px"] == 99
    v.replace(oid, 10, 100)                           # back to the bid: the back again
    assert v.row(oid)["queue_ahead"] == 10


def test_replace_when_the_qty_goes_up_at_the_same_price_then_it_loses_its_place():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 6)
    assert v.row(oid)["queue_ahead"] == 4
    v.replace(oid, 12, 100)
    assert v.row(oid)["queue_ahead"] == 10 and v.row(oid)["leaves_qty"] == 12


def test_replace_when_partly_filled_then_leaves_are_the_new_total_less_what_filled():
    v = Venue(bid=100, bid_qty=0)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 4)
    r = only(v.replace(oid, 6, 100))
    assert (r["cum_qty"], r["leaves_qty"], r["order_qty"], r["released_qty"]) == (4, 2, 6, 10)
    v.check()


def test_replace_when_the_new_price_crosses_then_it_fills_as_a_taker():
    v = Venue(bid=100, ask=101, ask_qty=3)
    oid, _ = v.new(BUY, 5, 100)
    reports = v.replace(oid, 5, 101)
    assert [r["exec_type"] for r in reports] == [EXEC_REPLACED, EXEC_PARTIAL_FILL]
    assert (reports[1]["last_qty"], reports[1]["last_px"], reports[1]["leaves_qty"]) == (3, 101, 2)
    v.check()


@pytest.mark.parametrize("qty, why", [(3, "below what filled"), (4, "equal to what filled"),
                                      (0, "zero")])
def test_replace_when_the_qty_is_not_above_what_filled_then_rejected_bad_qty(qty, why):
    v = Venue(bid=100, bid_qty=0)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 4)
    r = only(v.replace(oid, qty, 100))
    assert (r["exec_type"], r["reject_reason"], r["released_qty"], r["closes_order"],
            r["request"], r["ord_status"], r["order_qty"]) == \
        (EXEC_REJECTED, reason(VENUE_BAD_QTY), qty, 0, REQ_REPLACE, STATUS_PARTIALLY_FILLED,
         10), why
    assert row_of(v, oid)["leaves_qty"] == 6 and row_of(v, oid)["qty"] == 10
    v.check()


def test_replace_when_unknown_or_ended_then_rejected_with_the_new_total_released():
    v = Venue(bid=100, bid_qty=0)
    unknown = only(v.replace(77, 5, 100))
    assert (unknown["reject_reason"], unknown["released_qty"], unknown["ord_status"]) == \
        (reason(VENUE_UNKNOWN_ORDER), 5, STATUS_REJECTED)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(99, 1)
    late = only(v.replace(oid, 20, 100))
    assert (late["reject_reason"], late["released_qty"], late["ord_status"], late["cum_qty"]) == \
        (reason(VENUE_TOO_LATE), 20, STATUS_FILLED, 10)


# ---- price, tick and session checks -----------------------------------------------------

@pytest.mark.parametrize("px, tick, code", [(105, 10, VENUE_OFF_TICK), (0, 1, VENUE_BAD_PRICE),
                                            (-10, 10, VENUE_BAD_PRICE)])
def test_new_and_replace_when_the_price_is_bad_then_rejected_and_no_row_changes(px, tick, code):
    v = Venue()
    oid, reports = v.new(BUY, 10, px, tick=tick)
    r = only(reports)
    assert (r["exec_type"], r["reject_reason"], r["ord_status"], r["released_qty"],
            r["closes_order"], r["leaves_qty"], r["cum_qty"], r["request"]) == \
        (EXEC_REJECTED, reason(code), STATUS_REJECTED, 10, 1, 0, 0, REQ_NEW)
    assert v.used[0] == 0 and find_row(v.rows, v.used, oid) == -1
    good, _ = v.new(BUY, 10, 100, tick=tick if px > 0 else 1)
    r = only(v.replace(good, 10, px, tick=tick))
    assert (r["reject_reason"], r["released_qty"], r["closes_order"]) == (reason(code), 10, 0)
    assert v.row(good)["limit_px"] == 100
    v.check()


def test_new_when_a_day_order_arrives_after_the_session_then_rejected_session_closed():
    v = Venue()
    _, reports = v.new(BUY, 10, 100, tif=TIF_DAY, session_open=False)
    assert only(reports)["reject_reason"] == reason(VENUE_SESSION_CLOSED)
    _, reports = v.new(BUY, 10, 100, tif=TIF_GTC, session_open=False)
    assert only(reports)["exec_type"] == EXEC_NEW


def test_expire_day_when_day_and_gtc_orders_rest_then_only_day_orders_expire():
    v = Venue(bid=100, bid_qty=0)
    day, _ = v.new(BUY, 10, 100, tif=TIF_DAY)
    gtc, _ = v.new(BUY, 10, 100, tif=TIF_GTC)
    v.trade(100, 3)                                   # day (first row): 3 filled, 7 left
    r = only(v.expire_day())
    assert (r["order_id"], r["exec_type"], r["ord_status"], r["released_qty"], r["leaves_qty"],
            r["cum_qty"], r["closes_order"], r["request"], r["time_in_force"]) == \
        (day, EXEC_EXPIRED, STATUS_EXPIRED, 7, 0, 3, 1, REQ_NEW, TIF_DAY)
    assert v.row(gtc)["status"] == STATUS_NEW and v.expire_day() == []
    assert v.row(gtc)["cum_qty"] == 0                 # the trade's 3 lots went to day
    v.check()


# ---- rows: book full, reuse, dirty --------------------------------------------------------

def test_new_when_the_book_is_full_then_rejected_book_full_but_an_ioc_still_trades():
    v = Venue(slots=2, ask_qty=5)
    v.new(BUY, 1, 100)
    v.new(BUY, 1, 99)
    _, reports = v.new(BUY, 1, 98)
    r = only(reports)
    assert (r["reject_reason"], r["released_qty"], r["closes_order"]) == \
        (reason(VENUE_BOOK_FULL), 1, 1)
    _, reports = v.new(BUY, 2, 101, order_type=ORDER_TYPE_IOC, tif=TIF_IOC)
    assert only(reports)["exec_type"] == EXEC_FILL


def test_new_when_an_order_has_ended_then_the_lowest_free_row_is_reused():
    v = Venue(bid=100, bid_qty=0)
    a, _ = v.new(BUY, 1, 100)
    b, _ = v.new(BUY, 1, 99)
    c, _ = v.new(BUY, 1, 98)
    v.cancel(c)
    v.cancel(b)
    v.dirty_rows()
    d, _ = v.new(BUY, 1, 97)
    assert find_row(v.rows, v.used, d) == 1 and v.used[0] == 3 and v.dirty_rows() == [1]
    assert row_of(v, d) == dict(status=STATUS_NEW, qty=1, cum_qty=0, leaves_qty=1,
                                queue_ahead=0, limit_px=97, avg_px=0)
    assert int(v.row(d)["cum_notional"]) == 0
    e, _ = v.new(BUY, 1, 96)
    f, _ = v.new(BUY, 1, 95)
    assert [find_row(v.rows, v.used, x) for x in (a, d, e, f)] == [0, 1, 2, 3]
    assert v.used[0] == 4


def test_kernels_when_several_changes_hit_one_row_then_it_is_marked_dirty_once():
    v = Venue(bid=100, bid_qty=10)
    oid, _ = v.new(BUY, 10, 100)
    v.trade(100, 12)
    v.replace(oid, 9, 100)
    v.cancel(oid)
    assert v.dirty_rows() == [0]


def test_kernels_when_reports_cannot_hold_the_answer_then_they_change_nothing():
    v = Venue(report_slots=1)
    n = venue_new(*v._args(), 1, SYM, BUY, ORDER_TYPE_LIMIT, TIF_GTC, 10, 100, 1, 100, 101,
                  10, 10, True, v.levels, 0, True, 1, v.reports)
    assert n == REPORTS_TOO_SMALL and v.used[0] == 0
    empty = np.zeros(0, dtype=FILL_DTYPE)
    assert venue_cancel(*v._args(), 1, 1, empty) == REPORTS_TOO_SMALL


# ---- IOC ----------------------------------------------------------------------------------

def test_ioc_when_the_quote_covers_it_then_one_fill_closes_it_and_no_row_is_used():
    v = Venue(ask=101, ask_qty=50)
    oid, reports = v.new(BUY, 10, 102, order_type=ORDER_TYPE_IOC, tif=TIF_IOC)
    r = only(reports)
    assert (r["exec_type"], r["last_qty"], r["last_px"], r["cum_qty"], r["leaves_qty"],
            r["avg_px"], r["released_qty"], r["ord_status"], r["closes_order"],
            r["order_type"], r["order_px"], r["order_qty"]) == \
        (EXEC_FILL, 10, 101, 10, 0, 101, 10, STATUS_FILLED, 1, ORDER_TYPE_IOC, 102, 10)
    assert v.used[0] == 0 and v.dirty_rows() == []


def test_ioc_when_the_quote_is_short_then_a_partial_fill_and_a_cancel_of_the_rest():
    v = Venue(bid=100, bid_qty=4)
    _, reports = v.new(SELL, 10, 99, order_type=ORDER_TYPE_IOC, tif=TIF_IOC)
    assert [(r["exec_type"], r["last_qty"], r["last_px"], r["leaves_qty"], r["released_qty"],
             r["ord_status"], r["closes_order"]) for r in reports] == \
        [(EXEC_PARTIAL_FILL, 4, 100, 6, 4, STATUS_PARTIALLY_FILLED, 0),
         (EXEC_CANCELLED, 0, 0, 0, 6, STATUS_CANCELED, 1)]
    assert reports[1]["cum_qty"] == 4 and reports[1]["avg_px"] == 100


@pytest.mark.parametrize("has_market", [True, False])
def test_ioc_when_it_does_not_reach_the_quote_then_it_is_cancelled_whole(has_market):
    v = Venue(ask=101)
    v.market["has_market"] = has_market
    _, reports = v.new(BUY, 10, 100, order_type=ORDER_TYPE_IOC, tif=TIF_IOC)
    r = only(reports)
    assert (r["exec_type"], r["released_qty"], r["cum_qty"], r["closes_order"],
            r["ord_status"]) == (EXEC_CANCELLED, 10, 0, 1, STATUS_CANCELED)


# ---- released_qty: what risk added comes back exactly --------------------------------------

def test_released_qty_when_an_order_lives_its_life_then_the_sum_is_what_risk_added():
    v = Venue(bid=100, ask=103, bid_qty=5, ask_qty=2)
    oid, reports = v.new(BUY, 10, 100)
    added = 10
    reports += v.trade(100, 8)                        # queue 5, then 3 fill
    added += 12
    reports += v.replace(oid, 12, 101)                # up and better: the back (0) of a new best
    added += 2
    reports += v.replace(oid, 2, 101)                 # below what filled: rejected
    reports += v.cancel(12345)                        # someone else's: nothing of ours
    reports += v.trade(101, 4)
    added += 10
    reports += v.replace(oid, 10, 103)                # crosses: takes the 2 quoted at 103
    reports += v.cancel(oid)
    reports += v.cancel(oid)                          # too late: releases nothing
    ours = [r for r in reports if r["order_id"] == oid]
    assert [r["exec_type"] for r in ours] == [
        EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REPLACED, EXEC_REJECTED, EXEC_PARTIAL_FILL,
        EXEC_REPLACED, EXEC_PARTIAL_FILL, EXEC_CANCELLED, EXEC_REJECTED]
    assert sum(r["released_qty"] for r in ours) == added
    assert sum(r["closes_order"] for r in ours) == 1
    assert v.row(oid)["cum_qty"] == 3 + 4 + 2
    v.check()


# ---- property: random sequences -----------------------------------------------------------

prices = st.integers(min_value=96, max_value=105)
sizes = st.integers(min_value=0, max_value=6)
targets = st.integers(min_value=0, max_value=9)     # 0-7: an order that rested; 8, 9: not
new_orders = st.tuples(
    st.just("new"), st.sampled_from([BUY, SELL]), st.integers(-1, 12), prices,
    st.sampled_from([(ORDER_TYPE_LIMIT, TIF_GTC), (ORDER_TYPE_LIMIT, TIF_DAY),
                     (ORDER_TYPE_IOC, TIF_IOC)]), st.integers(0, 9))
ticks = st.tuples(st.just("tick"), prices, st.integers(1, 3), sizes, sizes, st.booleans(),
                  prices, sizes)
by_kind = {
    "new": new_orders,
    "tick": ticks,
    "cancel": st.tuples(st.just("cancel"), targets),
    "replace": st.tuples(st.just("replace"), targets, st.integers(-1, 14), prices),
    "cancel_all": st.tuples(st.just("cancel_all")),
    "expire_day": st.tuples(st.just("expire_day")),
}
# Weighted so that orders rest, fill and get replaced before a kill switch wipes them.
kinds = ["new"] * 6 + ["tick"] * 6 + ["cancel"] * 2 + ["replace"] * 3 + ["cancel_all", "expire_day"]
actions = st.sampled_from(kinds).flatmap(lambda kind: by_kind[kind])


def target(sent, k):
    return sent[-1 - k % len(sent)] if sent and k < 8 else 1000 + k


@settings(max_examples=60, deadline=None)
@given(st.lists(actions, min_size=10, max_size=40))
def test_venue_when_random_requests_and_ticks_then_every_invariant_holds(script):
    v = Venue(slots=3, report_slots=8)
    added, released, closes, ordered, sent = {}, {}, {}, set(), []
    for action in script:
        kind = action[0]
        if kind == "new":
            _, side, qty, px, (order_type, tif), luck = action
            oid, reports = v.new(side, qty, px, order_type=order_type, tif=tif,
                                 tick=2 if luck == 0 else 1, session_open=luck != 1)
            if reports[0]["exec_type"] == EXEC_NEW:
                sent.append(oid)                                    # it has a row
            added[oid] = added.get(oid, 0) + qty   # a replace may have come first
            ordered.add(oid)
            answers = [r["exec_type"] for r in reports if r["exec_type"] not in FILLS]
            if order_type == ORDER_TYPE_IOC:
                assert answers in ([EXEC_REJECTED], [EXEC_CANCELLED], []) and \
                    reports[-1]["closes_order"] == 1                    # [] : filled whole
            else:
                assert answers in ([EXEC_NEW], [EXEC_REJECTED]) and \
                    reports[0]["exec_type"] == answers[0]               # then its fills
            assert all(r["order_id"] == oid and r["request"] == REQ_NEW for r in reports)
        elif kind == "cancel":
            oid = target(sent, action[1])
            reports = v.cancel(oid)
            assert len(reports) == 1 and reports[0]["exec_type"] in (EXEC_CANCELLED, EXEC_REJECTED)
        elif kind == "replace":
            _, k, qty, px = action
            oid = target(sent, k)
            reports = v.replace(oid, qty, px)
            added[oid] = added.get(oid, 0) + qty
            assert reports[0]["exec_type"] in (EXEC_REPLACED, EXEC_REJECTED)
            assert all(r["exec_type"] in FILLS for r in reports[1:]) and len(reports) <= 2
        elif kind == "tick":
            _, bid, spread, bid_qty, ask_qty, is_trade, trade_px, trade_qty = action
            reports = v.tick(bid, bid + spread, bid_qty, ask_qty, trade_px,
                             trade_qty if is_trade else 0)
            assert all(r["exec_type"] in FILLS for r in reports)
            assert len({r["order_id"] for r in reports}) == len(reports)   # one per row
        elif kind == "cancel_all":
            reports = v.cancel_all()
            assert working_count(v.rows, v.used, SYM) == 0
        else:
            reports = v.expire_day()
            assert all(r["exec_type"] == EXEC_EXPIRED for r in reports)
        for r in reports:
            released[r["order_id"]] = released.get(r["order_id"], 0) + r["released_qty"]
            closes[r["order_id"]] = closes.get(r["order_id"], 0) + r["closes_order"]
            assert r["leaves_qty"] == 0 or r["ord_status"] not in FINAL
        v.check()
        for oid, qty in added.items():
            i = find_row(v.rows, v.used, oid)
            live = i >= 0 and int(v.rows[i]["status"]) not in FINAL
            open_qty = int(v.rows[i]["leaves_qty"]) if live else 0
            assert qty - released.get(oid, 0) == open_qty, (oid, qty, released.get(oid))
            assert closes.get(oid, 0) == (1 if oid in ordered and not live else 0)


# ---- the queue behind the best, with an L2 book ([feed] depth > 1) ------------------------

def test_an_order_behind_the_best_joins_behind_the_level_the_book_shows_at_its_price():
    v = Venue(bid=100, ask=101, bid_qty=10)
    v.depth(bids=[(99, 40), (97, 7)], asks=[(102, 30)])
    at_level, _ = v.new(BUY, qty=5, px=99)
    between, _ = v.new(BUY, qty=5, px=98)       # between 99 and 97: nobody there
    deep, _ = v.new(BUY, qty=5, px=90)          # past the book's last level: nobody there
    sell, _ = v.new(SELL, qty=5, px=102)
    assert v.row(at_level)["queue_ahead"] == 40
    assert v.row(between)["queue_ahead"] == 0
    assert v.row(deep)["queue_ahead"] == 0
    assert v.row(sell)["queue_ahead"] == 30


def test_past_the_deepest_level_shown_the_venue_assumes_the_top_size_ahead():
    v = Venue(bid=100, ask=101, bid_qty=10)
    v.depth(bids=[(99, 40), (98, 41), (97, 42), (96, 43)])   # 5 levels shown, all full
    oid, _ = v.new(BUY, qty=5, px=90)
    assert v.row(oid)["queue_ahead"] == 10
    plain = Venue(bid=100, bid_qty=10)          # no L2 book: the top's size, as before
    below, _ = plain.new(BUY, qty=5, px=99)
    assert plain.row(below)["queue_ahead"] == 10


def test_a_level_behind_the_best_that_shrinks_moves_us_up_and_a_trade_there_fills_us():
    v = Venue(bid=100, ask=101, bid_qty=10)
    v.depth(bids=[(99, 40)])
    oid, _ = v.new(BUY, qty=5, px=99)
    v.depth(bids=[(99, 25)])
    assert v.tick() == [] and v.row(oid)["queue_ahead"] == 25
    v.depth(bids=[(99, 30)])                    # a level that grows grows behind us
    assert v.tick() == [] and v.row(oid)["queue_ahead"] == 25
    reports = v.trade(99, 27)                   # 25 ahead of us, then 2 for us
    assert [(r["exec_type"], r["last_qty"], r["last_px"]) for r in reports] == \
        [(EXEC_PARTIAL_FILL, 2, 99)]
    assert v.row(oid)["queue_ahead"] == 0
    v.depth(bids=[(98, 5)])                     # our level gone from the book: first in line
    v.tick()
    assert v.row(oid)["queue_ahead"] == 0


def test_a_replace_behind_the_best_joins_the_shown_level_at_its_new_price():
    v = Venue(bid=100, ask=101, bid_qty=10)
    v.depth(bids=[(99, 40), (98, 12)])
    oid, _ = v.new(BUY, qty=5, px=99)
    v.replace(oid, 5, 98)
    assert v.row(oid)["queue_ahead"] == 12


def test_the_venue_reads_the_book_a_batch_ahead_of_its_tick_from_the_copys_own_top():
    """The feed may have moved the book past the tick the venue handles (100 gone): the
    order at 99 is behind the 77 lots the copy shows there, not 'between levels'."""
    v = Venue(bid=100, ask=101, bid_qty=10)
    v.levels[:] = 0
    v.levels[0, :3], v.levels[2, :3] = (99, 98, 97), (77, 5, 6)   # the bids now
    v.levels[1, :3], v.levels[3, :3] = (101, 102, 103), (9, 9, 9)
    v.n_levels = 5
    oid, _ = v.new(BUY, qty=5, px=99)
    assert v.row(oid)["queue_ahead"] == 77
    v.tick()                                      # a tick with 100 still its best
    assert v.row(oid)["queue_ahead"] == 77
