"""The simulated venue's book of OUR resting orders: jitted kernels over the gateway's
process-local mirror `rows` (OPEN_ORDER_DTYPE, shm_layouts/open_order.py).

Every kernel takes the book, one named structure (VenueBook below):
  rows        OPEN_ORDER_DTYPE[n]: our orders at the venue, one a row
  used        int64[1]: rows [0, used[0]) may be live. A new order takes the lowest free
              row (status NONE or final), else row used[0]. It never shrinks, so a late
              cancel of a filled order still finds the row and is told "too late",
              until a new order reuses that row.
  dirty       int64[1 + len(rows)]: [0] = count, then the rows changed (each once, by
  dirty_mark  uint8[len(rows)]      mark_dirty); the gateway syncs them and clears both.
  transitions engine/order_states.py's TRANSITIONS: every status change is a table move;
  illegal     int64[1]: += 1 for a move the table lacks, which is then not applied
              (and the request is answered as rejected). Only a bug gets here.
  reports     FILL_DTYPE scratch: a kernel writes its reports at [0, n) and returns n.
              seq, origin_ns, publish_ns and order_seq are the gateway's to set.

Return codes: n >= 0 reports written; REPORTS_TOO_SMALL (-1) when `reports` cannot
hold a request's answer (new/replace need 2 slots, cancel 1): nothing changed.
venue_on_tick, venue_cancel_all and venue_expire_day stop at reports.shape[0] and
leave the rest untouched: call again while they return reports.shape[0].

Queue model (hftbacktest's risk-averse queue model, at every level the book shows):
  - Join at the back: a buy at p = best bid queues behind bid_qty (the quoted size); a
    buy above the bid improves it and queues behind 0. Below the bid, with an L2 book
    ([feed] depth > 1: `levels`, the book as it stands now, n_levels of it shown), it
    queues behind the lots of the level at p, behind 0 where p falls between two shown
    levels or past the book's last level; past the deepest level shown (or with no L2
    book) it cannot see, so at least bid_qty is assumed ahead. Sells mirror with the
    ask. No market: 0.
  - A trade at p (either aggressor) eats the queue ahead first; what is left of its
    qty fills us. A trade through p (a buy's: trade_px < p) fills all our leaves.
  - The opposite side reaching p (a buy's: ask <= p) fills min(leaves, ask_qty).
  - What a tick offers is shared by our rows in row order: the lots of a trade past
    the queue, and the quoted size at the ask (bid) our buys (sells) may take.
  - While p is the best on our side, queue_ahead = min(queue_ahead, quoted size): a
    shrinking level is assumed cancelled ahead of us, never traded. Behind the best,
    the same with the lots the L2 book shows at p (where it shows p's level). The best moving
    away from us (a buy's bid above p) changes nothing; moving behind us (bid < p)
    makes us the best: queue_ahead = 0.
  - Resting fills are at p (maker); an order crossing at arrival takes the quote at
    the ask/bid (taker). One fill report per row per tick: the largest of the above.
  - A replace to a new price, or up in qty, joins the back again (exchanges take
    priority for more size); a qty cut at the same price keeps the place.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from tickpipe.engine.commit import mark_row as mark_dirty  # the gateway syncs exactly these rows

from tickpipe.engine.order_states import (
    EV_ACCEPT, EV_CANCEL_ACK, EV_EXPIRE, EV_FILL_ALL, EV_FILL_PART, EV_REJECT, EV_REPLACE_ACK,
    EV_REPLACE_REQ, EV_REQ_REJECT_FILLED, EV_REQ_REJECT_UNFILLED, EV_SEND, INVALID, is_final,
    next_status, start_row,
)
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED, VENUE_BAD_PRICE, VENUE_BAD_QTY, VENUE_BOOK_FULL, VENUE_OFF_TICK,
    VENUE_REASON_BASE, VENUE_SESSION_CLOSED, VENUE_SIMULATED, VENUE_TOO_LATE,
    VENUE_UNKNOWN_ORDER,
)
from tickpipe.shm_layouts.open_order import (
    STATUS_CANCELED, STATUS_FILLED, STATUS_NONE, STATUS_PENDING_NEW, STATUS_REJECTED,
)
from tickpipe.shm_layouts.order_intent import (
    ORDER_TYPE_IOC, REQ_CANCEL, REQ_NEW, REQ_REPLACE, TIF_DAY, TIF_IOC,
)

REPORTS_TOO_SMALL = -1

# The venue's book of our orders and its bookkeeping (the module's docstring says what
# each is); the gateway keeps one in its context, fix-sim one of its own.
VenueBook = namedtuple("VenueBook", ["rows", "used", "dirty", "dirty_mark", "transitions",
                                     "illegal"])


@njit(cache=True)
def find_row(rows, used, order_id):
    """The row of `order_id` among [0, used[0]), or -1. A reused row names its new order."""
    # as uint64, the rows' type: numba compares an int64 with a uint64 through float64,
    # which cannot tell apart ids of 2**53 and up that differ in their low bits
    wanted = np.uint64(order_id)
    for i in range(used[0]):
        if rows[i].order_id == wanted and rows[i].status != STATUS_NONE:
            return i
    return -1


@njit(cache=True)
def _live(status):
    # The venue applies requests whole, so a row is never left PENDING_*; anything
    # neither free nor final is working (NEW, PARTIALLY_FILLED, REPLACED).
    return status != STATUS_NONE and not is_final(status)


@njit(cache=True)
def working_count(rows, used, symbol):
    """Working rows of `symbol`: the most fill reports one tick of it can make."""
    n = 0
    for i in range(used[0]):
        if rows[i].symbol_id == symbol and _live(rows[i].status):
            n += 1
    return n


@njit(cache=True)
def _step(transitions, illegal, status, event):
    """The table's move, counting an illegal one (INVALID is returned, not applied)."""
    s = next_status(transitions, status, event)
    if s == INVALID:
        illegal[0] += 1
    return s


