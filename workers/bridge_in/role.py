"""The in bridge's declaration (engine/role.py): with [feed] source = "bridge" and a
[[bridge]] table of direction = "in", a process that receives another engine's ring from
its out bridge and is the one producer of this engine's feed input `bridge_in`; the feed
fans it out as it does a live source's."""

from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role, RoleRing

# counters[32] of its worker row
(IN_RECORDS, IN_MESSAGES, IN_GAPS, IN_GAP_RECORDS, IN_DUPLICATES, IN_PEER_RUNS,
 IN_CONNECTS, IN_DISCONNECTS, IN_CONNECTED, IN_HELD, IN_UNREADABLE,
 IN_RUN_ID, IN_NEXT_SEQ, IN_PENDING_FIRST, IN_PENDING_HEAD, IN_PENDING_COUNT,
 IN_RESENDS, IN_REFUSED) = range(18)
# IN_RECORDS: records put on the ring; IN_GAPS: messages that came after a gap of
# IN_GAP_RECORDS records in all (the sender's records this engine never received);
# IN_DUPLICATES: records received twice, dropped; IN_PEER_RUNS: the sending engines'
# runs seen (a new one: the peer engine restarted); IN_RESENDS: the times a message came
# after one lost on the way, and the out bridge was asked to send again from there;
# IN_REFUSED: handshakes with the out bridge that failed (keys that do not match). IN_RUN_ID .. IN_PENDING_COUNT are
# its state, kept in the row so that a restarted worker knows where the sequence stands
# (agent.py).

ROLE = Role(
    name="bridge_in",
    role_id=9,
    rows=(12,),
    agent="tickpipe.workers.bridge_in.agent",
    summary="receives another engine's ring from its out bridge over ZeroMQ and puts it on "
            "this engine's feed input ([feed] source = 'bridge')",
    counters={"records": IN_RECORDS, "messages": IN_MESSAGES, "gaps": IN_GAPS,
              "gap_records": IN_GAP_RECORDS, "duplicates": IN_DUPLICATES,
              "peer_runs": IN_PEER_RUNS, "connects": IN_CONNECTS,
              "disconnects": IN_DISCONNECTS, "connected": IN_CONNECTED, "held": IN_HELD,
              "unreadable": IN_UNREADABLE, "run_id": IN_RUN_ID, "next_seq": IN_NEXT_SEQ,
              "pending_first": IN_PENDING_FIRST, "pending_head": IN_PENDING_HEAD,
              "pending_count": IN_PENDING_COUNT, "resends": IN_RESENDS,
              "refused": IN_REFUSED},
    config={
        "connect": Field(str, "", "the out bridge's address, as ZeroMQ writes it: "
                         "tcp://feed-host:5701; ZeroMQ connects (and reconnects) to it"),
        "secret_key": Field(str, "", "CURVE encryption: this engine's NAME.key_secret "
                            "(`tickpipe bridge-keys NAME`); empty = plain TCP", path="file"),
        "server_key": Field(str, "", "CURVE: the out bridge's public NAME.key", path="file"),
    },
    # either alone is a config mistake, said by prepare in one line
    enabled=lambda config: config["feed"]["source"] == "bridge" or
    bool(config["bridge_in"]["connect"]),
    background=True,
    rings=(RoleRing("bridge_in", "bridge_in", "feed", "market_data", 0),),
    report="tickpipe.workers.bridge_in.sections:report_sections",
    inspect="tickpipe.workers.bridge_in.sections:inspect_sections",
    prepare="tickpipe.workers.bridge_in.sections:prepare",
)
