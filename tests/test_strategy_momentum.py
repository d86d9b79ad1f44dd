"""The momentum breakout strategy (workers/strategies/momentum.py): its callbacks run in
this process on a private context, as the runner calls them, and the intents they write
are read back from the context's intents ring."""

import numpy as np
import pytest

from tickpipe.engine.plugin import StrategyError, load_plugin
from tickpipe.engine.ring import H_MASK, H_POSITION
from tickpipe.engine.runner_gen import compile_strategy, sample_context
from tickpipe.engine.strategy_api import BUY, IOC, MAX_ORDERS_PER_EVENT, SELL
from tickpipe.engine.strategy_context import E_NOW_NS, E_ROOM, E_SENT, E_WRITTEN
from tickpipe.engine.strategy_events import begin_event, sync_state
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE, MD_KIND_TRADE
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
from tickpipe.workers.strategies import momentum

MODULE = "tickpipe.workers.strategies.momentum"
N_SYMBOLS = 4
INTENTS = 16
NOW_NS = 10**12
SPREAD = 2


class Harness:
    """A strategy's context over private arrays; quote() and trade() call the callbacks
    for one symbol after begin_event on its mirror row, then store what changed into the
    state rows (sync_state), as the runner does at the end of a batch."""

    def __init__(self, **params):
        self.plugin = load_plugin({"name": "m", "module": MODULE, "params": params})
        ctx, self.mirror, self.params, self._control = sample_context(
            N_SYMBOLS, self.plugin.state_dtype, self.plugin.params_dtype)
        for key, value in self.plugin.params.items():
            self.params[0][key] = value
        out = ctx.out.copy()
        out[H_MASK] = INTENTS - 1
        out[H_POSITION] = 0
        self.ctx = ctx._replace(intents=np.zeros(INTENTS, ORDER_INTENT_DTYPE), out=out)
        event = self.ctx.event
        event[E_NOW_NS] = NOW_NS
        event[E_ROOM] = INTENTS
        event[E_WRITTEN] = 0
        assert INTENTS >= MAX_ORDERS_PER_EVENT

    def _call(self, callback, symbol, record):
        begin_event(self.ctx, symbol, NOW_NS, 0, 0)
        callback(self.ctx, self.mirror[symbol], self.params[0], record)
        sync_state(self.ctx)

    def quote(self, bid, ask=None, symbol=0):
        record = np.zeros(1, MARKET_DATA_DTYPE)[0]
        record["kind"], record["symbol_id"] = MD_KIND_QUOTE, symbol
        record["bid_px"], record["ask_px"] = bid, bid + SPREAD if ask is None else ask
        record["bid_qty"] = record["ask_qty"] = 100
        self._call(momentum.on_quote, symbol, record)

    def quotes(self, bids, symbol=0):
        for bid in bids:
            self.quote(bid, symbol=symbol)

    def trade(self, qty, side, symbol=0, px=1000):
        record = np.zeros(1, MARKET_DATA_DTYPE)[0]
        record["kind"], record["symbol_id"] = MD_KIND_TRADE, symbol
        record["trade_qty"], record["aggressor_side"], record["trade_px"] = qty, side, px
        self._call(momentum.on_trade, symbol, record)

    def orders(self):
        """(symbol, side, qty, limit_px, order_type) of each intent written so far."""
        return [(int(i["symbol_id"]), int(i["side"]), int(i["qty"]), int(i["limit_px"]),
                 int(i["order_type"]))
                for i in self.ctx.intents[:self.ctx.event[E_WRITTEN]]]

    def state(self, symbol=0):
        return self.ctx.state_words[symbol].view(self.plugin.state_dtype)[0]

    def set_positions(self, symbol=0, **fields):
        for key, value in fields.items():
            self.ctx.positions[key][symbol] = value

    def order_done(self, symbol=0):
        """The engine's bookkeeping of a final report: no order in flight."""
        self.set_positions(symbol, in_flight=0)


