"""Avellaneda-Stoikov market maker with an order-book-imbalance skew.

The model is M. Avellaneda and S. Stoikov, "High-frequency trading in a limit
order book", Quantitative Finance 8(3), 217-224, 2008. Per symbol it keeps one
resting bid and one resting ask (LIMIT, GTC) around a reservation price:

    r  = s - q * gamma * sigma2 * tau                    reservation price, ticks
    d  = gamma * sigma2 * tau + (2 / gamma) * ln(1 + gamma / k)
                                                         total spread, ticks
    r' = r + obi_weight * I * d / 2                      imbalance skew, ticks
    I  = (bid_qty - ask_qty) / (bid_qty + ask_qty)       top-of-book imbalance, -1..1
    bid = floor(r' - d / 2),  ask = ceil(r' + d / 2)     ticks, on the tick grid

Units. Everything is in ticks of the instrument, so the params are dimensionless
for any instrument: s is the mid / tick_size; q the position in lots; sigma2 the
variance rate of the mid in ticks^2 per second (sigma in ticks per sqrt(second));
tau in seconds, so sigma2 * tau is the mid's variance over the horizon in ticks^2;
gamma (risk aversion) and k (the decay of the fill intensity, A * exp(-k * distance))
are per tick. A long position (q > 0) moves both quotes down, a short one up; a
book heavier on the bid (I > 0) moves them up, by at most obi_weight half-spreads.

Horizon. The fixed-horizon variant: T - t = tau = horizon_s always (the stationary,
infinite-horizon-like form; no session clock that runs down), so the same inputs
always give the same quotes.

Volatility. sigma2 is estimated online per symbol, as a time-weighted EWMA of
the squared mid change (ticks^2) over the seconds between the quotes (their
origin_ns): sigma2 += a * (dx^2 / dt - sigma2), a = 1 - 2^(-dt / sigma_halflife_s).
As dt -> 0, a / dt -> ln 2 / sigma_halflife_s, which is what a change with no
elapsed time (two quotes with the same timestamp) adds; sigma2 never goes below
sigma_min^2 and starts at sigma_start^2.

Quotes never take: the bid is held at or below the best ask - 1 tick, the ask at
or above the best bid + 1 tick. Inventory: no bid while position + order_qty >
max_inventory, no ask while position - order_qty < -max_inventory; that side's
working order is cancelled instead.

Requotes: on a quote when r' moved by a tick or more since it was last quoted in
full (both sides at their prices or their requests sent), or a side that should
quote has no order, or one that should not still has one; and on every timer tick
(TIMER_MS). Per side: no order -> place; a working order at another price ->
replace (total qty = its filled qty + order_qty, so order_qty lots work again); an
order whose last request is unanswered (PENDING_*) is left alone until its report
comes. At most one send per side, two per callback. on_fill only follows our two
orders' reports: a finished order is forgotten (its side is placed anew), a live
one's price and filled qty are taken from the report.

Defaults are sized for the synthetic feed: its mid moves -1, 0 or +1 tick per
quote, so sigma2 = 2/3 tick^2 per quote, and at the default 100,000 ticks/s over
8 symbols (12,500 quotes/s per symbol) sigma2 = 8,333 ticks^2/s (sigma = 91
ticks/sqrt(s)). With horizon_s = 0.0002 s, sigma2 * tau = 1.67 ticks^2:
d = 0.1 * 1.67 + 20 * ln(1 + 0.1 / 1.5) = 0.17 + 1.29 = 1.46 ticks, so with no
inventory it quotes 2 ticks wide (at the feed's touch), 3 with a strong imbalance;
each lot held moves r by 0.17 tick (a 5-lot fill by 0.83 tick, 50 lots by 8.3).
A horizon of 1 s would give d = 834 ticks here: horizon_s is the time scale over
which the position is expected to be worked off, and must fit the feed's speed.
"""

import math

import numpy as np
from numba import njit

import tickpipe as tp

