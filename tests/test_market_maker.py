"""The Avellaneda-Stoikov market maker (workers/strategies/avellaneda_stoikov.py).

The model's pure functions are checked against numbers worked out by hand (in the
comments). The callbacks run against a stand-in for the order API (place, cancel,
replace, order_status ...): each callback is rebuilt with `tp` bound to FakeApi,
whose orders live in a small namedtuple of arrays and whose sends are logged, so the
requote logic is tested whether or not engine/strategy_api.py has the order API
yet. One more test compiles the real runner once the API is there.
"""

import math
import re
import types
from collections import namedtuple

import numpy as np
import pytest
from numba import njit
from numba.core.registry import CPUDispatcher

from tickpipe.engine.plugin import StrategyError, load_plugin
from tickpipe.shm_layouts.fill import EXEC_FILL, EXEC_PARTIAL_FILL, FILL_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE
from tickpipe.shm_layouts.open_order import (
    STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NEW, STATUS_NONE,
    STATUS_PARTIALLY_FILLED, STATUS_PENDING_CANCEL, STATUS_PENDING_NEW, STATUS_PENDING_REPLACE,
    STATUS_REJECTED, STATUS_REPLACED,
)
from tickpipe.workers.strategies import avellaneda_stoikov as mm

MODULE = "tickpipe.workers.strategies.avellaneda_stoikov"
LN_1_PLUS_1_15 = 0.06453852113757118  # ln(1 + 0.1/1.5) = ln(1.0666...)


# ---- the model, by hand --------------------------------------------------------------

def test_reservation_price_when_long_then_below_the_mid_by_q_gamma_sigma2_tau():
    # s=100, q=10, gamma=0.1, sigma2=4, tau=1 -> r = 100 - 10*0.1*4*1 = 96
    assert mm.reservation_price(100.0, 10.0, 0.1, 4.0, 1.0) == pytest.approx(96.0)
    # flat: r = s
    assert mm.reservation_price(100.0, 0.0, 0.1, 4.0, 1.0) == pytest.approx(100.0)
    # short 5: r = 100 + 5*0.1*4*0.5 = 101
    assert mm.reservation_price(100.0, -5.0, 0.1, 4.0, 0.5) == pytest.approx(101.0)


def test_optimal_spread_when_worked_by_hand_then_matches():
    # d = gamma*sigma2*tau + (2/gamma)*ln(1 + gamma/k)
    #   = 0.1*4*1 + 20*ln(1.0666667) = 0.4 + 20*0.0645385 = 0.4 + 1.2907704 = 1.6907704
    assert LN_1_PLUS_1_15 == pytest.approx(math.log(1 + 0.1 / 1.5), rel=1e-14)
    assert mm.optimal_spread(0.1, 4.0, 1.0, 1.5) == pytest.approx(1.6907704, abs=1e-7)
    # no risk term (sigma2*tau -> 0): d = 20*ln(1.0666667) = 1.2907704
    assert mm.optimal_spread(0.1, 0.0, 1.0, 1.5) == pytest.approx(1.2907704, abs=1e-7)
    # gamma -> 0: (2/gamma)*ln(1 + gamma/k) -> 2/k = 1.3333
    assert mm.optimal_spread(1e-9, 0.0, 1.0, 1.5) == pytest.approx(2 / 1.5, rel=1e-6)


def test_quotes_when_long_then_bid_floor_ask_ceil_and_the_ask_clamped_above_the_best_bid():
    # r = 96, d = 1.6907704, half = 0.8453852
    # bid = floor(96 - 0.8453852) = floor(95.1546) = 95
    # ask = ceil(96 + 0.8453852)  = ceil(96.8454)  = 97, but the market is 99/101:
    #       an ask at 97 would sell into the 99 bid, so it goes to 99 + 1 = 100
    r, bid, ask = mm.model_quotes(100.0, 10.0, 0.1, 1.5, 4.0, 1.0, 0.0, 0.5, 99, 101)
    assert r == pytest.approx(96.0)
    assert (bid, ask) == (95, 100)
    # with a market far below (90/92, as if the mid were stale) the ask stays at 97
    # and the bid is held below the best ask: min(95, 92 - 1) = 91
    assert tuple(mm.quotes(96.0, 1.6907704, 90, 92)) == (91, 97)


