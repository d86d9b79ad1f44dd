"""The gateway's declaration (engine/role.py), with the simulated venue's [venue]."""

from tickpipe.engine.config_bounds import MAX_EVERY
from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role, RoleRing
from tickpipe.shm_layouts.worker_table import (
    GATEWAY_BOOK_UNREADABLE, GATEWAY_CANCELS, GATEWAY_EXPIRED, GATEWAY_FILLS,
    GATEWAY_ILLEGAL_TRANSITIONS, GATEWAY_KILL_CANCELS, GATEWAY_MD_READ, GATEWAY_NEW_ACKS,
    GATEWAY_ORDERS_READ, GATEWAY_PARTIALS, GATEWAY_REJECTS, GATEWAY_REPLACES,
    GATEWAY_REPORTS_SENT, GATEWAY_RISK_REJECTS, GATEWAY_VENUE_DROPPED, GATEWAY_VENUE_READ,
)

ROLE = Role(
    name="gateway",
    role_id=4,
    rows=(3,),
    agent="tickpipe.workers.gateway.agent",
    summary="sends risk's orders to the venue (the built-in simulated exchange, or a venue "
            "process: [venue] kind) and its reports back to risk and to each order's strategy",
    counters={"orders_read": GATEWAY_ORDERS_READ, "reports_sent": GATEWAY_REPORTS_SENT,
              "fills": GATEWAY_FILLS, "partial_fills": GATEWAY_PARTIALS,
              "cancels": GATEWAY_CANCELS, "exchange_rejects": GATEWAY_REJECTS,
              "book_unreadable": GATEWAY_BOOK_UNREADABLE,
              "illegal_transitions": GATEWAY_ILLEGAL_TRANSITIONS, "md_read": GATEWAY_MD_READ,
              "new_acks": GATEWAY_NEW_ACKS, "replaces": GATEWAY_REPLACES,
              "expired": GATEWAY_EXPIRED, "kill_switch_cancels": GATEWAY_KILL_CANCELS,
              "risk_rejects": GATEWAY_RISK_REJECTS,
              "venue_reports_read": GATEWAY_VENUE_READ,
              "venue_reports_dropped": GATEWAY_VENUE_DROPPED},
    config={
    "reject_every": Field(int, 0, "simulated exchange rejects every Nth order; 0 = none",
                          minimum=0, maximum=MAX_EVERY),
    },
    sections={"venue": {
    "kind": Field(str, "sim", "the venue: 'sim', the built-in simulated exchange; 'fix', a FIX "
                  "4.4 session through QuickFIX ([fix_venue], docs/fix.md)",
                  choices=("sim", "fix")),
    "latency_us": Field(float, 0.0, "simulated order-entry latency: a request reaches the "
                        "venue this long after risk sent it", minimum=0.0,
                        maximum=10_000_000.0),
    "session_s": Field(float, 0.0, "the trading session's length from the feed's start: DAY "
                       "orders expire then, later ones are rejected; 0 = no end",
                       minimum=0.0, maximum=10_000_000.0),
    }},
    # its outputs in this order (workers/gateway/agent.py): risk's reports in slot 0,
    # strategy k's in slot 1 + k
    rings=(RoleRing("fills_risk", "gateway", "risk", "fill", 0),
           RoleRing("fills_strategy{n}", "gateway", "strategy{n}", "fill", 1)),
    counts="tickpipe.workers.gateway.sections:counts",
    report="tickpipe.workers.gateway.sections:report_sections",
    inspect="tickpipe.workers.gateway.sections:inspect_sections",
    drained="tickpipe.workers.gateway.sections:venue_empty",
)