@pytest.fixture
def harness():
    return Harness()


RISING = [1000, 1001, 1002, 1003, 1004]   # 4 rises from the first mid
FALLING = [1000, 999, 998, 997, 996]


def test_quotes_when_mids_rise_run_length_times_with_buyers_dominant_then_buys_at_the_ask(harness):
    harness.trade(40, +1)
    harness.trade(20, -1)
    harness.quotes(RISING[:-1])
    assert harness.orders() == []
    harness.quote(1004, 1006)
    assert harness.orders() == [(0, BUY, 10, 1006, IOC)]
    assert harness.ctx.event[E_SENT] == 1
    assert harness.ctx.positions["in_flight"][0] == 1


def test_quotes_when_mids_rise_without_trades_then_no_order(harness):
    harness.quotes(RISING + [1005, 1006])
    assert harness.orders() == []
    assert harness.state()["run"] == 6


def test_quotes_when_mids_rise_and_volume_is_too_small_then_no_order(harness):
    harness.trade(40, +1)
    harness.quotes(RISING)
    assert harness.orders() == []


def test_quotes_when_mids_rise_and_buyers_do_not_dominate_enough_then_no_order(harness):
    harness.trade(60, +1)
    harness.trade(50, -1)   # the buys decayed to 54 < 1.5 x 50
    harness.quotes(RISING)
    assert harness.orders() == []


def test_quotes_when_mids_fall_run_length_times_with_sellers_dominant_then_sells_at_bid(harness):
    harness.trade(100, -1)
    harness.quotes(FALLING)
    assert harness.orders() == [(0, SELL, 10, 996, IOC)]


def test_quotes_when_the_confirmation_arrives_later_in_the_run_then_buys_then(harness):
    harness.quotes(RISING + [1005])
    harness.trade(80, +1)
    assert harness.orders() == []
    harness.quote(1006)
    assert harness.orders() == [(0, BUY, 10, 1008, IOC)]


def test_quotes_when_the_mid_is_unchanged_then_the_run_neither_breaks_nor_grows(harness):
    harness.trade(100, +1)
    harness.quotes([1000, 1001, 1002, 1002, 1003])
    assert harness.state()["run"] == 3
    assert harness.orders() == []
    harness.quote(1003, 1005)  # the same mid, another quote
    harness.quote(1004)
    assert harness.orders() == [(0, BUY, 10, 1006, IOC)]


def test_quotes_when_the_mid_reverses_then_the_run_starts_again(harness):
    harness.trade(100, +1)
    harness.quotes([1000, 1001, 1002, 1003, 1002, 1003, 1004, 1005])
    assert harness.state()["run"] == 3
    assert harness.orders() == []


def test_quotes_when_an_order_was_sent_then_the_next_entry_needs_a_whole_new_run(harness):
    harness.trade(100, +1)
    harness.quotes(RISING)
    assert len(harness.orders()) == 1
    assert harness.state()["run"] == 0
    harness.order_done()
    harness.quotes([1005, 1006, 1007])
    assert len(harness.orders()) == 1
    harness.quote(1008)
    assert harness.orders()[1] == (0, BUY, 10, 1010, IOC)


def test_quotes_when_the_position_is_at_max_then_no_buy_but_sells_still_go(harness):
    harness.set_positions(position=100)
    harness.trade(100, +1)
    harness.quotes(RISING + [1005, 1006])
    assert harness.orders() == []
    harness.trade(300, -1)
    harness.quotes([1005, 1004, 1003, 1002])
    assert harness.orders() == [(0, SELL, 10, 1002, IOC)]


def test_quotes_when_the_position_is_at_minus_max_then_no_sell(harness):
    harness.set_positions(position=-100)
    harness.trade(100, -1)
    harness.quotes(FALLING)
    assert harness.orders() == []