def test_quotes_when_flat_and_no_imbalance_then_at_the_touch():
    # q = 0: r = 100; bid = floor(100 - 0.8453852) = 99, ask = ceil(100.8453852) = 101
    r, bid, ask = mm.model_quotes(100.0, 0.0, 0.1, 1.5, 4.0, 1.0, 0.0, 0.5, 99, 101)
    assert (r, bid, ask) == (pytest.approx(100.0), 99, 101)


def test_quotes_when_the_defaults_meet_the_synthetic_feed_then_two_ticks_wide():
    # the default feed: 12,500 quotes/s per symbol, mid -1/0/+1 tick per quote:
    # sigma2 = 2/3 * 12500 = 8333.33 ticks^2/s; tau = 0.0002 s -> sigma2*tau = 1.6667
    # d = 0.1*1.6667 + 1.2907704 = 0.1666667 + 1.2907704 = 1.4574371, half = 0.7287185
    # s = 10000 (bid 9999, ask 10001): bid = floor(9999.2713) = 9999, ask = ceil(10000.7287) = 10001
    p = mm.PARAMS
    sigma2 = 2 / 3 * 12_500
    assert mm.optimal_spread(p["gamma"], sigma2, p["horizon_s"], p["k"]) == \
        pytest.approx(1.4574371, abs=1e-6)
    r, bid, ask = mm.model_quotes(10_000.0, 0.0, p["gamma"], p["k"], sigma2, p["horizon_s"],
                                  0.0, p["obi_weight"], 9_999, 10_001)
    assert (bid, ask) == (9_999, 10_001)
    # a full-size imbalance I = 1: r' = 10000 + 0.5*1*0.7287185 = 10000.3643593
    # bid = floor(9999.6356) = 9999, ask = ceil(10001.0931) = 10002: three ticks wide
    r, bid, ask = mm.model_quotes(10_000.0, 0.0, p["gamma"], p["k"], sigma2, p["horizon_s"],
                                  1.0, p["obi_weight"], 9_999, 10_001)
    assert r == pytest.approx(10_000.3643593, abs=1e-6)
    assert (bid, ask) == (9_999, 10_002)
    # one 5-lot fill long: r = 10000 - 5*0.1666667 = 9999.1666667
    # bid = floor(9998.438) = 9998, ask = ceil(9999.8954) = 10000 (inside the 2-tick spread)
    r, bid, ask = mm.model_quotes(10_000.0, 5.0, p["gamma"], p["k"], sigma2, p["horizon_s"],
                                  0.0, p["obi_weight"], 9_999, 10_001)
    assert r == pytest.approx(9_999.1666667, abs=1e-6)
    assert (bid, ask) == (9_998, 10_000)


@pytest.mark.parametrize("q", [1.0, 10.0, 50.0])
def test_inventory_skew_when_long_then_quotes_lower_and_when_short_then_higher(q):
    args = (0.1, 1.5, 40.0, 1.0, 0.0, 0.5, 0, 1_000)  # gamma k sigma2 tau I w, a wide market
    r0, bid0, ask0 = mm.model_quotes(500.0, 0.0, *args)
    r_long, bid_long, ask_long = mm.model_quotes(500.0, q, *args)
    r_short, bid_short, ask_short = mm.model_quotes(500.0, -q, *args)
    # r moves by q*gamma*sigma2*tau = q*4 ticks
    assert r0 - r_long == pytest.approx(4 * q)
    assert r_short - r0 == pytest.approx(4 * q)
    assert bid_long < bid0 < bid_short and ask_long < ask0 < ask_short
    # the spread itself does not depend on q: the quotes move together
    assert ask_long - bid_long == ask0 - bid0 == ask_short - bid_short


def test_imbalance_when_sizes_given_then_bid_minus_ask_over_the_sum():
    # (300 - 100) / 400 = 0.5;  (100 - 300) / 400 = -0.5;  (0 - 7) / 7 = -1;  empty book: 0
    assert mm.imbalance(300.0, 100.0) == pytest.approx(0.5)
    assert mm.imbalance(100.0, 300.0) == pytest.approx(-0.5)
    assert mm.imbalance(0.0, 7.0) == pytest.approx(-1.0)
    assert mm.imbalance(0.0, 0.0) == 0.0


