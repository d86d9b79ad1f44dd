"""The strategy API: what a strategy's callbacks may call on their `ctx`.

Re-exported as `tickpipe.<name>` (see the package's __init__). Every function
is jitted and allocation-free, and concerns the event's own symbol: a quote,
trade or report of symbol s, or a timer tick for s, can only read and trade s.
Prices are fixed-point int64 price units (PRICE_SCALE per currency unit), sizes
int lots. Nothing raises: sends return a code.

    on_quote(ctx, state, params, quote)     a new top of book for the symbol
    on_trade(ctx, state, params, trade)     a trade printed on the market
    on_fill(ctx, state, params, report)     every execution report of our orders
    on_timer(ctx, state, params, now_ns)    every timer_ms, once per symbol

`state` is the symbol's row of the strategy's STATE dtype, in shared memory:
assign its fields; the runner commits what changed with the batch.
`params` is a record of the strategy's PARAMS, read-only.
A report's `exec_type` is one of EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_FILL,
EXEC_CANCELLED, EXEC_REPLACED, EXEC_EXPIRED, EXEC_REJECTED (a fill: last_qty lots
at last_px); `ord_status` the order's STATUS_* after it; cum_qty, leaves_qty,
avg_px as FIX 4.4's; `reject_reason` a REASON code (tools spell it).

Orders that rest: `place` a LIMIT order (GTC or DAY) and keep its id; `cancel` or
`replace` it by id; `order_status` / `order_leaves` / `order_filled` read this
strategy's order table (in the segment: `tickpipe inspect` shows it, and a restart
keeps it), which the runner keeps from the reports by the order state machine
(engine/order_states.py).
"""

import numpy as np
from numba import njit

