"""Control block: the engine's state, its stop flags and the trading state (kill switch).

offset | size | field          | unit / value   | written by            | read by        | ordering
-------+------+----------------+----------------+-----------------------+----------------+-----------
     0 |    4 | engine_state   | ENGINE_*       | supervisor            | tools          | release
     4 |    4 | trading_state  | TRADING_*      | supervisor, operator  | risk           | release
     8 |    4 | feed_go        | 0/1            | supervisor            | feed           | release: the start barrier
    12 |    4 | stop_feed      | 0/1            | supervisor            | feed           | release
    16 |    4 | stop_all       | 0/1            | supervisor            | all workers    | release
    20 |    4 | n_symbols      | count          | supervisor            | workers, tools |
    24 |    8 | feed_started_ns| ns, monotonic  | supervisor            | tools          | at the start barrier
    32 |    8 | rate           | ticks/s, 0=max | supervisor            | feed, tools    |
    40 |    8 | started_unix_ns| ns, realtime   | supervisor            | tools          |
    48 |    4 | n_workers      | count          | supervisor            | tools          |
    52 |    4 | n_rings        | count          | supervisor            | tools          |
    56 |    8 | trading_state_changes | count   | supervisor, operator  | tools          |
    64 |   16 | retired[4]     | 0/1 per strategy| supervisor           | feed, gateway  | release: given up,
       |      |                |                |                       |                | its rings no longer fed
    80 |    4 | closing        | 0/1            | supervisor            | risk, gateway  | release: the engine is
       |      |                |                |                       |                | stopping: as HALTED
    84 |    4 | _reserved0     |                |                       |                | zero
    88 |    8 | sim_clock_ns   | ns, simulated  | backtest driver       | every worker   | 0: the monotonic clock;
       |      |                |                |                       |                | else the time it is now
       |      |                |                |                       |                | (engine/clock.py)
    96 |   32 | _reserved      |                |                       |                | zero
   128 |      | (end)          |                |                       |                |

Trading states after nautilus_trader: ACTIVE (all orders), REDUCING (only
orders that reduce a position), HALTED (no orders).
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout

ENGINE_INIT = 0
ENGINE_STARTING = 1
ENGINE_WARMING = 2
ENGINE_RUNNING = 3
ENGINE_DRAINING = 4
ENGINE_STOPPED = 5
ENGINE_FAILED = 6
ENGINE_DRAIN_TIMED_OUT = 7  # stopped, but records were left in rings when the drain ran out
ENGINE_INCONSISTENT = 8     # stopped, but its books do not add up (engine/book_checks.py)
ENGINE_STATE_NAMES = {ENGINE_INIT: "init", ENGINE_STARTING: "starting", ENGINE_WARMING: "warming",
                      ENGINE_RUNNING: "running", ENGINE_DRAINING: "draining",
                      ENGINE_STOPPED: "stopped", ENGINE_FAILED: "failed",
                      ENGINE_DRAIN_TIMED_OUT: "drain-timed-out",
                      ENGINE_INCONSISTENT: "inconsistent"}

TRADING_ACTIVE = 1
TRADING_REDUCING = 2
TRADING_HALTED = 3
TRADING_STATE_NAMES = {TRADING_ACTIVE: "ACTIVE", TRADING_REDUCING: "REDUCING", TRADING_HALTED: "HALTED"}
TRADING_STATE_CODES = {name: code for code, name in TRADING_STATE_NAMES.items()}

# Pre-trade risk reject reasons (risk worker counters[RISK_REJECT_BASE + reason]).
REJECT_HALTED = 0
REJECT_REDUCING = 1
REJECT_MAX_QTY = 2
REJECT_MAX_NOTIONAL = 3
REJECT_PRICE_BAND = 4
REJECT_POSITION_LIMIT = 5
REJECT_RATE_LIMIT = 6
REJECT_NO_MARKET = 7
REJECT_STRATEGY_POSITION_LIMIT = 8  # the strategy's own limit ([[strategy]] max_position)
REJECT_MAX_OPEN_ORDERS = 9          # working orders of the symbol ([risk] max_open_orders)
REJECT_GROSS_EXPOSURE = 10          # sum |position x mid| + open orders, [risk] max_gross_exposure
REJECT_DAILY_LOSS = 11              # running P&L (realised + marked - fees) below -max_daily_loss
REJECT_DRAWDOWN = 12                # running P&L this far below its peak ([risk] max_drawdown)
REJECT_DUPLICATE = 13               # same side, price, qty within [risk] duplicate_window_ms
REJECT_CLOSING = 14                 # the engine is stopping (closing): no new orders
REJECT_OFF_TICK = 15                # limit price not a multiple of the instrument's tick_size
REJECT_BAD_QTY = 16                 # qty <= 0 (quantities are whole lots: the lot grid)
REJECT_NAMES = {REJECT_HALTED: "halted", REJECT_REDUCING: "reducing_only",
                REJECT_MAX_QTY: "max_qty", REJECT_MAX_NOTIONAL: "max_notional",
                REJECT_PRICE_BAND: "price_band", REJECT_POSITION_LIMIT: "position_limit",
                REJECT_RATE_LIMIT: "rate_limit", REJECT_NO_MARKET: "no_market",
                REJECT_STRATEGY_POSITION_LIMIT: "strategy_position_limit",
                REJECT_MAX_OPEN_ORDERS: "max_open_orders", REJECT_GROSS_EXPOSURE: "gross_exposure",
                REJECT_DAILY_LOSS: "daily_loss", REJECT_DRAWDOWN: "drawdown",
                REJECT_DUPLICATE: "duplicate_order", REJECT_CLOSING: "engine_stopping",
                REJECT_OFF_TICK: "off_tick", REJECT_BAD_QTY: "bad_qty"}

CONTROL_DTYPE = np.dtype(
    [
        ("engine_state", np.uint32), ("trading_state", np.uint32), ("feed_go", np.uint32),
        ("stop_feed", np.uint32), ("stop_all", np.uint32), ("n_symbols", np.uint32),
        ("feed_started_ns", np.int64), ("rate", np.uint64), ("started_unix_ns", np.int64),
        ("n_workers", np.uint32), ("n_rings", np.uint32), ("trading_state_changes", np.uint64),
        ("retired", np.uint32, (4,)), ("closing", np.uint32), ("_reserved0", np.uint32),
        ("sim_clock_ns", np.int64), ("_reserved", np.uint8, (32,)),
    ],
    align=True,
)
CONTROL_OFFSETS = {
    "engine_state": 0, "trading_state": 4, "feed_go": 8, "stop_feed": 12, "stop_all": 16,
    "n_symbols": 20, "feed_started_ns": 24, "rate": 32, "started_unix_ns": 40, "n_workers": 48,
    "n_rings": 52, "trading_state_changes": 56, "retired": 64, "closing": 80, "_reserved0": 84,
    "sim_clock_ns": 88, "_reserved": 96,
}
CONTROL_SIZE = 128
assert_layout(CONTROL_DTYPE, CONTROL_OFFSETS, CONTROL_SIZE)

ENGINE_STATE_OFFSET = 0
TRADING_STATE_OFFSET = 4
FEED_GO_OFFSET = 8
STOP_FEED_OFFSET = 12
STOP_ALL_OFFSET = 16
TRADING_STATE_CHANGES_OFFSET = 56
RETIRED_OFFSET = 64  # + 4 k: strategy k was given up; the others trade on
CLOSING_OFFSET = 80  # the engine is stopping: risk refuses new orders, the venue cancels all
SIM_CLOCK_OFFSET = 88  # a backtest's time (engine/clock.py); 0 in a live engine


def check_trading_state(name: str) -> int:
    """The code of a trading state name; ValueError naming the bad value otherwise."""
    try:
        return TRADING_STATE_CODES[name.upper()]
    except KeyError:
        raise ValueError(f"trading state {name!r} is not one of "
                         f"{', '.join(TRADING_STATE_CODES)}") from None