def test_imbalance_skew_when_the_bid_is_heavier_then_quotes_higher_and_lighter_then_lower():
    # s=100, q=0, sigma2=4, tau=1: d = 1.6907704, half = 0.8453852
    # I = +0.5, w = 0.5: r' = 100 + 0.5*0.5*0.8453852 = 100.2113463
    #   bid = floor(99.3659611) = 99, ask = ceil(101.0567315) = 102
    # I = -0.5: r' = 99.7886537; bid = floor(98.9432685) = 98, ask = ceil(100.6340389) = 101
    # (a wide market 0/1000 so that no clamp applies)
    up = mm.model_quotes(100.0, 0.0, 0.1, 1.5, 4.0, 1.0, 0.5, 0.5, 0, 1_000)
    down = mm.model_quotes(100.0, 0.0, 0.1, 1.5, 4.0, 1.0, -0.5, 0.5, 0, 1_000)
    assert up[0] == pytest.approx(100.2113463, abs=1e-6)
    assert tuple(up[1:]) == (99, 102)
    assert down[0] == pytest.approx(99.7886537, abs=1e-6)
    assert tuple(down[1:]) == (98, 101)
    assert mm.skewed_reservation(100.0, 0.0, 0.1, 4.0, 1.0, 1.5, 0.5, 0.5) == \
        pytest.approx(100.2113463, abs=1e-6)
    # obi_weight 0: no skew at all
    assert mm.model_quotes(100.0, 0.0, 0.1, 1.5, 4.0, 1.0, 0.5, 0.0, 0, 1_000)[0] == \
        pytest.approx(100.0)


def test_update_sigma2_when_worked_by_hand_then_matches():
    # dt = 1 s, half-life 1 s: a = 1 - 2^-1 = 0.5; dx = 3 ticks: dx^2/dt = 9
    # sigma2 = 4 + 0.5*(9 - 4) = 6.5
    assert mm.update_sigma2(4.0, 3.0, 1.0, 1.0, 0.01) == pytest.approx(6.5)
    # a move down counts as much as one up
    assert mm.update_sigma2(4.0, -3.0, 1.0, 1.0, 0.01) == pytest.approx(6.5)
    # dt = 0.5 s, half-life 0.5 s: a = 0.5; dx = 1: dx^2/dt = 2 -> 4 + 0.5*(2 - 4) = 3
    assert mm.update_sigma2(4.0, 1.0, 0.5, 0.5, 0.01) == pytest.approx(3.0)
    # no time elapsed (same timestamp): the limit a/dt -> ln2/halflife:
    # 4 + ln2/1 * 1^2 = 4.6931472
    assert mm.update_sigma2(4.0, 1.0, 0.0, 1.0, 0.01) == pytest.approx(4.6931472, abs=1e-7)
    # ... and a tiny dt gives nearly the same
    assert mm.update_sigma2(4.0, 1.0, 1e-9, 1.0, 0.01) == pytest.approx(4.6931472, abs=1e-6)


def test_update_sigma2_when_quiet_then_decays_to_the_floor_and_never_below():
    # 10 s of no change, half-life 1 s: 4 * 2^-10 = 0.00390625
    assert mm.update_sigma2(4.0, 0.0, 10.0, 1.0, 0.001) == pytest.approx(0.00390625)
    # ... below a floor of 1.0: held at 1.0
    assert mm.update_sigma2(4.0, 0.0, 10.0, 1.0, 1.0) == 1.0


def test_update_sigma2_when_fed_a_steady_walk_then_converges_to_its_variance_rate():
    # one tick every 1 ms, up or down: dx^2/dt = 1/0.001 = 1000 ticks^2/s
    sigma2 = 1.0
    for i in range(2_000):  # 2 s, 20 half-lives of 0.1 s
        sigma2 = mm.update_sigma2(sigma2, 1.0 if i % 2 else -1.0, 0.001, 0.1, 0.01)
    assert sigma2 == pytest.approx(1_000.0, rel=1e-4)


def test_inventory_sides_when_at_the_limit_then_that_side_is_dropped():
    # max 50, 5 lots a quote: 45 + 5 = 50 <= 50 still bids; 46 + 5 = 51 does not
    assert tuple(mm.inventory_sides(45, 5, 50)) == (True, True)
    assert tuple(mm.inventory_sides(46, 5, 50)) == (False, True)
    assert tuple(mm.inventory_sides(-45, 5, 50)) == (True, True)
    assert tuple(mm.inventory_sides(-46, 5, 50)) == (True, False)
    assert tuple(mm.inventory_sides(0, 5, 5)) == (True, True)
    assert tuple(mm.inventory_sides(1, 5, 5)) == (False, True)