@njit(cache=True)
def _put(reports, n, order_id, symbol, side, exec_type, last_qty, last_px, cum, leaves,
         avg_px, order_px, order_qty, released, ord_status, request, reason, closes,
         order_type, tif):
    r = reports[n]
    r.order_id = order_id
    r.symbol_id = symbol
    r.side = side
    r.exec_type = exec_type
    r.last_qty = last_qty
    r.last_px = last_px
    r.cum_qty = cum
    r.leaves_qty = leaves
    r.avg_px = avg_px
    r.order_px = order_px
    r.order_qty = order_qty
    r.released_qty = released
    r.ord_status = ord_status
    r.request = request
    r.reject_reason = reason
    r.closes_order = closes
    r.order_type = order_type
    r.time_in_force = tif
    for k in range(r._reserved.shape[0]):
        r._reserved[k] = 0
    return n + 1


@njit(cache=True)
def _put_row(reports, n, rows, i, exec_type, last_qty, last_px, released, request, reason,
             closes):
    """A report of row i as it is now."""
    o = rows[i]
    return _put(reports, n, o.order_id, o.symbol_id, o.side, exec_type, last_qty, last_px,
                o.cum_qty, o.leaves_qty, o.avg_px, o.limit_px, o.qty, released, o.status,
                request, reason, closes, o.order_type, o.time_in_force)


@njit(cache=True)
def _price_reason(limit_px, tick_size):
    """-1 when the price is acceptable, else its VENUE_* reason. tick_size <= 0: no grid."""
    if limit_px <= 0:
        return VENUE_BAD_PRICE
    if tick_size > 0 and limit_px % tick_size != 0:
        return VENUE_OFF_TICK
    return -1


@njit(cache=True)
def shown_qty(side, px, levels, n_levels):
    """Lots the L2 book shows at px on `side` (levels 0 .. n_levels - 1 of `levels`: rows
    bid_px, ask_px, bid_qty, ask_qty): the level's at px; 0 where px falls between two
    levels, above the best or past the book's last level (nobody is there); -1 past the
    deepest level shown, or with no L2 book (n_levels <= 1): not known. The scan starts
    at the copy's own top, not the tick's: the book is read now and may be a batch ahead
    of the tick the venue is handling, so only the copy is consistent with itself."""
    if n_levels <= 1:
        return -1
    row_px, row_qty = (0, 2) if side > 0 else (1, 3)
    s = 1 if side > 0 else -1
    for k in range(n_levels):
        level_px = levels[row_px, k]
        if level_px == 0:
            return 0                    # the book ends above px
        if level_px == px:
            return max(levels[row_qty, k], 0)
        if s * (level_px - px) < 0:
            return 0                    # px lies between levels k - 1 and k
    return -1


