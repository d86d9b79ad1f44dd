"""The live source's declaration (engine/role.py): market data from outside, on its own
ring into the feed, which fans it out as it does a replayed file's."""

from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role, RoleRing

# counters[32] of its worker row
(LIVE_RECORDS, LIVE_QUOTES, LIVE_TRADES, LIVE_SKIPPED, LIVE_UNKNOWN_SYMBOL, LIVE_OFF_TICK,
 LIVE_HELD, LIVE_CONNECTS, LIVE_DISCONNECTS, LIVE_CONNECTED) = range(10)

ROLE = Role(
    name="live_source",
    role_id=6,
    rows=(8,),  # after the journal's
    agent="tickpipe.workers.live_source.agent",
    summary="puts a live market-data stream (an adapter: Alpaca, or a user's) on the "
            "feed's input ring",
    counters={"records": LIVE_RECORDS, "quotes": LIVE_QUOTES, "trades": LIVE_TRADES,
              "skipped": LIVE_SKIPPED, "unknown_symbol": LIVE_UNKNOWN_SYMBOL,
              "off_tick": LIVE_OFF_TICK, "held": LIVE_HELD, "connects": LIVE_CONNECTS,
              "disconnects": LIVE_DISCONNECTS, "connected": LIVE_CONNECTED},
    config={
        "adapter": Field(str, "alpaca", "where the data comes from: 'alpaca', or a user's "
                         "adapter as 'module:Class' or 'path/to/file.py:Class' (docs/live.md)",
                         path="reference"),
        "url": Field(str, "", "the stream's address; empty = the adapter's default (alpaca: "
                     "wss://stream.data.alpaca.markets/v2/iex)"),
        "credentials": Field(str, "", "a TOML file (mode 0600) with key and secret; empty = "
                             "the environment (alpaca: APCA_API_KEY_ID, APCA_API_SECRET_KEY)",
                             path="file"),
        "qty_scale": Field(float, 1.0, "lots = a size received x this, rounded (at least 1)",
                           minimum=1e-9, maximum=1e12),
    },
    enabled=lambda config: config["feed"]["source"] == "live",
    background=True,
    rings=(RoleRing("live_in", "live_source", "feed", "market_data", 0),),
    report="tickpipe.workers.live_source.sections:report_sections",
    inspect="tickpipe.workers.live_source.sections:inspect_sections",
    prepare="tickpipe.workers.live_source.adapter:prepare",
)