# ---- the plug-in ---------------------------------------------------------------------

def test_load_plugin_when_the_module_is_named_then_it_loads_with_its_defaults():
    plugin = load_plugin({"name": "mm", "module": MODULE, "params": {}})
    assert plugin.params == mm.PARAMS
    assert plugin.timer_ms == 100.0
    assert plugin.state_dtype.itemsize % 64 == 0
    for field in ("bid_id", "ask_id", "bid_px", "ask_px", "last_mid", "last_ns", "sigma2",
                  "imbalance", "last_r"):
        assert field in plugin.state_dtype.names
    assert set(plugin.params_dtype.names) == set(mm.PARAMS)


def test_check_params_when_defaults_then_none():
    assert mm.check_params(dict(mm.PARAMS)) is None


@pytest.mark.parametrize("key, value, message", [
    ("gamma", 0.0, "param gamma = 0.0: must be > 0"),
    ("k", -1.0, "param k = -1.0: must be > 0"),
    ("horizon_s", 0.0, "param horizon_s = 0.0: must be > 0"),
    ("sigma_start", 0.0, "param sigma_start = 0.0: must be > 0"),
    ("sigma_min", 0.0, "param sigma_min = 0.0: must be > 0"),
    ("sigma_halflife_s", -2.0, "param sigma_halflife_s = -2.0: must be > 0"),
    ("obi_weight", 1.5, "param obi_weight = 1.5: must be from 0 to 1"),
    ("obi_weight", -0.1, "param obi_weight = -0.1: must be from 0 to 1"),
    ("order_qty", 0, "param order_qty = 0: must be >= 1"),
    ("max_inventory", 4, "param max_inventory = 4: must be >= order_qty (5)"),
])
def test_check_params_when_out_of_range_then_one_line_names_the_param(key, value, message):
    assert mm.check_params(dict(mm.PARAMS, **{key: value})) == message
    with pytest.raises(StrategyError) as err:
        load_plugin({"name": "mm", "module": MODULE, "params": {key: value}})
    assert str(err.value) == f"strategy 'mm': {message}"
    assert "\n" not in str(err.value)


def _api_names_used():
    """The `tp.<name>`s the strategy uses."""
    with open(mm.__file__) as f:
        return sorted(set(re.findall(r"\btp\.([A-Za-z_]\w*)", f.read())))


def _api_missing():
    import tickpipe
    return [n for n in _api_names_used() if not hasattr(tickpipe, n)]


def test_api_names_used_when_listed_then_the_fake_api_has_them_all():
    assert "place" in _api_names_used() and "replace" in _api_names_used()
    fake = _fake_api()
    assert [n for n in _api_names_used() if not hasattr(fake, n)] == []


@pytest.mark.skipif(bool(_api_missing()), reason="tickpipe does not export the order API the "
                    f"strategy uses yet: {', '.join(_api_missing())}")
def test_compile_strategy_when_the_order_api_is_there_then_the_strategy_compiles():
    from tickpipe.engine.runner_gen import compile_strategy
    plugin = load_plugin({"name": "mm", "module": MODULE, "params": {}})
    addresses = compile_strategy(plugin, 4)
    assert set(addresses) == {"on_quote", "on_fill", "on_timer"} and all(addresses.values())


# ---- the callbacks, against a stand-in order API --------------------------------------

FakeCtx = namedtuple("FakeCtx", "pos tick top status leaves next_id log n_log")
K_PLACE, K_CANCEL, K_REPLACE = 1, 2, 3
TICK = 100            # price units per tick
MID = 1_000_000       # price units: 10000 ticks
NS = 80_000           # ns between quotes (12,500 a second)


@njit
def _fake_log(ctx, kind, order_id, side, qty, price, tif):
    n = ctx.n_log[0]
    ctx.log[n, 0] = kind
    ctx.log[n, 1] = order_id
    ctx.log[n, 2] = side
    ctx.log[n, 3] = qty
    ctx.log[n, 4] = price
    ctx.log[n, 5] = tif
    ctx.n_log[0] = n + 1


@njit
def _fake_place(ctx, side, qty, price, tif):
    order_id = ctx.next_id[0]
    ctx.next_id[0] = order_id + 1
    ctx.status[order_id] = STATUS_PENDING_NEW
    ctx.leaves[order_id] = qty
    _fake_log(ctx, K_PLACE, order_id, side, qty, price, tif)
    return order_id


