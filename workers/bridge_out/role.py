"""The out bridge's declaration (engine/role.py): with a [[bridge]] table of direction =
"out", a process that reads one ring through its gate (the ring's producer waits for it,
as for a consumer) and publishes its records to another engine's in bridge."""

from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role

# counters[32] of its worker row
(OUT_RECORDS, OUT_MESSAGES, OUT_DROPPED, OUT_DROPS, OUT_CONNECTS, OUT_DISCONNECTS,
 OUT_CONNECTED, OUT_HELD, OUT_UNSENT, OUT_RESENT, OUT_ACKED, OUT_REFUSED, OUT_PEERS) = range(13)
# OUT_RECORDS: records sent (handed to ZeroMQ) a first time, summed over the peers (two
# peers: twice the ring's records); OUT_RESENT: sent again to a peer whose last
# connection died before acknowledging them, or that asked again; OUT_ACKED: the
# gate, the records every peer acknowledged (drop-oldest: sent or dropped); OUT_PEERS:
# the in bridges that said HELLO and not yet BYE; OUT_CONNECTED: connections up; OUT_DROPPED:
# records passed over by the drop-oldest policy, in OUT_DROPS batches; OUT_HELD: passes
# the ring was full up to the gate (its producer waiting for this bridge); OUT_UNSENT: at
# the end of a run, records published that no peer acknowledged (gate policy) or that
# were neither sent nor dropped (drop-oldest); OUT_REFUSED: handshakes that failed (a
# peer of a key not in client_keys, or of none)

POLICIES = ("gate", "drop-oldest")

ROLE = Role(
    name="bridge_out",
    role_id=8,
    rows=(11,),
    agent="tickpipe.workers.bridge_out.agent",
    summary="sends one of this engine's rings (the market data by default) to other "
            "engines' in bridges over ZeroMQ ([[bridge]] direction = 'out')",
    counters={"records": OUT_RECORDS, "messages": OUT_MESSAGES, "dropped": OUT_DROPPED,
              "drops": OUT_DROPS, "connects": OUT_CONNECTS, "disconnects": OUT_DISCONNECTS,
              "connected": OUT_CONNECTED, "held_producer": OUT_HELD, "unsent": OUT_UNSENT,
              "resent": OUT_RESENT, "acked": OUT_ACKED, "refused": OUT_REFUSED,
              "peers": OUT_PEERS},
    config={
        "listen": Field(str, "", "the address it listens on for in bridges, as ZeroMQ "
                        "writes it: tcp://127.0.0.1:5701 (this host only), tcp://*:5701 (every "
                        "interface); empty = no out bridge"),
        "ring": Field(str, "md_venue", "the ring sent: md_venue carries every symbol's quotes "
                      "and trades (`tickpipe inspect` lists the rings)"),
        "policy": Field(str, "gate", "gate: the ring's producer waits for the bridge, nothing "
                        "is lost; drop-oldest: what the peer cannot take now is passed over "
                        "and counted (market data: the newest matters most)", choices=POLICIES),
        "batch": Field(int, 64, "records per message at most", minimum=1, maximum=4096),
        "poll_us": Field(int, 50, "sleep between looks at an idle ring, microseconds (0: "
                         "spin; it then needs a core of its own)", minimum=0,
                         maximum=100_000),
        "secret_key": Field(str, "", "CURVE encryption: this engine's NAME.key_secret "
                            "(`tickpipe bridge-keys NAME`); empty = plain TCP", path="file"),
        "client_keys": Field(str, "", "CURVE: a folder of the public .key files of the in "
                             "bridges let in (any other is refused)", path="file"),
    },
    enabled=lambda config: bool(config["bridge_out"]["listen"]),
    background=True,
    gates=lambda config: (config["bridge_out"]["ring"],),
    report="tickpipe.workers.bridge_out.sections:report_sections",
    inspect="tickpipe.workers.bridge_out.sections:inspect_sections",
    prepare="tickpipe.workers.bridge_out.sections:prepare",
)
