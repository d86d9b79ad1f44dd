"""The built-in simulated exchange: IOC orders filled against the synthetic top of book.

A buy fills at the ask, up to the ask size, when its limit reaches the ask; a
sell at the bid likewise; whatever does not fill is cancelled (IOC). The top
of book is the feed's, read through its seqlock (engine/book.py).
"""

from numba import njit

from tickpipe.engine.book import BOOK_EMPTY, BOOK_OK, book_read

MATCH_FILLED = 0        # out[0] lots filled at out[1]
MATCH_NO_MARKET = 1     # the symbol has no quote yet
MATCH_BOOK_UNREADABLE = 2  # the book row was left half written (a dead feed): no fill


@njit(cache=True)
def match_ioc(book, book_address, symbol, side, qty, limit_px, top, out):
    """Match one IOC order; out[0] = filled lots, out[1] = fill price. Returns MATCH_*."""
    out[0] = 0
    out[1] = 0
    read = book_read(book, book_address, symbol, top)
    if read == BOOK_EMPTY:
        return MATCH_NO_MARKET
    if read != BOOK_OK:
        return MATCH_BOOK_UNREADABLE
    bid_px, ask_px, bid_qty, ask_qty = top[0], top[1], top[2], top[3]
    if side > 0 and limit_px >= ask_px:
        out[0] = min(qty, ask_qty)
        out[1] = ask_px
    elif side < 0 and limit_px <= bid_px:
        out[0] = min(qty, bid_qty)
        out[1] = bid_px
    return MATCH_FILLED
