"""The FIX venue's declaration (engine/role.py): with [venue] kind = "fix", a process of its
own between the gateway and a FIX 4.4 session (QuickFIX holds the GIL and calls back from
its own thread: it has no place in a jitted loop). The gateway forwards requests on
`venue_requests` and reads the venue's answers from `venue_reports`
(workers/gateway/external.py); this process is the one reader of the first and the one
writer of the second. Another venue (a REST broker) is a folder like this one: its
role declares the same two rings and translates them to its wire."""

from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role, RoleRing

# counters[32] of its worker row
(FIX_REQUESTS, FIX_REPORTS, FIX_REFUSED_DOWN, FIX_QUEUED_CANCELS, FIX_LOGONS,
 FIX_DISCONNECTS, FIX_STATE, FIX_OPEN_ORDERS, FIX_SESSION_REJECTS, FIX_BUSINESS_REJECTS,
 FIX_DUPLICATES, FIX_RECONCILED, FIX_MISMATCHES, FIX_RESTORED, FIX_HELD,
 FIX_SEND_P50_NS, FIX_SEND_P99_NS, FIX_ACK_P50_NS, FIX_ACK_P99_NS, FIX_UNREADABLE,
 FIX_INEXACT_PRICES, FIX_READ_P50_NS, FIX_READ_P99_NS) = range(23)
# FIX_READ_*: from the gateway's publish of a request to this process reading it
# FIX_UNREADABLE: reports that could not be passed on (said, one line each);
# FIX_INEXACT_PRICES: fills learnt by reconciliation whose price was rounded
# FIX_SEND_*: from the gateway's publish of a request to QuickFIX having written it to the
# socket; FIX_ACK_*: from that publish to the venue's answer on venue_reports (new orders);
# percentiles of the last LATENCY_SAMPLES, in ns
# FIX_STATE's values: the session's state (workers/fix_venue/session.py)
STATE_CODES = {"down": 0, "reconciling": 1, "up": 2, "stopped": 3}
STATE_NAMES = {code: name for name, code in STATE_CODES.items()}

ROLE = Role(
    name="fix_venue",
    role_id=7,
    rows=(10,),  # after the live source's (9: tests' probe role)
    agent="tickpipe.workers.fix_venue.agent",
    summary="carries the gateway's requests to a venue over a FIX 4.4 session (QuickFIX) "
            "and its execution reports back ([venue] kind = 'fix')",
    counters={"requests": FIX_REQUESTS, "reports": FIX_REPORTS,
              "refused_down": FIX_REFUSED_DOWN, "queued_cancels": FIX_QUEUED_CANCELS,
              "logons": FIX_LOGONS, "disconnects": FIX_DISCONNECTS, "state": FIX_STATE,
              "open_orders": FIX_OPEN_ORDERS, "session_rejects": FIX_SESSION_REJECTS,
              "business_rejects": FIX_BUSINESS_REJECTS, "duplicate_reports": FIX_DUPLICATES,
              "reconciled": FIX_RECONCILED, "reconcile_mismatches": FIX_MISMATCHES,
              "restored_orders": FIX_RESTORED, "held": FIX_HELD,
              "send_p50_ns": FIX_SEND_P50_NS, "send_p99_ns": FIX_SEND_P99_NS,
              "ack_p50_ns": FIX_ACK_P50_NS, "ack_p99_ns": FIX_ACK_P99_NS,
              "reports_not_passed_on": FIX_UNREADABLE, "inexact_prices": FIX_INEXACT_PRICES,
              "read_p50_ns": FIX_READ_P50_NS, "read_p99_ns": FIX_READ_P99_NS},
    config={
        "settings": Field(str, "", "the session's QuickFIX settings file (docs/fix.md); empty "
                          "with sim = true: made for the simulated exchange", path="file"),
        "credentials": Field(str, "", "a file (mode 0600) with username and password; empty = "
                             "TICKPIPE_FIX_USERNAME/PASSWORD or TICKPIPE_FIX_CREDENTIALS, else "
                             "no credentials", path="file"),
        "sim": Field(bool, False, "start `tickpipe venue fix-sim` beside the engine on "
                     "loopback, following the engine's own market, and trade with it"),
        "sim_port": Field(int, 0, "the simulated exchange's port; 0 = a free one", minimum=0,
                          maximum=65535),
        "store": Field(str, "", "QuickFIX's file store (sequence numbers) and our ClOrdID log; "
                       "empty = the settings file's FileStorePath, or a folder per run with "
                       "sim = true", path="file"),
        "logon_timeout_s": Field(float, 10.0, "at start: how long to wait for the first logon "
                                 "before running with the venue halted", minimum=0.5,
                                 maximum=600.0),
        "reconcile_timeout_s": Field(float, 10.0, "after a reconnect: how long status answers "
                                     "may take before trading resumes without them",
                                     minimum=0.1, maximum=600.0),
    },
    enabled=lambda config: config["venue"]["kind"] == "fix",
    background=True,
    rings=(RoleRing("venue_requests", "gateway", "fix_venue", "order", 0),
           RoleRing("venue_reports", "fix_venue", "gateway", "fill", 2)),
    report="tickpipe.workers.fix_venue.sections:report_sections",
    inspect="tickpipe.workers.fix_venue.sections:inspect_sections",
    prepare="tickpipe.workers.fix_venue.sections:prepare",
)
