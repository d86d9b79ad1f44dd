"""Pre-trade risk's declaration (engine/role.py)."""

from tickpipe.engine.config_bounds import (
    MAX_BAND_BPS, MAX_NOTIONAL_CCY, MAX_ORDERS_PER_S, MAX_POSITION, MAX_QTY,
)
from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role, RoleRing
from tickpipe.shm_layouts.control_block import TRADING_STATE_CODES
from tickpipe.shm_layouts.worker_table import (
    RISK_BOOK_UNREADABLE, RISK_FILLS_READ, RISK_INTENTS_READ, RISK_ORDERS_OUT, RISK_ORDERS_SENT,
)

ROLE = Role(
    name="risk",
    role_id=3,
    rows=(2,),
    agent="tickpipe.workers.risk.agent",
    summary="checks every strategy's requests before they reach the venue, and keeps the "
            "engine's positions and P&L from the venue's reports",
    counters={"intents_read": RISK_INTENTS_READ, "orders_sent": RISK_ORDERS_SENT,
              "fills_read": RISK_FILLS_READ, "book_unreadable": RISK_BOOK_UNREADABLE,
              "orders_out": RISK_ORDERS_OUT},
    config={
    "trading_state": Field(str, "ACTIVE", "initial trading state",
                           choices=tuple(TRADING_STATE_CODES)),
    "max_order_qty": Field(int, 100, "largest order, lots", minimum=1, maximum=MAX_QTY),
    "max_notional": Field(float, 100_000.0, "largest order value in the instrument's "
                          "currency (lots x lot_size x multiplier x price)", minimum=0.0001,
                          maximum=MAX_NOTIONAL_CCY),
    "price_band_bps": Field(int, 500, "fat finger: limit within this of the mid, bps",
                            minimum=0, maximum=MAX_BAND_BPS),
    "max_position": Field(int, 200, "largest absolute position incl. open orders, lots",
                          minimum=0, maximum=MAX_POSITION),
    "max_orders_per_s": Field(int, 50_000, "orders per rolling second", minimum=1,
                              maximum=MAX_ORDERS_PER_S),
    "max_open_orders": Field(int, 100, "working orders per symbol, all strategies",
                             minimum=1, maximum=1_000_000),
    "max_gross_exposure": Field(float, 0.0, "sum of |position x mid| and open orders, "
                                "currency; 0 = no limit", minimum=0.0,
                                maximum=MAX_NOTIONAL_CCY),
    "max_daily_loss": Field(float, 0.0, "new orders stop when the running P&L (realised + "
                            "marked to the mids - fees) falls this far below 0, currency; "
                            "0 = no limit", minimum=0.0, maximum=MAX_NOTIONAL_CCY),
    "max_drawdown": Field(float, 0.0, "... or this far below its peak, currency; 0 = no limit",
                          minimum=0.0, maximum=MAX_NOTIONAL_CCY),
    "duplicate_window_ms": Field(float, 0.0, "refuse an order with the side, price and qty "
                                 "of the strategy's last one for the symbol within this; "
                                 "0 = off", minimum=0.0, maximum=3_600_000.0),
    "fee_bps": Field(float, 0.0, "fees on each fill's value, bps (for P&L)", minimum=0.0,
                     maximum=10_000.0),
    },
    # its inputs: the reports (fills_risk, the gateway's) in slot 0, strategy k's
    # requests in slot 1 + k (workers/strategy/role.py)
    rings=(RoleRing("orders", "risk", "gateway", "order", 0),),
    counts="tickpipe.workers.risk.sections:counts",
    inspect="tickpipe.workers.risk.sections:inspect_sections",
)