PARAMS = {
    "gamma": 0.1,              # risk aversion, per tick (per lot of inventory)
    "k": 1.5,                  # fill intensity decay A*exp(-k*distance), per tick
    "horizon_s": 0.0002,       # T - t, seconds (fixed: the stationary variant)
    "sigma_start": 90.0,       # initial sigma, ticks per sqrt(second)
    "sigma_min": 1.0,          # floor of sigma, ticks per sqrt(second)
    "sigma_halflife_s": 1.0,   # half-life of the sigma^2 EWMA, seconds
    "obi_weight": 0.5,         # imbalance skew: r += obi_weight * I * half-spread
    "order_qty": 5,            # lots per quote
    "max_inventory": 50,       # no quote that could take |position| past this, lots
}

TIMER_MS = 100  # requote every 100 ms as well


def check_params(params):
    for key in ("gamma", "k", "horizon_s", "sigma_start", "sigma_min", "sigma_halflife_s"):
        if not params[key] > 0:
            return f"param {key} = {params[key]}: must be > 0"
    if not 0.0 <= params["obi_weight"] <= 1.0:
        return f"param obi_weight = {params['obi_weight']}: must be from 0 to 1"
    if not params["order_qty"] >= 1:
        return f"param order_qty = {params['order_qty']}: must be >= 1"
    if not params["max_inventory"] >= params["order_qty"]:
        return (f"param max_inventory = {params['max_inventory']}: must be >= order_qty "
                f"({params['order_qty']})")
    return None


STATE = np.dtype([
    ("bid_id", np.int64),       # our resting bid's order id, 0: none
    ("ask_id", np.int64),       # our resting ask's order id, 0: none
    ("bid_px", np.int64),       # the bid's limit price (as sent, then as reported), price units
    ("ask_px", np.int64),       # the ask's, price units
    ("bid_cum", np.int64),      # lots the bid has filled (from its reports)
    ("ask_cum", np.int64),      # lots the ask has filled
    ("last_mid", np.float64),   # mid of the last quote, ticks (0: no quote yet)
    ("last_ns", np.int64),      # its origin time, ns, monotonic
    ("sigma2", np.float64),     # variance rate of the mid, ticks^2 per second
    ("imbalance", np.float64),  # top-of-book imbalance of the last quote, -1..1
    ("last_r", np.float64),     # reservation price (with the skew) last quoted in full, ticks
    ("requotes", np.int64),     # requotes done
    ("cash", np.int64),         # -sum(side x lots x price) of our fills, price units x lots:
                                # P&L = cash + position x mark (reconciles with risk's)
])

LN2 = math.log(2.0)


# ---- the model: pure functions, in ticks -------------------------------------------

@njit(cache=True)
def reservation_price(s, q, gamma, sigma2, tau):
    """r = s - q * gamma * sigma2 * tau: ticks, from mid s (ticks), position q (lots),
    gamma (per tick), sigma2 (ticks^2/s) and tau (s)."""
    return s - q * gamma * sigma2 * tau


@njit(cache=True)
def optimal_spread(gamma, sigma2, tau, k):
    """The total spread d = gamma * sigma2 * tau + (2 / gamma) * ln(1 + gamma / k), ticks."""
    return gamma * sigma2 * tau + (2.0 / gamma) * math.log1p(gamma / k)


@njit(cache=True)
def imbalance(bid_qty, ask_qty):
    """I = (bid_qty - ask_qty) / (bid_qty + ask_qty), -1..1; 0 for an empty book."""
    total = bid_qty + ask_qty
    if total <= 0:
        return 0.0
    return (bid_qty - ask_qty) / total


@njit(cache=True)
def skewed_reservation(s, q, gamma, sigma2, tau, k, imb, obi_weight):
    """r' = r + obi_weight * I * d / 2, ticks."""
    return reservation_price(s, q, gamma, sigma2, tau) + \
        obi_weight * imb * optimal_spread(gamma, sigma2, tau, k) / 2.0


@njit(cache=True)
def quotes(r, spread, best_bid, best_ask):
    """(bid, ask) in whole ticks: floor(r - spread/2), ceil(r + spread/2), the bid at
    most best_ask - 1 and the ask at least best_bid + 1 (best_bid, best_ask: the
    market's, whole ticks), so neither takes."""
    half = spread / 2.0
    bid = np.int64(math.floor(r - half))
    ask = np.int64(math.ceil(r + half))
    if bid > best_ask - 1:
        bid = best_ask - 1
    if ask < best_bid + 1:
        ask = best_bid + 1
    return bid, ask