@njit
def _fake_cancel(ctx, order_id):
    ctx.status[order_id] = STATUS_PENDING_CANCEL
    _fake_log(ctx, K_CANCEL, order_id, 0, 0, 0, 0)
    return 0


@njit
def _fake_replace(ctx, order_id, qty, price):
    ctx.status[order_id] = STATUS_PENDING_REPLACE
    _fake_log(ctx, K_REPLACE, order_id, 0, qty, price, 0)
    return 0


@njit
def _fake_order_status(ctx, order_id):
    if order_id <= 0 or order_id >= ctx.status.shape[0]:
        return STATUS_NONE
    return ctx.status[order_id]


@njit
def _fake_order_leaves(ctx, order_id):
    return ctx.leaves[order_id]


@njit
def _fake_is_final(status):
    return status == STATUS_FILLED or status == STATUS_CANCELED or \
        status == STATUS_REJECTED or status == STATUS_EXPIRED


@njit
def _fake_is_working(status):
    return status == STATUS_NEW or status == STATUS_PARTIALLY_FILLED or \
        status == STATUS_REPLACED or status == STATUS_PENDING_CANCEL or \
        status == STATUS_PENDING_REPLACE


def _fake_api():
    api = types.ModuleType("fake_tp")
    api.place, api.cancel, api.replace = _fake_place, _fake_cancel, _fake_replace
    api.order_status, api.order_leaves = _fake_order_status, _fake_order_leaves
    api.is_final, api.is_working = _fake_is_final, _fake_is_working
    api.position = njit(lambda ctx: ctx.pos[0])
    api.tick_size = njit(lambda ctx: ctx.tick[0])
    api.best_bid = njit(lambda ctx: ctx.top[0])
    api.best_ask = njit(lambda ctx: ctx.top[1])
    api.can_trade = njit(lambda ctx: True)
    api.BUY, api.SELL, api.GTC, api.DAY = 1, -1, 0, 1
    api.EXEC_PARTIAL_FILL, api.EXEC_FILL = EXEC_PARTIAL_FILL, EXEC_FILL
    for name, value in (("STATUS_NONE", STATUS_NONE), ("STATUS_PENDING_NEW", STATUS_PENDING_NEW),
                        ("STATUS_NEW", STATUS_NEW),
                        ("STATUS_PARTIALLY_FILLED", STATUS_PARTIALLY_FILLED),
                        ("STATUS_FILLED", STATUS_FILLED),
                        ("STATUS_PENDING_CANCEL", STATUS_PENDING_CANCEL),
                        ("STATUS_CANCELED", STATUS_CANCELED),
                        ("STATUS_PENDING_REPLACE", STATUS_PENDING_REPLACE),
                        ("STATUS_REPLACED", STATUS_REPLACED), ("STATUS_REJECTED", STATUS_REJECTED),
                        ("STATUS_EXPIRED", STATUS_EXPIRED)):
        setattr(api, name, value)
    return api


def _rebound_module():
    """The strategy's jitted functions again, with `tp` the fake API, compiled without
    NRT as the runner compiles them (so an allocation would not compile); the module
    itself is untouched."""
    scope = dict(vars(mm))
    scope["tp"] = _fake_api()
    for name, value in vars(mm).items():
        if isinstance(value, CPUDispatcher) and value.py_func.__module__ == mm.__name__:
            py = value.py_func
            scope[name] = njit(_nrt=False)(types.FunctionType(py.__code__, scope, name,
                                                               py.__defaults__, py.__closure__))
    return types.SimpleNamespace(**scope)


FAKE = _rebound_module()


