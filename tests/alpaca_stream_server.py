"""A loopback stand-in for Alpaca's market-data stream, speaking its documented protocol
(https://docs.alpaca.markets/docs/streaming-market-data) with msgpack frames, as
alpaca-py asks for: on connect `[{"T": "success", "msg": "connected"}]`; an `auth`
action answered `authenticated` or an error 402 `auth failed`; a `subscribe` action
answered with a `subscription` message; then the script's quotes (T "q": S, bx, bp,
bs, ax, ap, as, t, c, z) and trades (T "t": S, i, x, p, s, t, c, z), in batches.

`drop_after`: the first connection is closed by the server after that many messages
of the script (a disconnect); the next connection gets the rest, so a client that
reconnects ends with every message exactly once. The server runs in a thread of its
own with its own event loop; `port` is where it listens.
"""

import asyncio
import threading
import time

import msgpack
from websockets.asyncio.server import serve

KEY, SECRET = "test-key", "test-secret"


def quote(symbol: str, bid: float, bid_size: int, ask: float, ask_size: int) -> dict:
    return {"T": "q", "S": symbol, "bx": "V", "bp": bid, "bs": bid_size, "ax": "V",
            "ap": ask, "as": ask_size, "t": msgpack.Timestamp.from_unix_nano(time.time_ns()),
            "c": ["R"], "z": "C"}


def trade(symbol: str, price: float, size: int, trade_id: int) -> dict:
    return {"T": "t", "S": symbol, "i": trade_id, "x": "V", "p": price, "s": size,
            "t": msgpack.Timestamp.from_unix_nano(time.time_ns()), "c": ["@"], "z": "C"}


class StreamServer:
    def __init__(self, script: list[dict], *, batch: int = 10, drop_after: int | None = None):
        self.script = script
        self.batch = batch
        self.drop_after = drop_after
        self.sent = 0              # messages of the script delivered so far
        self.connections = 0
        self.auth_failures = 0
        self.subscribed: list[dict] = []
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(30), "the stream server did not start"
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(30)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2/iex"

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._session, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    async def _session(self, ws):
        self.connections += 1
        await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await ws.recv())
        if auth.get("action") != "auth" or (auth.get("key"), auth.get("secret")) != (KEY, SECRET):
            self.auth_failures += 1
            await ws.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await ws.close()
            return
        await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        request = msgpack.unpackb(await ws.recv())
        assert request.get("action") == "subscribe", request
        self.subscribed.append(request)
        await ws.send(msgpack.packb([{"T": "subscription", "trades": request.get("trades", []),
                                      "quotes": request.get("quotes", []), "bars": [],
                                      "updatedBars": [], "dailyBars": [], "statuses": [],
                                      "lulds": [], "corrections": [], "cancelErrors": []}]))
        end = len(self.script)
        if self.drop_after is not None and self.connections == 1:
            end = min(end, self.drop_after)
        while self.sent < end:
            part = self.script[self.sent:min(end, self.sent + self.batch)]
            await ws.send(msgpack.packb(part))
            self.sent += len(part)
            await asyncio.sleep(0)
        if self.sent < len(self.script):
            await ws.close()  # the disconnect: the client reconnects for the rest
            return
        try:
            await ws.wait_closed()  # the client stops when it likes
        except Exception:
            pass