from tickpipe.engine.book import BOOK_OK, book_read
from tickpipe.engine.depth import depth_read_level
from tickpipe.engine.commit import mark_row, txn_add, txn_set
from tickpipe.engine.atomics import load_acquire_u32, monotonic_ns
from tickpipe.engine.clock import clock_now
from tickpipe.engine.order_states import (  # noqa: F401  (for strategies)
    EV_CANCEL_REQ, EV_REPLACE_REQ, EV_SEND, is_final, is_working, next_status, start_row,
)
from tickpipe.engine.strategy_context import (
    E_MD_SEQ, E_NOW_NS, E_ORIGIN_NS, E_REFUSED_BASE, E_ROOM, E_SENT, E_SENT_TOTAL, E_STRATEGY,
    E_SYMBOL, E_WRITTEN,
)
from tickpipe.engine.ring import H_MASK, H_POSITION
from tickpipe.shm_layouts.fill import (  # noqa: F401  (exec types, for on_fill)
    RISK_REASON_BASE, VENUE_BAD_PRICE, VENUE_BAD_QTY, VENUE_BOOK_FULL, VENUE_OFF_TICK,
    VENUE_REASON_BASE, VENUE_SESSION_CLOSED, VENUE_SIMULATED, VENUE_TOO_LATE,
    VENUE_UNKNOWN_ORDER, EXEC_CANCELED, EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL,
    EXEC_REJECTED, EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import (  # noqa: F401  (order statuses, for strategies)
    ORDER_SLOTS, STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NEW, STATUS_NONE,
    STATUS_PARTIALLY_FILLED, STATUS_PENDING_CANCEL, STATUS_PENDING_NEW, STATUS_PENDING_REPLACE,
    STATUS_REJECTED, STATUS_REPLACED,
)
from tickpipe.shm_layouts.control_block import (
    CLOSING_OFFSET, REJECT_NAMES, TRADING_HALTED, TRADING_STATE_OFFSET,
)
from tickpipe.shm_layouts.market_data import PRICE_SCALE  # noqa: F401  (price units per 1.0)
from tickpipe.shm_layouts.order_intent import (
    ORDER_TYPE_IOC, ORDER_TYPE_LIMIT, REQ_CANCEL, REQ_NEW, REQ_REPLACE, TIF_DAY, TIF_GTC, TIF_IOC,
)
from tickpipe.shm_layouts.strategy_position import (
    ORDER_ID_STRATEGY_SHIFT, STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)

IOC = ORDER_TYPE_IOC        # fill what you can at once, cancel the rest
LIMIT = ORDER_TYPE_LIMIT    # rests until filled, cancelled or expired
GTC = TIF_GTC               # good till cancelled
DAY = TIF_DAY               # expires at the session's end ([venue] session_s)
BUY = 1
SELL = -1

# send_order, buy, sell and place return the new order's id (> 0) or -REFUSED_*;
# cancel and replace return SENT or REFUSED_*. Every refusal is counted per strategy
# and code (`tickpipe inspect`, the report, Prometheus: refused_<name>).
SENT = 0
REFUSED_NO_ROOM = 1     # more than MAX_ORDERS_PER_EVENT from one callback, or the intents ring full
REFUSED_BAD_ORDER = 2   # qty <= 0, price <= 0 or side not BUY/SELL (risk denies off-tick prices)
REFUSED_TABLE_FULL = 3  # ORDER_SLOTS orders of this strategy are still working
REFUSED_PENDING = 4     # the order awaits the answer to a cancel or replace already sent

# report.reject_reason of a REJECTED report (`tickpipe inspect` spells them): the
# venue's, and risk's as REASON_RISK_<NAME> (REASON_RISK_MAX_QTY, REASON_RISK_HALTED, ...)
REASON_NONE = 0
REASON_UNKNOWN_ORDER = VENUE_REASON_BASE + VENUE_UNKNOWN_ORDER  # never had that order id
REASON_TOO_LATE = VENUE_REASON_BASE + VENUE_TOO_LATE            # it had already ended
REASON_BAD_QTY = VENUE_REASON_BASE + VENUE_BAD_QTY              # replace to <= what filled
REASON_OFF_TICK = VENUE_REASON_BASE + VENUE_OFF_TICK            # price not on the tick grid
REASON_SESSION_CLOSED = VENUE_REASON_BASE + VENUE_SESSION_CLOSED  # a DAY order after the end
REASON_VENUE_REJECT = VENUE_REASON_BASE + VENUE_SIMULATED       # [gateway] reject_every
REASON_BOOK_FULL = VENUE_REASON_BASE + VENUE_BOOK_FULL
REASON_BAD_PRICE = VENUE_REASON_BASE + VENUE_BAD_PRICE
RISK_REASONS = {f"REASON_RISK_{name.upper()}": RISK_REASON_BASE + code
                for code, name in REJECT_NAMES.items()}
globals().update(RISK_REASONS)  # module constants, so jitted callbacks can compare with them

MAX_ORDERS_PER_EVENT = 4  # the runner keeps this much room in the intents ring per callback

_ROW = STRATEGY_POSITION_DTYPE.itemsize
_ORDER_NUMBER_MASK = (1 << ORDER_ID_STRATEGY_SHIFT) - 1  # below the strategy's index
_IN_FLIGHT = STRATEGY_POSITION_OFFSETS["in_flight"]
_INTENTS_SENT = STRATEGY_POSITION_OFFSETS["intents_sent"]


@njit(cache=True, _nrt=False, inline="always")
def symbol(ctx):
    """The event's symbol (an index into the engine's instruments)."""
    return ctx.event[E_SYMBOL]


@njit(cache=True, _nrt=False, inline="always")
def now_ns(ctx):
    """When the runner took this batch, monotonic ns (the same clock as the records)."""
    return ctx.event[E_NOW_NS]


@njit(cache=True, _nrt=False, inline="always")
def clock_ns():
    """The monotonic clock now (a syscall-free read; costs ~20 ns). Wall time, also in a
    backtest: now_ns(ctx) is the engine's (simulated there)."""
    return monotonic_ns()


@njit(cache=True, _nrt=False, inline="always")
def position(ctx):
    """This strategy's position in the event's symbol, lots (+ long, - short), from its fills."""
    return ctx.positions[ctx.event[E_SYMBOL]].position


@njit(cache=True, _nrt=False, inline="always")
def order_in_flight(ctx):
    """True from the send of an order of ours for the symbol (IOC or resting) until the
    strategy has read that order's final report (filled, cancelled, rejected, expired).
    Exact, never timed out: every request gets exactly one final answer, delivered once."""
    return ctx.positions[ctx.event[E_SYMBOL]].in_flight > 0


@njit(cache=True, _nrt=False, inline="always")
def orders_in_flight(ctx):
    """How many orders of ours for the symbol were sent and are not final yet."""
    return ctx.positions[ctx.event[E_SYMBOL]].in_flight


@njit(cache=True, _nrt=False, inline="always")
def tick_size(ctx):
    """The symbol's price increment, price units."""
    return ctx.tick_sizes[ctx.event[E_SYMBOL]]


@njit(cache=True, _nrt=False, inline="always")
def _top(ctx, k):
    if book_read(ctx.book, ctx.book.ctypes.data, ctx.event[E_SYMBOL], ctx.top) != BOOK_OK:
        return 0
    return ctx.top[k]


@njit(cache=True, _nrt=False, inline="always")
def best_bid(ctx):
    """The symbol's best bid now (price units), 0 when it has no market."""
    return _top(ctx, 0)


@njit(cache=True, _nrt=False, inline="always")
def best_ask(ctx):
    """The symbol's best ask now (price units), 0 when it has no market."""
    return _top(ctx, 1)


@njit(cache=True, _nrt=False, inline="always")
def _level(ctx, level, k):
    if level == 0:
        return _top(ctx, k)
    if level < 0 or level >= ctx.depth[0].levels:
        return 0
    if depth_read_level(ctx.depth, ctx.depth.ctypes.data, ctx.event[E_SYMBOL], level,
                        ctx.top) != BOOK_OK:
        return 0
    return ctx.top[k]


@njit(cache=True, _nrt=False, inline="always")
def depth_levels(ctx):
    """Levels of each side of the book the engine keeps ([feed] depth; 1: the top only)."""
    return np.int64(ctx.depth[0].levels)


@njit(cache=True, _nrt=False, inline="always")
def bid_px(ctx, level):
    """The event's symbol's bid price at `level` of the book now (0: the best; level k:
    the k-th best price), 0 when the book has no such level (or level >= depth_levels).
    Each call is one consistent read of that level; the book may move between calls."""
    return _level(ctx, level, 0)


@njit(cache=True, _nrt=False, inline="always")
def ask_px(ctx, level):
    """The ask price at `level` now (0: the best), 0 when there is no such level."""
    return _level(ctx, level, 1)


@njit(cache=True, _nrt=False, inline="always")
def bid_qty(ctx, level):
    """Lots bid at `level` now (0: the best), 0 when there is no such level."""
    return _level(ctx, level, 2)


@njit(cache=True, _nrt=False, inline="always")
def ask_qty(ctx, level):
    """Lots offered at `level` now (0: the best), 0 when there is no such level."""
    return _level(ctx, level, 3)


@njit(cache=True, _nrt=False, inline="always")
def can_trade(ctx):
    """False while the kill switch is on (`tickpipe halt`) or the engine is stopping:
    risk would refuse every new order and replace (a cancel still goes). True under
    REDUCING, where risk passes only orders that shrink a position."""
    return load_acquire_u32(ctx.control + TRADING_STATE_OFFSET) != TRADING_HALTED and \
        load_acquire_u32(ctx.control + CLOSING_OFFSET) == 0


@njit(cache=True, _nrt=False, inline="always")
def bid_size(ctx):
    """Lots quoted at the symbol's best bid now, 0 when it has no market."""
    return _top(ctx, 2)


@njit(cache=True, _nrt=False, inline="always")
def ask_size(ctx):
    """Lots quoted at the symbol's best ask now, 0 when it has no market."""
    return _top(ctx, 3)


@njit(cache=True, _nrt=False, inline="always")
def _room(ctx):
    event = ctx.event
    return event[E_SENT] < MAX_ORDERS_PER_EVENT and event[E_WRITTEN] < event[E_ROOM]


@njit(cache=True, _nrt=False, inline="always")
def _request(ctx, request, symbol, side, qty, price, order_type, tif, order_id):
    """Write one request into the intents ring (published with the batch, after the
    commit: a kill before then sends it once, from the restarted worker's replay)."""
    event = ctx.event
    out = ctx.out
    intent = ctx.intents[(out[H_POSITION] + event[E_WRITTEN]) & out[H_MASK]]
    intent.origin_ns = event[E_ORIGIN_NS]
    intent.md_seq = event[E_MD_SEQ]
    intent.symbol_id = symbol
    intent.side = side
    intent.order_type = order_type
    intent.qty = qty
    intent.limit_px = price
    intent.order_id = order_id
    intent.request = request
    intent.time_in_force = tif
    for b in range(6):
        intent._reserved[b] = 0
    intent.publish_ns = clock_now(ctx.control)
    row = ctx.positions.ctypes.data + symbol * _ROW
    txn_set(ctx.txn, row + _INTENTS_SENT, ctx.positions[symbol].intents_sent + 1)
    event[E_WRITTEN] += 1
    event[E_SENT] += 1
    event[E_SENT_TOTAL] += 1


# The order table is open-addressed: an order's row is the first row, from its number
# mod ORDER_SLOTS on, that was free when it was sent (never used, or holding a finished
# order). A row once used is never empty again, so a lookup walks from the home row
# until it finds the id or a never-used row. The table is in the segment and changes
# only with the batch, so a replayed event finds the same row.

@njit(cache=True, _nrt=False, inline="always")
def _free_row(ctx, number):
    """The row a new order numbered `number` takes, or -1: ORDER_SLOTS orders work."""
    for probe in range(ORDER_SLOTS):
        slot = (number + probe) % ORDER_SLOTS
        status = ctx.orders[slot].status
        if status == STATUS_NONE or is_final(status):
            return slot
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _order_row(ctx, order_id):
    """The order's row in this strategy's table, or -1 when the table does not have it."""
    # Compared as uint64, the rows' own type. The id a callback hands in is the int64
    # `place` returned; numba compares int64 with uint64 through float64, whose 53 bits
    # could not tell apart ids above 2**53 (the strategy's index was bit 56 up) that
    # differ in their low bits: a cancel or replace then took a neighbouring order's
    # row, sent that order's side and symbol to risk and moved the wrong row (issue #18).
    wanted = np.uint64(order_id)
    home = np.int64(wanted & np.uint64(_ORDER_NUMBER_MASK))
    for probe in range(ORDER_SLOTS):
        slot = (home + probe) % ORDER_SLOTS
        row = ctx.orders[slot]
        if row.order_id == wanted and row.status != STATUS_NONE:
            return slot
        if row.status == STATUS_NONE:
            return -1
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _refuse(ctx, code):
    """Count a refusal (with the batch: engine/strategy_events.py sync_state) and
    return its code."""
    ctx.event[E_REFUSED_BASE + code - 1] += 1
    return code


@njit(cache=True, _nrt=False, inline="always")
def _new_order(ctx, side, qty, price, order_type, tif):
    """A new order for the event's symbol: its id (> 0), or -REFUSED_*."""
    event = ctx.event
    if (side != BUY and side != SELL) or qty <= 0 or price <= 0:
        return -_refuse(ctx, REFUSED_BAD_ORDER)
    if not _room(ctx):
        return -_refuse(ctx, REFUSED_NO_ROOM)
    number = ctx.out[H_POSITION] + event[E_WRITTEN] + 1  # the request's seq: replays alike
    slot = _free_row(ctx, number)
    if slot < 0:
        return -_refuse(ctx, REFUSED_TABLE_FULL)
    row = ctx.orders[slot]
    order_id = (event[E_STRATEGY] << ORDER_ID_STRATEGY_SHIFT) | number
    sym = event[E_SYMBOL]
    start_row(row, order_id, sym, side, order_type, tif, qty, price, event[E_NOW_NS])
    row.status = next_status(ctx.transitions, STATUS_NONE, EV_SEND)
    mark_row(ctx.orders_dirty, ctx.orders_dirty_mark, slot)
    txn_add(ctx.txn, ctx.positions.ctypes.data + sym * _ROW + _IN_FLIGHT, 1)  # until its final report
    _request(ctx, REQ_NEW, sym, side, qty, price, order_type, tif, order_id)
    return order_id


@njit(cache=True, _nrt=False, inline="always")
def send_order(ctx, side, qty, price, order_type):
    """Send an order for the event's symbol: side BUY/SELL, qty lots > 0, limit price;
    order_type IOC, or LIMIT (good till cancelled: see `place`). It is written into
    the intents ring now and published with the batch (after the commit), so a kill
    before then sends it once, from the restarted worker's replay, never twice.
    Returns the order's id (> 0: `order_status` & co. follow it, IOC or not), or
    -REFUSED_NO_ROOM, -REFUSED_BAD_ORDER, -REFUSED_TABLE_FULL (nothing sent).
    """
    tif = TIF_IOC if order_type == IOC else TIF_GTC
    return _new_order(ctx, side, qty, price, order_type, tif)


@njit(cache=True, _nrt=False, inline="always")
def place(ctx, side, qty, price, tif):
    """A resting LIMIT order for the event's symbol: side BUY/SELL, qty lots, limit
    price (on the tick grid, or the venue rejects it), tif GTC or DAY. Returns its
    order id (> 0: keep it to cancel or replace it), or -REFUSED_* (nothing sent)."""
    return _new_order(ctx, side, qty, price, LIMIT, tif)





@njit(cache=True, _nrt=False, inline="always")
def _amend(ctx, request, order_id, qty, price, event_kind):
    """A cancel or replace. Sent also for an order the table does not know or that
    is finished: the venue answers it REJECTED (unknown_order / too_late)."""
    event = ctx.event
    if not _room(ctx):
        return _refuse(ctx, REFUSED_NO_ROOM)
    slot = _order_row(ctx, order_id)
    sym = event[E_SYMBOL]
    side = BUY
    tif = TIF_GTC
    if slot >= 0:
        row = ctx.orders[slot]
        if row.status == STATUS_PENDING_CANCEL or row.status == STATUS_PENDING_REPLACE or \
                row.status == STATUS_PENDING_NEW:
            return _refuse(ctx, REFUSED_PENDING)
        sym = row.symbol_id
        side = row.side
        tif = row.time_in_force
        if is_working(row.status):
            row.status = next_status(ctx.transitions, row.status, event_kind)
            row.updated_ns = event[E_NOW_NS]
            mark_row(ctx.orders_dirty, ctx.orders_dirty_mark, slot)
        if request == REQ_CANCEL:
            qty = 0
            price = row.limit_px
    _request(ctx, request, sym, side, qty, price, LIMIT, tif, order_id)
    return SENT


@njit(cache=True, _nrt=False, inline="always")
def cancel(ctx, order_id):
    """Cancel a resting order. SENT, REFUSED_NO_ROOM or REFUSED_PENDING; the answer is a
    report: EXEC_CANCELLED, or EXEC_REJECTED when it had filled first (too_late)."""
    return _amend(ctx, REQ_CANCEL, order_id, 0, 0, EV_CANCEL_REQ)


@njit(cache=True, _nrt=False, inline="always")
def replace(ctx, order_id, qty, price):
    """Change a resting order's total qty (lots, incl. what has filled) and price. A
    new price loses its place in the queue; a smaller qty at the same price keeps it.
    SENT, REFUSED_NO_ROOM or REFUSED_PENDING; the answer is EXEC_REPLACED or
    EXEC_REJECTED (bad_qty below what filled, off_tick, too_late, ...)."""
    return _amend(ctx, REQ_REPLACE, order_id, qty, price, EV_REPLACE_REQ)


@njit(cache=True, _nrt=False, inline="always")
def order_status(ctx, order_id):
    """The order's STATUS_* as this strategy knows it (STATUS_NONE: not in its table)."""
    slot = _order_row(ctx, order_id)
    return STATUS_NONE if slot < 0 else ctx.orders[slot].status


@njit(cache=True, _nrt=False, inline="always")
def order_leaves(ctx, order_id):
    """Lots of the order still working (0 when unknown or finished)."""
    slot = _order_row(ctx, order_id)
    return 0 if slot < 0 else ctx.orders[slot].leaves_qty


@njit(cache=True, _nrt=False, inline="always")
def order_filled(ctx, order_id):
    """Lots of the order filled so far."""
    slot = _order_row(ctx, order_id)
    return 0 if slot < 0 else ctx.orders[slot].cum_qty


@njit(cache=True, _nrt=False, inline="always")
def order_price(ctx, order_id):
    """The order's limit price now (after any replace); 0 when unknown."""
    slot = _order_row(ctx, order_id)
    return 0 if slot < 0 else ctx.orders[slot].limit_px


@njit(cache=True, _nrt=False, inline="always")
def buy(ctx, qty, price):
    """An IOC buy of `qty` lots at up to `price`: its order id (> 0) or -REFUSED_*;
    see send_order."""
    return send_order(ctx, BUY, qty, price, IOC)


@njit(cache=True, _nrt=False, inline="always")
def sell(ctx, qty, price):
    """An IOC sell of `qty` lots at down to `price`: its order id (> 0) or -REFUSED_*;
    see send_order."""
    return send_order(ctx, SELL, qty, price, IOC)