def test_quotes_when_an_order_is_in_flight_then_no_second_entry(harness):
    harness.set_positions(in_flight=1)
    harness.trade(100, +1)
    harness.quotes(RISING + [1005])
    assert harness.orders() == []
    harness.order_done()
    harness.quote(1006)  # the run held on: the first quote after the report enters
    assert harness.orders() == [(0, BUY, 10, 1008, IOC)]


def test_quotes_when_own_order_is_in_flight_then_a_second_run_does_not_send(harness):
    harness.trade(100, +1)
    harness.quotes(RISING + [1005, 1006, 1007, 1008])
    assert len(harness.orders()) == 1


def test_quotes_when_symbols_interleave_then_each_has_its_own_run_and_volume():
    harness = Harness()
    harness.trade(100, +1, symbol=1)
    harness.trade(100, -1, symbol=2)
    for bid_up, bid_down in zip(RISING, FALLING):
        harness.quote(bid_up, symbol=1)
        harness.quote(bid_down, symbol=2)
        harness.quote(bid_up, symbol=3)   # rising, but no volume on symbol 3
    assert harness.orders() == [(1, BUY, 10, 1006, IOC), (2, SELL, 10, 996, IOC)]
    assert harness.state(3)["run"] == 4


def test_quotes_when_a_quote_is_one_sided_or_crossed_then_it_is_ignored(harness):
    harness.trade(100, +1)
    harness.quotes([1000, 1001, 1002])
    harness.quote(0, 1010)
    harness.quote(1010, 1005)
    assert harness.state()["run"] == 2
    assert harness.state()["last_mid"] == 1003.0
    harness.quotes([1003, 1004])
    assert harness.orders() == [(0, BUY, 10, 1006, IOC)]


def test_trades_when_they_accumulate_then_volume_decays_per_trade_by_side(harness):
    harness.trade(100, +1)
    harness.trade(50, -1)
    harness.trade(0, +1)     # no volume, still decays
    harness.trade(7, 0)      # no aggressor: counted on neither side
    assert harness.state()["buy_volume"] == pytest.approx(100 * 0.9 ** 3)
    assert harness.state()["sell_volume"] == pytest.approx(50 * 0.9 ** 2)


def test_trades_when_one_side_stops_trading_then_its_volume_decays_to_zero():
    harness = Harness(volume_decay=0.5)
    harness.trade(100, -1)
    for _ in range(40):
        harness.trade(1, +1)
    assert harness.state()["sell_volume"] == 0.0


def test_params_when_overridden_then_the_rule_uses_them():
    harness = Harness(run_length=2, min_volume=0, order_qty=3, volume_decay=0.0)
    harness.quotes([1000, 1001, 1002])
    assert harness.orders() == [(0, BUY, 3, 1004, IOC)]


def test_check_params_when_defaults_then_none():
    assert momentum.check_params(dict(momentum.PARAMS)) is None


@pytest.mark.parametrize("key, value", [
    ("run_length", 0), ("volume_ratio", 0.5), ("volume_ratio", float("nan")),
    ("min_volume", -1), ("volume_decay", 1.0), ("volume_decay", -0.1), ("order_qty", 0),
    ("max_position", -5),
])
def test_check_params_when_out_of_range_then_one_line_names_the_param(key, value):
    reason = momentum.check_params({**momentum.PARAMS, key: value})
    assert reason.startswith(f"param {key} = ") and "\n" not in reason
    with pytest.raises(StrategyError, match=f"param {key}"):
        load_plugin({"name": "m", "module": MODULE, "params": {key: value}})


def test_compile_strategy_when_the_module_is_loaded_as_a_plugin_then_its_callbacks_compile():
    plugin = load_plugin({"name": "m", "module": MODULE})
    assert plugin.state_dtype.itemsize == 64
    addresses = compile_strategy(plugin, 4)
    assert set(addresses) == {"on_quote", "on_trade"} and all(addresses.values())
