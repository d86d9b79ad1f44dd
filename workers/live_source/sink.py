"""Where an adapter puts what it receives: the engine's integer prices and lots, one
record at a time onto the live source's ring (the feed's input).

Prices: the venue's float prices x PRICE_SCALE, rounded to the price unit, then onto
the instrument's tick, always away from the other side (a bid down, an ask up, a
trade to the nearest): a strategy never sees a price it could not send; each price
moved is counted (`off_tick`). Sizes: x [live_source] qty_scale, rounded, at least
1 lot when the venue sent any. A quote with an empty or crossed side is skipped and
counted, as is a record of a symbol the engine does not trade: the engine's book
and the venue's queue model need two-sided quotes.

A trade's side is the aggressor's where the venue says it, else inferred from the
symbol's last quote (at or above its ask: a buy; at or below its bid: a sell), and a
trade carries that quote, as the synthetic feed's do.

One thread at a time may call it (the ring has one producer). When the ring is full
the call waits for the feed, counting `held`; it never drops a record. It returns
False only when the engine is stopping and the record could not be put on the ring.
"""

import math
import time

import numpy as np

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.ring import H_POSITION, RingProducer
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET, STOP_FEED_OFFSET
from tickpipe.shm_layouts.market_data import (
    MARKET_DATA_DTYPE, MD_KIND_QUOTE, MD_KIND_TRADE, PRICE_SCALE,
)
from tickpipe.shm_layouts.worker_table import W_COUNTERS
from tickpipe.workers.live_source.role import (
    LIVE_CONNECTED, LIVE_CONNECTS, LIVE_DISCONNECTS, LIVE_HELD, LIVE_OFF_TICK, LIVE_QUOTES,
    LIVE_RECORDS, LIVE_SKIPPED, LIVE_TRADES, LIVE_UNKNOWN_SYMBOL,
)

FULL_WAIT_S = 0.0002  # between two looks at a full ring
MAX_LOTS = (1 << 31) - 1


class RingSink:
    def __init__(self, segment, section: str, row_words, control_address: int,
                 instruments: list[dict], qty_scale: float, say=print):
        self.ring = RingProducer(segment, section, MARKET_DATA_DTYPE)
        self.words = row_words
        self.control = control_address
        self.ids = {entry["name"]: k for k, entry in enumerate(instruments)}
        self.ticks = [int(entry["tick_size"]) for entry in instruments]
        self.qty_scale = qty_scale
        self.say = say
        self.last_quote = [None] * len(instruments)  # (bid_px, ask_px, bid_qty, ask_qty)
        self.record = np.zeros(1, dtype=MARKET_DATA_DTYPE)
        # every record ever put on the ring: its head (exact across restarts)
        self._count(LIVE_RECORDS, int(self.ring.handle[H_POSITION]) - self._get(LIVE_RECORDS))

    # ---- what an adapter calls ------------------------------------------------------
    def quote(self, symbol: str, bid_px: float, bid_size: float, ask_px: float,
              ask_size: float) -> bool:
        k = self._symbol(symbol)
        if k is None:
            return True
        if not (bid_px > 0 and ask_px > 0 and bid_size > 0 and ask_size > 0):
            self._count(LIVE_SKIPPED)  # an empty side: nothing to quote against
            return True
        tick = self.ticks[k]
        bid = self._on_tick(bid_px, tick, math.floor)
        ask = self._on_tick(ask_px, tick, math.ceil)
        if bid >= ask:
            self._count(LIVE_SKIPPED)  # crossed (or locked) on the tick grid
            return True
        bid_qty, ask_qty = self._lots(bid_size), self._lots(ask_size)
        self.last_quote[k] = (bid, ask, bid_qty, ask_qty)
        r = self.record[0]
        r["kind"], r["aggressor_side"], r["trade_qty"], r["trade_px"] = MD_KIND_QUOTE, 0, 0, 0
        r["bid_px"], r["ask_px"], r["bid_qty"], r["ask_qty"] = bid, ask, bid_qty, ask_qty
        return self._put(k, LIVE_QUOTES)

    def trade(self, symbol: str, px: float, size: float, aggressor_side: int = 0) -> bool:
        k = self._symbol(symbol)
        if k is None:
            return True
        quote = self.last_quote[k]
        if quote is None or not (px > 0 and size > 0):
            self._count(LIVE_SKIPPED)  # no quote yet to carry, or nothing traded
            return True
        price = self._on_tick(px, self.ticks[k], round)
        bid, ask, bid_qty, ask_qty = quote
        if aggressor_side == 0:
            aggressor_side = 1 if price >= ask else -1 if price <= bid else 0
        r = self.record[0]
        r["kind"], r["aggressor_side"], r["trade_qty"] = MD_KIND_TRADE, aggressor_side, \
            self._lots(size)
        r["trade_px"], r["bid_px"], r["ask_px"] = price, bid, ask
        r["bid_qty"], r["ask_qty"] = bid_qty, ask_qty
        return self._put(k, LIVE_TRADES)

    def connected(self) -> None:
        self._count(LIVE_CONNECTS)
        self._set(LIVE_CONNECTED, 1)

    def disconnected(self, reason: str) -> None:
        """The link is down (a no-op when it was not up): counted and said once, unless
        the engine is stopping."""
        if not self._get(LIVE_CONNECTED):
            return
        self._set(LIVE_CONNECTED, 0)
        if self.stopping:
            return  # the engine's own stop, not a lost link
        self._count(LIVE_DISCONNECTS)
        self.say(f"live source: disconnected ({reason}); reconnecting")

    @property
    def stopping(self) -> bool:
        return bool(lib.tp_load_acquire_u32(self.control + STOP_FEED_OFFSET)
                    or lib.tp_load_acquire_u32(self.control + STOP_ALL_OFFSET))

    # ---- the engine's side --------------------------------------------------------
    def _symbol(self, symbol: str):
        k = self.ids.get(symbol)
        if k is None:
            self._count(LIVE_UNKNOWN_SYMBOL)
        return k

    def _on_tick(self, price: float, tick: int, direction) -> int:
        units = round(price * PRICE_SCALE)
        on_tick = int(direction(units / tick)) * tick
        if on_tick != units:
            self._count(LIVE_OFF_TICK)
        return on_tick

    def _lots(self, size: float) -> int:
        return min(MAX_LOTS, max(1, round(size * self.qty_scale)))

    def _put(self, k: int, counter: int) -> bool:
        """The record, stamped now, on the ring: waits while it is full (held)."""
        r = self.record[0]
        r["symbol_id"] = k
        r["origin_ns"] = r["publish_ns"] = lib.tp_monotonic_ns()
        held = False
        while not self.ring.try_push(self.record):
            if self.stopping:
                return False
            if not held:
                held = True
                self._count(LIVE_HELD)
            time.sleep(FULL_WAIT_S)
        self._count(counter)
        self._count(LIVE_RECORDS)
        return True

    def _get(self, slot: int) -> int:
        return int(self.words[W_COUNTERS + slot])

    def _set(self, slot: int, value: int) -> None:
        self.words[W_COUNTERS + slot] = value

    def _count(self, slot: int, delta: int = 1) -> None:
        self.words[W_COUNTERS + slot] += delta