class Harness:
    def __init__(self, **params):
        self.plugin = load_plugin({"name": "mm", "module": MODULE, "params": params})
        self.params = np.zeros(1, self.plugin.params_dtype)
        for key, value in self.plugin.params.items():
            self.params[0][key] = value
        self.rows = np.zeros(1, self.plugin.state_dtype)
        self.ctx = FakeCtx(pos=np.zeros(1, np.int64), tick=np.array([TICK], np.int64),
                           top=np.zeros(2, np.int64), status=np.zeros(64, np.int64),
                           leaves=np.zeros(64, np.int64), next_id=np.array([1], np.int64),
                           log=np.zeros((64, 6), np.int64), n_log=np.zeros(1, np.int64))
        self.t_ns = 10**12

    @property
    def state(self):
        return self.rows[0]

    def _sends(self, call):
        before = int(self.ctx.n_log[0])
        call()
        sent = [tuple(int(v) for v in row) for row in self.ctx.log[before:self.ctx.n_log[0]]]
        assert len(sent) <= 4  # MAX_ORDERS_PER_EVENT
        return sent

    def quote(self, mid_ticks_off=0, bid_qty=100, ask_qty=100, half_spread=TICK):
        mid = MID + mid_ticks_off * TICK
        self.t_ns += NS
        record = np.zeros(1, MARKET_DATA_DTYPE)[0]
        record["kind"], record["origin_ns"] = MD_KIND_QUOTE, self.t_ns
        record["bid_px"], record["ask_px"] = mid - half_spread, mid + half_spread
        record["bid_qty"], record["ask_qty"] = bid_qty, ask_qty
        self.ctx.top[:] = (mid - half_spread, mid + half_spread)
        return self._sends(lambda: FAKE.on_quote(self.ctx, self.rows[0], self.params[0], record))

    def timer(self):
        return self._sends(lambda: FAKE.on_timer(self.ctx, self.rows[0], self.params[0],
                                                 self.t_ns))

    def report(self, order_id, cum_qty=0, order_px=0):
        record = np.zeros(1, FILL_DTYPE)[0]
        record["order_id"], record["cum_qty"], record["order_px"] = order_id, cum_qty, order_px
        return self._sends(lambda: FAKE.on_fill(self.ctx, self.rows[0], self.params[0], record))

    def ack(self, *order_ids, status=STATUS_NEW):
        for order_id in order_ids:
            self.ctx.status[order_id] = status


@pytest.fixture
def harness():
    return Harness()


def test_on_quote_when_first_then_places_a_bid_and_an_ask_at_the_touch(harness):
    # sigma2 = 90^2 = 8100 (sigma_start); d = 0.1*8100*0.0002 + 1.2907704 = 1.4527704
    # s = 10000: bid = floor(9999.27) = 9999 -> 999,900; ask = ceil(10000.73) = 10001 -> 1,000,100
    sent = harness.quote()
    assert sent == [(K_PLACE, 1, 1, 5, 999_900, 0), (K_PLACE, 2, -1, 5, 1_000_100, 0)]
    s = harness.state
    assert (s["bid_id"], s["ask_id"], s["bid_px"], s["ask_px"]) == (1, 2, 999_900, 1_000_100)
    assert s["sigma2"] == pytest.approx(8_100.0)
    assert s["last_mid"] == 10_000.0 and s["last_r"] == pytest.approx(10_000.0)


def test_on_quote_when_nothing_moved_or_orders_pending_then_sends_nothing(harness):
    harness.quote()
    assert harness.quote() == []          # same mid, both PENDING_NEW
    assert harness.quote(1) == []         # a tick up, but still PENDING_NEW: wait
    assert harness.state["last_r"] == pytest.approx(10_000.0)  # not quoted in full yet
    harness.ack(1, 2)
    # the next quote at the moved mid sends what had to wait
    assert harness.quote(1) == [(K_REPLACE, 1, 0, 5, 1_000_000, 0),
                                (K_REPLACE, 2, 0, 5, 1_000_200, 0)]
    assert harness.state["last_r"] == pytest.approx(10_001.0)


def test_on_quote_when_the_mid_moves_a_tick_then_both_orders_are_replaced(harness):
    harness.quote()
    harness.ack(1, 2)
    # mid 10001: bid 10000 -> 1,000,000; ask 10002 -> 1,000,200; qty = 0 filled + 5
    assert harness.quote(1) == [(K_REPLACE, 1, 0, 5, 1_000_000, 0),
                                (K_REPLACE, 2, 0, 5, 1_000_200, 0)]
    assert (harness.state["bid_px"], harness.state["ask_px"]) == (1_000_000, 1_000_200)
    # PENDING_REPLACE: a further move sends nothing until the answer
    assert harness.quote(2) == []
    harness.ack(1, 2, status=STATUS_REPLACED)
    assert harness.timer() == [(K_REPLACE, 1, 0, 5, 1_000_100, 0),
                               (K_REPLACE, 2, 0, 5, 1_000_300, 0)]