@njit(cache=True)
def _join_queue(side, px, bid, ask, bid_qty, ask_qty, has_market, levels, n_levels):
    """Lots ahead of an order joining at px (risk-averse: the back of the visible queue)."""
    if not has_market:
        return 0
    own_px, own_qty = (bid, bid_qty) if side > 0 else (ask, ask_qty)
    s = 1 if side > 0 else -1
    if s * (px - own_px) > 0:
        return 0                        # it improves the best: first in line
    if px != own_px:
        shown = shown_qty(side, px, levels, n_levels)
        if shown >= 0:
            return shown
    return max(own_qty, 0)


@njit(cache=True)
def _taker_qty(side, px, leaves, bid, ask, bid_qty, ask_qty, has_market):
    """Lots an arriving order at px takes from the quote (at the ask/bid), 0 if it rests."""
    if not has_market:
        return 0
    if side > 0 and px >= ask:
        return max(min(leaves, ask_qty), 0)
    if side < 0 and px <= bid:
        return max(min(leaves, bid_qty), 0)
    return 0


@njit(cache=True)
def _fill(rows, i, qty, px, transitions, illegal, now, reports, n):
    """Fill qty (0 < qty <= leaves) of row i at px; one report. Returns the new n."""
    o = rows[i]
    s = _step(transitions, illegal, o.status, EV_FILL_ALL if qty >= o.leaves_qty else EV_FILL_PART)
    if s == INVALID:
        return n
    o.cum_qty = o.cum_qty + qty
    o.leaves_qty = o.leaves_qty - qty
    o.cum_notional = o.cum_notional + qty * px
    o.avg_px = o.cum_notional // o.cum_qty
    o.status = s
    o.updated_ns = now
    if s == STATUS_FILLED:
        o.queue_ahead = 0
    # A fill answers no request: request is the order's own (REQ_NEW).
    return _put_row(reports, n, rows, i, EXEC_FILL if s == STATUS_FILLED else EXEC_PARTIAL_FILL,
                    qty, px, qty, REQ_NEW, 0, 1 if s == STATUS_FILLED else 0)


@njit(cache=True)
def _free_row(rows, used):
    for i in range(used[0]):
        s = rows[i].status
        # a final row with requests still out (a venue process's answer to come:
        # workers/gateway/external.py) keeps its order until they are answered
        if s == STATUS_NONE or (is_final(s) and rows[i].requests_out == 0):
            return i
    if used[0] < rows.shape[0]:
        return used[0]
    return -1


@njit(cache=True)
def _take_row(rows, used, i, order_id, symbol, side, order_type, tif, qty, limit_px, now):
    if i == used[0]:
        used[0] += 1
    start_row(rows[i], order_id, symbol, side, order_type, tif, qty, limit_px, now)


@njit(cache=True)
def _ioc(transitions, illegal, order_id, symbol, side, order_type, tif, qty, limit_px,
         bid, ask, bid_qty, ask_qty, has_market, reports):
    """An IOC: no row; a fill of what the quote gives, then a cancel of the rest."""
    filled = _taker_qty(side, limit_px, qty, bid, ask, bid_qty, ask_qty, has_market)
    px = ask if side > 0 else bid
    status = STATUS_PENDING_NEW
    n = 0
    if filled > 0:
        s = _step(transitions, illegal, status, EV_FILL_ALL if filled == qty else EV_FILL_PART)
        if s == INVALID:
            filled = 0          # not applied: the whole order is cancelled below
        else:
            status = s
            n = _put(reports, n, order_id, symbol, side,
                     EXEC_FILL if s == STATUS_FILLED else EXEC_PARTIAL_FILL, filled, px,
                     filled, qty - filled, px, limit_px, qty, filled, s, REQ_NEW, 0,
                     1 if s == STATUS_FILLED else 0, order_type, tif)
    if filled < qty:
        s = _step(transitions, illegal, status, EV_CANCEL_ACK)
        n = _put(reports, n, order_id, symbol, side, EXEC_CANCELLED, 0, 0, filled, 0,
                 px if filled > 0 else 0, limit_px, qty, qty - filled,
                 STATUS_CANCELED if s == INVALID else s, REQ_NEW, 0, 1, order_type, tif)
    return n


