"""The feed's declaration (engine/role.py): the pipeline's source."""

from tickpipe.engine.config_bounds import (
    MAX_EVERY, MAX_PRICE, MAX_QTY, MAX_SEED, MAX_SYMBOLS,
)
from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role, RoleRing
from tickpipe.shm_layouts.market_data import MAX_DEPTH_LEVELS, PRICE_SCALE
from tickpipe.shm_layouts.worker_table import FEED_DEPTH_ROWS, FEED_TICKS, FEED_TRADES

ROLE = Role(
    name="feed",
    role_id=1,
    rows=(0,),
    agent="tickpipe.workers.feed.agent",
    summary="quotes and trades for every symbol: a synthetic walk, a data file replayed, "
            "or a live source's ring",
    counters={"ticks": FEED_TICKS, "trades": FEED_TRADES, "depth_rows": FEED_DEPTH_ROWS},
    config={
    "symbols": Field(int, 8, "number of synthetic symbols", minimum=1, maximum=MAX_SYMBOLS),
    "start_px": Field(int, 100 * PRICE_SCALE, "first mid, price units", minimum=1,
                      maximum=MAX_PRICE),
    "tick_size": Field(int, PRICE_SCALE // 100, "price increment, price units", minimum=1,
                       maximum=MAX_PRICE),
    "spread_ticks": Field(int, 1, "quoted spread, ticks", minimum=1, maximum=MAX_PRICE),
    "max_qty": Field(int, 500, "largest quoted size, lots", minimum=1, maximum=MAX_QTY),
    "trade_every": Field(int, 10, "one trade event every N ticks; 0 = none", minimum=0,
                         maximum=MAX_EVERY),
    "seed": Field(int, 42, "random seed", minimum=0, maximum=MAX_SEED),
    "source": Field(str, "synthetic", "where the ticks come from: the synthetic walk, "
                    "a data file replayed (docs/data.md), a live stream ([live_source], "
                    "docs/live.md), or another engine's feed over a bridge ([[bridge]] "
                    "direction = 'in', docs/bridges.md)",
                    choices=("synthetic", "file", "live", "bridge")),
    "file": Field(str, "", "source = 'file': the data file (relative to the config file; "
                  "`tickpipe run --data FILE` sets both)", path="file"),
    "format": Field(str, "auto", "the data file's format; auto = by its name (.csv, "
                    ".parquet, .npz/.npy, .dbn/.dbn.zst, a journal's folder)",
                    choices=("auto", "csv", "parquet", "hftbacktest", "dbn", "journal")),
    "speed": Field(float, 1.0, "replay pace: 1 = as recorded, 10 = ten times faster, "
                   "0 = flat out", minimum=0.0, maximum=1_000_000.0),
    "instrument": Field(str, "", "hftbacktest files: the instrument the file is (default: "
                        "its name up to the first dot)"),
    "qty_scale": Field(float, 1.0, "hftbacktest files: lots = qty x this, rounded",
                       minimum=1e-9, maximum=1e12),
    "reorder": Field(bool, False, "a data file whose times go back: sort it (stable) "
                     "instead of refusing it"),
    "depth": Field(int, 1, "levels of each symbol's book the engine keeps (1 = the top "
                   "only; docs/data.md, 'Depth'): data with depth fills them (MBP-10, "
                   "hftbacktest depth events), the synthetic walk quotes them a tick apart",
                   minimum=1, maximum=MAX_DEPTH_LEVELS),
    },
    source=True,
    # its outputs in this order (workers/feed/agent.py): every strategy's quotes, then
    # the venue's copy of every tick (the simulated venue fills resting orders on it)
    rings=(RoleRing("quotes{n}", "feed", "strategy{n}", "market_data", 0),
           RoleRing("md_venue", "feed", "gateway", "market_data", 1)),
    counts="tickpipe.workers.feed.sections:counts",
    inspect="tickpipe.workers.feed.sections:inspect_sections",
    prepare="tickpipe.workers.feed.sections:prepare",
)
