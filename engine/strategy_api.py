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
EXEC_CANCELLED, EXEC_REJECTED (its last_qty lots at last_px).
"""

from numba import njit

from tickpipe.engine.book import BOOK_OK, book_read
from tickpipe.engine.commit import txn_set
from tickpipe.engine.atomics import monotonic_ns
from tickpipe.engine.strategy_context import (
    E_MD_SEQ, E_NOW_NS, E_ORIGIN_NS, E_REF_MID, E_REFUSED, E_ROOM, E_SENT, E_SENT_TOTAL,
    E_SYMBOL, E_WRITTEN,
)
from tickpipe.engine.ring import H_MASK, H_POSITION
from tickpipe.shm_layouts.fill import (  # noqa: F401  (exec types, for on_fill)
    EXEC_CANCELLED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
)
from tickpipe.shm_layouts.market_data import PRICE_SCALE  # noqa: F401  (price units per 1.0)
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, ORDER_TYPE_LIMIT
from tickpipe.shm_layouts.strategy_position import (
    STRATEGY_POSITION_DTYPE, STRATEGY_POSITION_OFFSETS,
)

IOC = ORDER_TYPE_IOC        # fill what you can at once, cancel the rest
LIMIT = ORDER_TYPE_LIMIT    # (the simulated venue treats it as IOC for now)
BUY = 1
SELL = -1

# send_order return codes
SENT = 0
REFUSED_NO_ROOM = 1     # more than MAX_ORDERS_PER_EVENT from one callback
REFUSED_BAD_ORDER = 2   # qty <= 0, price <= 0 or side not BUY/SELL

MAX_ORDERS_PER_EVENT = 4  # the runner keeps this much room in the intents ring per callback
# An order awaits its final report; risk's rejections send none yet, so an order
# with no report for this long no longer counts as in flight.
IN_FLIGHT_TIMEOUT_NS = 1_000_000

_ROW = STRATEGY_POSITION_DTYPE.itemsize
_PENDING_SINCE_NS = STRATEGY_POSITION_OFFSETS["pending_since_ns"]
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
    """The monotonic clock now (a syscall-free read; costs ~20 ns)."""
    return monotonic_ns()


@njit(cache=True, _nrt=False, inline="always")
def position(ctx):
    """This strategy's position in the event's symbol, lots (+ long, - short), from its fills."""
    return ctx.positions[ctx.event[E_SYMBOL]].position


@njit(cache=True, _nrt=False, inline="always")
def order_in_flight(ctx):
    """True while an order of ours for the symbol awaits its final report."""
    since = ctx.positions[ctx.event[E_SYMBOL]].pending_since_ns
    return since != 0 and ctx.event[E_NOW_NS] - since < IN_FLIGHT_TIMEOUT_NS


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
def send_order(ctx, side, qty, price, order_type):
    """Send an order for the event's symbol: side BUY/SELL, qty lots > 0, limit price.

    It is written into the intents ring now and published with the batch (after
    the commit), so a kill before then sends it once, from the restarted worker's
    replay, never twice. Returns SENT, REFUSED_NO_ROOM or REFUSED_BAD_ORDER.
    """
    event = ctx.event
    if (side != BUY and side != SELL) or qty <= 0 or price <= 0:
        event[E_REFUSED] += 1
        return REFUSED_BAD_ORDER
    if event[E_SENT] >= MAX_ORDERS_PER_EVENT or event[E_WRITTEN] >= event[E_ROOM]:
        event[E_REFUSED] += 1
        return REFUSED_NO_ROOM
    out = ctx.out
    sym = event[E_SYMBOL]
    intent = ctx.intents[(out[H_POSITION] + event[E_WRITTEN]) & out[H_MASK]]
    intent.origin_ns = event[E_ORIGIN_NS]
    intent.md_seq = event[E_MD_SEQ]
    intent.symbol_id = sym
    intent.side = side
    intent.order_type = order_type
    intent.qty = qty
    intent.limit_px = price
    intent.ref_mid_px = event[E_REF_MID]
    intent._reserved = 0
    intent.publish_ns = monotonic_ns()
    row = ctx.positions.ctypes.data + sym * _ROW
    txn_set(ctx.txn, row + _PENDING_SINCE_NS, event[E_NOW_NS])
    txn_set(ctx.txn, row + _INTENTS_SENT, ctx.positions[sym].intents_sent + 1)
    event[E_WRITTEN] += 1
    event[E_SENT] += 1
    event[E_SENT_TOTAL] += 1
    return SENT


@njit(cache=True, _nrt=False, inline="always")
def buy(ctx, qty, price):
    """An IOC buy of `qty` lots at up to `price`; see send_order."""
    return send_order(ctx, BUY, qty, price, IOC)


@njit(cache=True, _nrt=False, inline="always")
def sell(ctx, qty, price):
    """An IOC sell of `qty` lots at down to `price`; see send_order."""
    return send_order(ctx, SELL, qty, price, IOC)