def test_on_quote_when_the_sigma2_estimate_moves_then_it_uses_the_origin_times(harness):
    harness.quote()
    harness.quote(1)
    # dt = 80 us, dx = 1: a = 1 - 2^(-0.00008) = 5.5450e-5, dx^2/dt = 12500
    # sigma2 = 8100 + 5.5450e-5*(12500 - 8100) = 8100.24398
    a = -math.expm1(-0.00008 * math.log(2))
    assert harness.state["sigma2"] == pytest.approx(8_100 + a * (12_500 - 8_100))
    assert harness.state["sigma2"] == pytest.approx(8_100.244, abs=1e-3)


def test_on_quote_when_the_book_is_bid_heavy_then_the_ask_goes_up_a_tick(harness):
    # I = (400 - 0)/400 = 1: r' = 10000 + 0.5*1*0.7263852 = 10000.363; ask = ceil(10001.09) = 10002
    sent = harness.quote(bid_qty=400, ask_qty=0)
    assert [(row[2], row[4]) for row in sent] == [(1, 999_900), (-1, 1_000_200)]


def test_on_quote_when_long_past_the_limit_then_the_bid_is_cancelled_and_the_ask_improves(harness):
    harness.quote()
    harness.ack(1, 2)
    harness.ctx.pos[0] = 46  # 46 + 5 > 50: no bid
    # r = 10000 - 46*0.1*8100*0.0002 = 10000 - 7.452 = 9992.548
    # ask = ceil(9992.548 + 0.7264) = 9994, but the market's bid is 9999: held at 10000
    sent = harness.quote()
    assert sent == [(K_CANCEL, 1, 0, 0, 0, 0), (K_REPLACE, 2, 0, 5, 1_000_000, 0)]
    harness.ack(1, status=STATUS_CANCELED)
    harness.report(1)
    assert harness.state["bid_id"] == 0
    harness.ack(2, status=STATUS_REPLACED)
    assert harness.quote() == []  # no bid wanted, the ask is where it should be
    assert harness.timer() == []


def test_on_quote_when_short_past_the_limit_then_no_ask_is_placed(harness):
    harness.ctx.pos[0] = -46
    sent = harness.quote()
    assert [(row[0], row[2]) for row in sent] == [(K_PLACE, 1)]
    assert harness.state["ask_id"] == 0


def test_on_fill_when_partly_filled_then_the_replace_keeps_order_qty_working(harness):
    harness.quote()
    harness.ack(1, 2)
    harness.ack(1, status=STATUS_PARTIALLY_FILLED)
    harness.report(1, cum_qty=2, order_px=999_900)
    assert harness.state["bid_cum"] == 2
    sent = harness.quote(1)
    assert sent[0] == (K_REPLACE, 1, 0, 7, 1_000_000, 0)  # total 2 filled + 5 working


def test_on_fill_when_a_replace_is_rejected_then_the_reported_price_is_kept(harness):
    harness.quote()
    harness.ack(1, 2)
    harness.quote(1)  # replaces to 1,000,000 / 1,000,200
    harness.ack(1, 2)  # rejected: back to NEW at the old prices, as the reports say
    harness.report(1, order_px=999_900)
    harness.report(2, order_px=1_000_100)
    assert (harness.state["bid_px"], harness.state["ask_px"]) == (999_900, 1_000_100)
    assert harness.timer() == [(K_REPLACE, 1, 0, 5, 1_000_000, 0),
                               (K_REPLACE, 2, 0, 5, 1_000_200, 0)]


def test_on_fill_when_an_order_is_filled_then_it_is_forgotten_and_requoted(harness):
    harness.quote()
    harness.ack(1, 2)
    harness.ack(2, status=STATUS_FILLED)
    harness.ctx.pos[0] = -5
    harness.report(2, cum_qty=5, order_px=1_000_100)
    assert (harness.state["ask_id"], harness.state["ask_px"], harness.state["ask_cum"]) == (0, 0, 0)
    assert harness.state["bid_id"] == 1
    # short 5: r = 10000 + 5*0.162 = 10000.81; bid = floor(10000.08) = 10000 (inside),
    # ask = ceil(10001.54) = 10002
    sent = harness.quote()
    assert sent == [(K_REPLACE, 1, 0, 5, 1_000_000, 0), (K_PLACE, 3, -1, 5, 1_000_200, 0)]


def test_on_timer_when_no_quote_yet_then_nothing(harness):
    harness.ctx.top[:] = (MID - TICK, MID + TICK)
    assert harness.timer() == []