@njit(cache=True)
def venue_new(book, order_id, symbol, side, order_type, tif, qty, limit_px, tick_size, bid,
              ask, bid_qty, ask_qty, has_market, levels, n_levels, session_open, now, reports):
    """A new order: REJECTED, an IOC's fill and/or cancel, or NEW (+ a fill if it crosses).
    Returns the reports written (1 or 2) or REPORTS_TOO_SMALL."""
    rows, used, dirty, dirty_mark, transitions, illegal = book
    if reports.shape[0] < 2:
        return REPORTS_TOO_SMALL
    ioc = order_type == ORDER_TYPE_IOC or tif == TIF_IOC   # either way it must not rest
    reason = _price_reason(limit_px, tick_size)
    if reason < 0 and qty <= 0:
        reason = VENUE_BAD_QTY
    if reason < 0 and tif == TIF_DAY and not session_open:
        reason = VENUE_SESSION_CLOSED
    i = -1
    if reason < 0 and not ioc:
        i = _free_row(rows, used)
        if i < 0:
            reason = VENUE_BOOK_FULL
    if reason < 0 and ioc:
        return _ioc(transitions, illegal, order_id, symbol, side, order_type, tif, qty,
                    limit_px, bid, ask, bid_qty, ask_qty, has_market, reports)
    accepted = INVALID
    if reason < 0:
        pending = _step(transitions, illegal, STATUS_NONE, EV_SEND)
        if pending != INVALID:
            accepted = _step(transitions, illegal, pending, EV_ACCEPT)
        if accepted == INVALID:
            reason = VENUE_SIMULATED        # an illegal move was counted; refuse the order
    if reason >= 0:
        s = _step(transitions, illegal, STATUS_PENDING_NEW, EV_REJECT)
        # risk added qty when it passed the order: all of it comes back.
        return _put(reports, 0, order_id, symbol, side, EXEC_REJECTED, 0, 0, 0, 0, 0, limit_px,
                    qty, qty, STATUS_REJECTED if s == INVALID else s, REQ_NEW,
                    VENUE_REASON_BASE + reason, 1, order_type, tif)
    _take_row(rows, used, i, order_id, symbol, side, order_type, tif, qty, limit_px, now)
    rows[i].status = accepted
    mark_dirty(dirty, dirty_mark, i)
    n = _put_row(reports, 0, rows, i, EXEC_NEW, 0, 0, 0, REQ_NEW, 0, 0)
    take = _taker_qty(side, limit_px, qty, bid, ask, bid_qty, ask_qty, has_market)
    if take > 0:
        n = _fill(rows, i, take, ask if side > 0 else bid, transitions, illegal, now, reports, n)
    if _live(rows[i].status):
        rows[i].queue_ahead = _join_queue(side, limit_px, bid, ask, bid_qty, ask_qty, has_market,
                                          levels, n_levels)
    return n


@njit(cache=True)
def _reject_on_row(rows, i, dirty, dirty_mark, transitions, illegal, request, reason,
                   released, now, reports):
    """A cancel/replace the venue refuses: the order stays as it is (a legal no-move)."""
    o = rows[i]
    _step(transitions, illegal, o.status,
          EV_REQ_REJECT_FILLED if o.cum_qty > 0 else EV_REQ_REJECT_UNFILLED)
    o.reject_reason = VENUE_REASON_BASE + reason
    o.updated_ns = now
    mark_dirty(dirty, dirty_mark, i)
    return _put_row(reports, 0, rows, i, EXEC_REJECTED, 0, 0, released, request,
                    VENUE_REASON_BASE + reason, 0)


