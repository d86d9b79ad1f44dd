"""numpy record dtypes and layout descriptors of every shm region.

This package imports nothing else of tickpipe. Each module describes one region:
its dtype, an offset table in the docstring, named offset constants and a
check_* function. Everything here is asserted at import.
"""

import hashlib

from tickpipe.shm_layouts.book import BOOK_DTYPE
from tickpipe.shm_layouts.depth import DEPTH_DTYPE
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
from tickpipe.shm_layouts.fill import FILL_DTYPE
from tickpipe.shm_layouts.histogram import HISTOGRAM_DTYPE
from tickpipe.shm_layouts.instrument import INSTRUMENT_DTYPE
from tickpipe.shm_layouts.layout_rules import describe
from tickpipe.shm_layouts.commit_log import COMMIT_LOG_DTYPE
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.open_order import OPEN_ORDER_DTYPE
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import ORDER_INTENT_DTYPE
from tickpipe.shm_layouts.ring_directory import RING_DIRECTORY_DTYPE
from tickpipe.shm_layouts.ring_header import RING_HEADER_DTYPE
from tickpipe.shm_layouts.segment_header import SEGMENT_HEADER_DTYPE
from tickpipe.shm_layouts.strategy_errors import STRATEGY_ERRORS_DTYPE
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
from tickpipe.shm_layouts.strategy_table import STRATEGY_ROW_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE

# Bump when a layout changes meaning without changing shape (the hash catches shape).
LAYOUT_VERSION = 9  # 2: each ring record publishes itself; 3: commit logs; 4: plug-ins,
# several strategies; 5: orders that rest (requests, 128-byte reports, order tables);
# 6: rings gated by the journal (ring header `gated`, `gate`); 7: 12 worker rows (declared
# roles from row 7: the journal, the live source); 8: the L2 book (section "depth"); 9: the
# rings in the roles' declaration order (risk's reports in input slot 0, the gateway's
# to risk in output slot 0: workers/<role>/role.py)

# Every dtype that lives in shared memory, listed here (not registered by the
# modules as they load), so every process computes the same hash whatever it
# imported. Two builds that disagree on any offset refuse to attach.
SHM_DTYPES = {
    "segment_header": SEGMENT_HEADER_DTYPE,
    "commit_log": COMMIT_LOG_DTYPE,
    "ring_header": RING_HEADER_DTYPE,
    "ring_directory_row": RING_DIRECTORY_DTYPE,
    "control": CONTROL_DTYPE,
    "worker_row": WORKER_DTYPE,
    "histogram": HISTOGRAM_DTYPE,
    "book_row": BOOK_DTYPE,
    "depth_row": DEPTH_DTYPE,
    "symbol_stats": SYMBOL_STATS_DTYPE,
    "market_data": MARKET_DATA_DTYPE,
    "order_intent": ORDER_INTENT_DTYPE,
    "order": ORDER_DTYPE,
    "fill": FILL_DTYPE,
    "instrument": INSTRUMENT_DTYPE,
    "strategy_row": STRATEGY_ROW_DTYPE,
    "strategy_position": STRATEGY_POSITION_DTYPE,
    "strategy_errors": STRATEGY_ERRORS_DTYPE,
    "open_order": OPEN_ORDER_DTYPE,
}


# Earlier layouts whose journaled records (market data, requests, orders, reports) are
# this build's, byte for byte: a journal one of them wrote reads as ours. 9 moved the
# rings' order and gave the control block a simulated clock; no record changed.
JOURNAL_READABLE_LAYOUTS = {0xbe8b156333d08ab1: 8}


def journal_readable(hash_value: int) -> bool:
    """Whether a journal written by the build of this layout hash reads here."""
    return int(hash_value) == layout_hash() or int(hash_value) in JOURNAL_READABLE_LAYOUTS


def layout_hash() -> int:
    """64-bit hash of LAYOUT_VERSION and every registered dtype's layout."""
    text = f"v{LAYOUT_VERSION}|" + "|".join(
        f"{name}={describe(SHM_DTYPES[name])}" for name in sorted(SHM_DTYPES))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
