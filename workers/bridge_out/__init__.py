"""The out bridge: one of this engine's rings, read through its gate, to another engine
over ZeroMQ (workers/bridge_in/ is the other end).

  role.py      its declaration (engine/role.py): config, counters, the ring it gates
  agent.py     the worker: what the ring published, in batches, onto a DEALER socket,
               then its gate past what the in bridge acknowledges (or past what it
               sends or drops, with drop-oldest)
  link.py      the ZeroMQ side both bridges share: sockets, the connection monitor
  sections.py  its part of the final report and of `tickpipe inspect`

docs/bridges.md says how two engines are joined and what is guaranteed.
"""