@njit(cache=True)
def _cancel_row(rows, i, dirty, dirty_mark, transitions, illegal, event, exec_type, request,
                now, reports, n):
    """End working row i (cancel or expiry); its leaves go back to risk."""
    o = rows[i]
    s = _step(transitions, illegal, o.status, event)
    if s == INVALID:
        return n
    leaves = o.leaves_qty
    o.status = s
    o.leaves_qty = 0
    o.queue_ahead = 0
    o.updated_ns = now
    mark_dirty(dirty, dirty_mark, i)
    return _put_row(reports, n, rows, i, exec_type, 0, 0, leaves, request, 0, 1)


@njit(cache=True)
def venue_cancel(book, order_id, now, reports):
    """A cancel: CANCELED, or REJECTED unknown_order / too_late. Returns 1 (or
    REPORTS_TOO_SMALL)."""
    rows, used, dirty, dirty_mark, transitions, illegal = book
    if reports.shape[0] < 1:
        return REPORTS_TOO_SMALL
    i = find_row(rows, used, order_id)
    if i < 0:
        return _put(reports, 0, order_id, 0, 0, EXEC_REJECTED, 0, 0, 0, 0, 0, 0, 0, 0,
                    STATUS_REJECTED, REQ_CANCEL, VENUE_REASON_BASE + VENUE_UNKNOWN_ORDER, 0, 0, 0)
    if not is_final(rows[i].status):
        n = _cancel_row(rows, i, dirty, dirty_mark, transitions, illegal, EV_CANCEL_ACK,
                        EXEC_CANCELLED, REQ_CANCEL, now, reports, 0)
        if n == 1:
            return n
    # A cancel that crosses a fill: the fill wins, the cancel is too late.
    return _reject_on_row(rows, i, dirty, dirty_mark, transitions, illegal, REQ_CANCEL,
                          VENUE_TOO_LATE, 0, now, reports)


@njit(cache=True)
def venue_replace(book, order_id, qty, limit_px, tick_size, bid, ask, bid_qty, ask_qty,
                  has_market, levels, n_levels, now, reports):
    """A cancel/replace to total `qty` at `limit_px`: REPLACED (+ a fill if the new price
    crosses) or REJECTED. Returns 1 or 2 (or REPORTS_TOO_SMALL)."""
    rows, used, dirty, dirty_mark, transitions, illegal = book
    if reports.shape[0] < 2:
        return REPORTS_TOO_SMALL
    i = find_row(rows, used, order_id)
    if i < 0:
        # risk added the new total when it passed the replace: released = qty.
        return _put(reports, 0, order_id, 0, 0, EXEC_REJECTED, 0, 0, 0, 0, 0, limit_px, qty, qty,
                    STATUS_REJECTED, REQ_REPLACE, VENUE_REASON_BASE + VENUE_UNKNOWN_ORDER, 0, 0, 0)
    o = rows[i]
    reason = -1
    if is_final(o.status):
        reason = VENUE_TOO_LATE
    elif qty <= o.cum_qty or qty <= 0:
        reason = VENUE_BAD_QTY
    else:
        reason = _price_reason(limit_px, tick_size)
    replaced = INVALID
    if reason < 0:
        pending = _step(transitions, illegal, o.status, EV_REPLACE_REQ)
        if pending != INVALID:
            replaced = _step(transitions, illegal, pending, EV_REPLACE_ACK)
        if replaced == INVALID:
            reason = VENUE_TOO_LATE         # an illegal move was counted; the order stays
    if reason >= 0:
        return _reject_on_row(rows, i, dirty, dirty_mark, transitions, illegal, REQ_REPLACE,
                              reason, qty, now, reports)
    released = o.leaves_qty + o.cum_qty
    new_leaves = qty - o.cum_qty
    if limit_px != o.limit_px or new_leaves > o.leaves_qty:
        o.queue_ahead = _join_queue(o.side, limit_px, bid, ask, bid_qty, ask_qty, has_market,
                                    levels, n_levels)
    o.qty = qty
    o.leaves_qty = new_leaves
    o.limit_px = limit_px
    o.status = replaced
    o.updated_ns = now
    mark_dirty(dirty, dirty_mark, i)
    n = _put_row(reports, 0, rows, i, EXEC_REPLACED, 0, 0, released, REQ_REPLACE, 0, 0)
    take = _taker_qty(o.side, limit_px, new_leaves, bid, ask, bid_qty, ask_qty, has_market)
    if take > 0:
        n = _fill(rows, i, take, ask if o.side > 0 else bid, transitions, illegal, now, reports, n)
    return n