@njit(cache=True)
def model_quotes(s, q, gamma, k, sigma2, tau, imb, obi_weight, best_bid, best_ask):
    """(r', bid, ask): the skewed reservation price (ticks) and the two quotes (whole
    ticks) for mid s and the market best_bid/best_ask (whole ticks)."""
    spread = optimal_spread(gamma, sigma2, tau, k)
    r = reservation_price(s, q, gamma, sigma2, tau) + obi_weight * imb * spread / 2.0
    bid, ask = quotes(r, spread, best_bid, best_ask)
    return r, bid, ask


@njit(cache=True)
def update_sigma2(sigma2, dx, dt, halflife_s, floor):
    """sigma2 (ticks^2/s) after a mid change of dx ticks dt seconds after the last:
    sigma2 + a * (dx^2 / dt - sigma2), a = 1 - 2^(-dt / halflife_s); for dt <= 0
    the limit (a / dt -> ln 2 / halflife_s, no decay). Never below `floor`."""
    if dt > 0.0:
        a = -math.expm1(-dt * LN2 / halflife_s)
        out = sigma2 + a * (dx * dx / dt - sigma2)
    else:
        out = sigma2 + LN2 / halflife_s * dx * dx
    return out if out > floor else floor


@njit(cache=True)
def inventory_sides(position, order_qty, max_inventory):
    """(bid_ok, ask_ok): a bid only while position + order_qty <= max_inventory, an
    ask only while position - order_qty >= -max_inventory."""
    return position + order_qty <= max_inventory, position - order_qty >= -max_inventory


# ---- the orders --------------------------------------------------------------------

@njit
def _settled(status):
    """A working order with no request of ours unanswered: cancel or replace may go."""
    return status == tp.STATUS_NEW or status == tp.STATUS_PARTIALLY_FILLED or \
        status == tp.STATUS_REPLACED


@njit
def _work_side(ctx, side, order_id, order_px, cum, want, px, qty):
    """Bring one side to `px` (price units) for `qty` lots, or to no order when not
    `want`; at most one send. Returns its (order_id, order_px, cum) afterwards and
    whether it is done: at the target, or the request for it sent (False: it waits
    on an unanswered request of ours, or the send was refused)."""
    status = tp.STATUS_NONE
    if order_id != 0:
        status = tp.order_status(ctx, order_id)
        if status == tp.STATUS_NONE or tp.is_final(status):
            order_id = np.int64(0)
    if order_id == 0:
        if not want:
            return np.int64(0), np.int64(0), np.int64(0), True
        new_id = np.int64(tp.place(ctx, side, qty, px, tp.GTC))
        if new_id > 0:
            return new_id, np.int64(px), np.int64(0), True
        return np.int64(0), np.int64(0), np.int64(0), False
    if want and px == order_px:
        return order_id, order_px, cum, True
    if not _settled(status):
        return order_id, order_px, cum, False  # PENDING_*: wait for its report
    if not want:
        return order_id, order_px, cum, tp.cancel(ctx, order_id) == 0  # forgotten once final
    if tp.replace(ctx, order_id, cum + qty, px) == 0:
        return order_id, np.int64(px), cum, True
    return order_id, order_px, cum, False


