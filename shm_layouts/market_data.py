"""Market-data event: a quote or a trade, written by the feed, read by the strategy.

One record type for both, told apart by `kind`, so the feed's ring carries one
dtype and the strategy's jitted loop reads one struct.

offset | size | field          | unit           | written by | read by  | notes
-------+------+----------------+----------------+------------+----------+---------------------------
     0 |    8 | seq            | count          | feed       | strategy | 1, 2, 3 ... per feed run
     8 |    8 | origin_ns      | ns, monotonic  | feed       | all      | when the tick was made
    16 |    8 | publish_ns     | ns, monotonic  | feed       | strategy | just before the ring publish
    24 |    2 | symbol_id      | index          | feed       | strategy | 0 .. n_symbols-1
    26 |    1 | kind           | MD_KIND_*      | feed       | strategy | quote or trade (tapes: depth)
    27 |    1 | aggressor_side | +1 buy/-1 sell | feed       | strategy | trades only, else 0
    28 |    4 | trade_qty      | lots           | feed       | strategy | trades only, else 0
    32 |    8 | bid_px         | price units    | feed       | strategy | fixed point, PRICE_SCALE
    40 |    8 | ask_px         | price units    | feed       | strategy |
    48 |    8 | trade_px       | price units    | feed       | strategy | trades only, else 0
    56 |    4 | bid_qty        | lots           | feed       | strategy |
    60 |    4 | ask_qty        | lots           | feed       | strategy |

Ordering: the whole record is written before the ring's release-publish of its
sequence; nothing in it is written after (see engine/ring.py).
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

# Prices are fixed-point int64: 1.0 currency unit = PRICE_SCALE price units.
PRICE_SCALE = 10_000

MD_KIND_QUOTE = 1
MD_KIND_TRADE = 2
# A tape's depth row (workers/feed/sources/tape.py): kind MD_KIND_DEPTH + level, level
# 1 .. [feed] depth - 1, its bid_px/bid_qty/ask_px/ask_qty that level of the book after
# the event (0 = the side has no such level). The feed writes it into the segment's
# depth table (engine/depth.py) and sends it on no ring: a ring carries only quotes
# (level 0, the top) and trades.
MD_KIND_DEPTH = 16
MAX_DEPTH_LEVELS = 10

MARKET_DATA_DTYPE = np.dtype(
    [
        ("seq", np.uint64),
        ("origin_ns", np.int64),
        ("publish_ns", np.int64),
        ("symbol_id", np.uint16),
        ("kind", np.uint8),
        ("aggressor_side", np.int8),
        ("trade_qty", np.int32),
        ("bid_px", np.int64),
        ("ask_px", np.int64),
        ("trade_px", np.int64),
        ("bid_qty", np.int32),
        ("ask_qty", np.int32),
    ],
    align=True,
)

MD_OFFSETS = {
    "seq": 0, "origin_ns": 8, "publish_ns": 16, "symbol_id": 24, "kind": 26,
    "aggressor_side": 27, "trade_qty": 28, "bid_px": 32, "ask_px": 40,
    "trade_px": 48, "bid_qty": 56, "ask_qty": 60,
}
MD_SIZE = 64
assert_layout(MARKET_DATA_DTYPE, MD_OFFSETS, MD_SIZE)


def check_market_data(record) -> None:
    """Raise ValueError naming the bad value if a quote/trade is malformed."""
    kind = int(record["kind"])
    if kind not in (MD_KIND_QUOTE, MD_KIND_TRADE):
        raise ValueError(f"market data kind {kind} is neither quote (1) nor trade (2)")
    if kind == MD_KIND_QUOTE and int(record["bid_px"]) >= int(record["ask_px"]):
        raise ValueError(f"crossed quote: bid_px {int(record['bid_px'])} >= ask_px {int(record['ask_px'])}")