@njit(cache=True)
def venue_on_tick(book, symbol, bid, ask, bid_qty, ask_qty, is_trade, trade_px, trade_qty,
                  aggressor_side, levels, n_levels, now, reports):
    """One tick of `symbol` against our resting orders (queue model above), in row
    order: at most one fill report per row. Returns the reports written.
    levels, n_levels: the L2 book as it stands (n_levels <= 1: none).
    aggressor_side is not used: a trade at our price eats the queue whoever started it."""
    rows, used, dirty, dirty_mark, transitions, illegal = book
    # What the tick offers is shared by all our rows, in row order: the lots of a trade
    # at one price, and the quoted size our buys (sells) may take at the ask (bid).
    # Filling each row from all of it would invent liquidity (two of our orders on one
    # level would both fill from one trade).
    trade_left = max(trade_qty, 0) if is_trade else 0
    buy_take_left = max(ask_qty, 0)
    sell_take_left = max(bid_qty, 0)
    n = 0
    for i in range(used[0]):
        o = rows[i]
        if o.symbol_id != symbol or not _live(o.status):
            continue
        if n >= reports.shape[0]:
            break               # no room to report a fill: leave the rest for the next tick
        p = o.limit_px
        s = 1 if o.side > 0 else -1     # mirrors sells onto buys: "above p" is s * (x - p) > 0
        own_px, own_qty = (bid, bid_qty) if s > 0 else (ask, ask_qty)
        opp_px = ask if s > 0 else bid
        take_left = buy_take_left if s > 0 else sell_take_left
        q = o.queue_ahead + 0   # int64 from here on
        through = 0
        if is_trade and trade_px == p:
            q -= trade_left                     # it eats the queue ahead first
        elif is_trade and s * (p - trade_px) > 0:
            through = o.leaves_qty              # traded through us: all of it fills
        from_trade = 0
        if q < 0:
            from_trade = -q                     # what the trade had past the queue is ours
            q = 0
        from_level = take_left if s * (p - opp_px) >= 0 else 0   # our level was taken
        if s * (p - own_px) > 0:
            q = 0                               # the best moved behind us: we are first
        elif own_px == p:
            q = min(q, max(own_qty, 0))         # a shrinking level was cancelled ahead of us
        elif n_levels > 1:
            shown = shown_qty(s, p, levels, n_levels)
            if shown >= 0:
                q = min(q, shown)               # the same at a level behind the best
        fill = min(max(through, from_trade, from_level), o.leaves_qty)
        changed = q != o.queue_ahead
        o.queue_ahead = q
        if fill > 0:
            n = _fill(rows, i, fill, p, transitions, illegal, now, reports, n)
            trade_left -= min(fill, from_trade)
            if s > 0:
                buy_take_left -= min(fill, from_level)
            else:
                sell_take_left -= min(fill, from_level)
            changed = True
        if changed:
            o.updated_ns = now
            mark_dirty(dirty, dirty_mark, i)
    return n


@njit(cache=True)
def venue_cancel_all(book, now, reports):
    """The kill switch: cancel every working row. Returns the reports written."""
    rows, used, dirty, dirty_mark, transitions, illegal = book
    n = 0
    for i in range(used[0]):
        if _live(rows[i].status):
            if n >= reports.shape[0]:
                break
            n = _cancel_row(rows, i, dirty, dirty_mark, transitions, illegal, EV_CANCEL_ACK,
                            EXEC_CANCELLED, REQ_CANCEL, now, reports, n)
    return n


@njit(cache=True)
def venue_expire_day(book, now, reports):
    """The session's end: expire every working DAY row. Returns the reports written."""
    rows, used, dirty, dirty_mark, transitions, illegal = book
    n = 0
    for i in range(used[0]):
        if _live(rows[i].status) and rows[i].time_in_force == TIF_DAY:
            if n >= reports.shape[0]:
                break
            n = _cancel_row(rows, i, dirty, dirty_mark, transitions, illegal, EV_EXPIRE,
                            EXEC_EXPIRED, REQ_NEW, now, reports, n)
    return n