@njit
def _requote(ctx, state, params, s, best_bid, best_ask, tick):
    """Quote both sides around mid s (ticks) against the market best_bid/best_ask
    (whole ticks); tick: price units per tick. The reservation price is remembered
    as quoted (last_r) only when both sides are done, so a side that had to wait
    is tried again on the next quote. Nothing while trading is halted: risk would
    refuse it all, and the venue has cancelled our quotes (placed anew on resume)."""
    if not tp.can_trade(ctx):
        return
    q = tp.position(ctx)
    r, bid, ask = model_quotes(s, q, params.gamma, params.k, state.sigma2, params.horizon_s,
                               state.imbalance, params.obi_weight, best_bid, best_ask)
    bid_ok, ask_ok = inventory_sides(q, params.order_qty, params.max_inventory)
    bid_ok = bid_ok and bid >= 1
    order_id, order_px, cum, bid_done = _work_side(ctx, tp.BUY, state.bid_id, state.bid_px,
                                                   state.bid_cum, bid_ok, bid * tick,
                                                   params.order_qty)
    state.bid_id = order_id
    state.bid_px = order_px
    state.bid_cum = cum
    order_id, order_px, cum, ask_done = _work_side(ctx, tp.SELL, state.ask_id, state.ask_px,
                                                   state.ask_cum, ask_ok, ask * tick,
                                                   params.order_qty)
    state.ask_id = order_id
    state.ask_px = order_px
    state.ask_cum = cum
    if bid_done and ask_done:
        state.last_r = r
    state.requotes += 1


# ---- the callbacks -----------------------------------------------------------------

@njit
def on_quote(ctx, state, params, quote):
    tick = tp.tick_size(ctx)
    if tick <= 0 or quote.bid_px <= 0 or quote.ask_px <= quote.bid_px:
        return  # one-sided or crossed: no mid
    s = (quote.bid_px + quote.ask_px) / (2.0 * tick)
    floor = params.sigma_min * params.sigma_min
    if state.last_mid > 0.0:
        dt = (quote.origin_ns - state.last_ns) * 1e-9
        state.sigma2 = update_sigma2(state.sigma2, s - state.last_mid, dt,
                                     params.sigma_halflife_s, floor)
    else:
        state.sigma2 = max(params.sigma_start * params.sigma_start, floor)
    state.last_mid = s
    state.last_ns = quote.origin_ns
    state.imbalance = imbalance(np.float64(quote.bid_qty), np.float64(quote.ask_qty))
    best_bid = quote.bid_px // tick
    best_ask = -(-quote.ask_px // tick)
    q = tp.position(ctx)
    r = skewed_reservation(s, q, params.gamma, state.sigma2, params.horizon_s, params.k,
                           state.imbalance, params.obi_weight)
    bid_ok, ask_ok = inventory_sides(q, params.order_qty, params.max_inventory)
    if abs(r - state.last_r) >= 1.0 or (bid_ok == (state.bid_id == 0)) or \
            (ask_ok == (state.ask_id == 0)):  # a side lacks its order, or has one to cancel
        _requote(ctx, state, params, s, best_bid, best_ask, tick)


@njit
def on_timer(ctx, state, params, now_ns):
    tick = tp.tick_size(ctx)
    bid_px = tp.best_bid(ctx)
    ask_px = tp.best_ask(ctx)
    if state.last_mid == 0.0 or tick <= 0 or bid_px <= 0 or ask_px <= bid_px:
        return  # no quote seen yet, or no two-sided market
    s = (bid_px + ask_px) / (2.0 * tick)
    _requote(ctx, state, params, s, bid_px // tick, -(-ask_px // tick), tick)


@njit
def _follow(ctx, order_id, order_px, report):
    """One side's (order id, price, filled) after a report of its order: forgotten once
    final (the side is placed anew); else the price (a rejected replace leaves the old
    one) and the filled qty as reported."""
    status = tp.order_status(ctx, order_id)
    if status == tp.STATUS_NONE or tp.is_final(status):
        return np.int64(0), np.int64(0), np.int64(0)
    price = report.order_px if report.order_px > 0 else order_px
    return order_id, np.int64(price), np.int64(report.cum_qty)


@njit
def on_fill(ctx, state, params, report):
    if report.exec_type == tp.EXEC_FILL or report.exec_type == tp.EXEC_PARTIAL_FILL:
        state.cash -= report.side * np.int64(report.last_qty) * report.last_px
    order_id = np.int64(report.order_id)
    if order_id == 0:
        return
    if order_id == state.bid_id:
        state.bid_id, state.bid_px, state.bid_cum = _follow(ctx, order_id, state.bid_px, report)
    elif order_id == state.ask_id:
        state.ask_id, state.ask_px, state.ask_cum = _follow(ctx, order_id, state.ask_px, report)
