"""Alpaca's market-data stream (quotes and trades) through alpaca-py, the `.[alpaca]`
extra: its StockDataStream owns the websocket, the msgpack framing, the subscription
and the reconnects (with its own backoff); this adapter hands what it receives to the
sink and says when the link comes and goes.

What alpaca-py does not expose is taken from its stream's two hooks, `_start_ws`
(connected and authenticated) and `close` (the socket gone): alpaca-py 0.x's internal
methods, so the `.[alpaca]` extra pins alpaca-py below 1.0. A refused login is final
(LoginRefused, engine/role.py FinalError: the engine stops, naming Alpaca's reason;
restarting into the same keys only delays the line the user needs); a lost
connection is a state, counted, and alpaca-py reconnects.

Its log (warnings with tracebacks on every reconnect) is kept out of the terminal:
the last line of it is the reason the disconnect line gives.
"""

import asyncio
import logging
import time

from tickpipe.engine.role import FinalError
from tickpipe.workers.live_source.adapter import LiveSource, credentials

STREAM_LOGGER = "alpaca.data.live.websocket"
STOP_WAIT_S = 2.0  # how long stop() waits for run() to have started the stream's loop


class LoginRefused(FinalError):
    """Its keys refused: the same keys would be refused again after a restart."""


class AlpacaSource(LiveSource):
    credential_env = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")
    default_url = "wss://stream.data.alpaca.markets/v2/iex"

    def __init__(self, settings, symbols, sink):
        super().__init__(settings, symbols, sink)
        from alpaca.data.live.stock import StockDataStream

        source = self
        secrets = credentials(type(self), settings)

        class Stream(StockDataStream):
            async def _start_ws(self):
                try:
                    await super()._start_ws()
                except ValueError as exc:  # "auth failed", "connected message not received"
                    if "auth" in str(exc):
                        source.refused = str(exc)
                        await self.stop_ws()
                    raise
                sink.connected()

            async def close(self):
                try:
                    await super().close()
                finally:
                    sink.disconnected(source.last_log or "the connection closed")

        self.refused: str | None = None
        self.last_log = ""
        self.stopping = False
        self.stream = Stream(secrets["key"], secrets["secret"], raw_data=True,
                             url_override=self.url)
        self.stream.subscribe_quotes(self._on_quote, *self.symbols)
        self.stream.subscribe_trades(self._on_trade, *self.symbols)
        self._quiet_log()

    async def _on_quote(self, q):
        self.sink.quote(q["S"], q["bp"], q["bs"], q["ap"], q["as"])

    async def _on_trade(self, t):
        self.sink.trade(t["S"], t["p"], t["s"])

    def run(self) -> None:
        if not self.stopping:
            self.stream.run()
        if self.refused is not None:
            raise LoginRefused(f"Alpaca refused the login at {self.url}: {self.refused}")

    def stop(self) -> None:
        """Stop the stream's loop and close its socket (a quiet stream would otherwise
        notice the stop only at its next 5 s receive timeout)."""
        self.stopping = True
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:  # run() may have just started its loop
            loop = self.stream._loop
            if loop is not None and loop.is_running():
                asyncio.run_coroutine_threadsafe(self.stream.stop_ws(), loop)
                asyncio.run_coroutine_threadsafe(self.stream.close(), loop)
                return
            time.sleep(0.01)

    def _quiet_log(self) -> None:
        source = self

        class LastLine(logging.Handler):
            def emit(self, record):
                source.last_log = record.getMessage().splitlines()[0][:200]

        logger = logging.getLogger(STREAM_LOGGER)
        logger.propagate = False
        logger.handlers[:] = [LastLine(logging.WARNING)]
        logger.setLevel(logging.WARNING)
