"""The in bridge: another engine's ring, received over ZeroMQ (from its out bridge,
workers/bridge_out/), produced into this engine's feed input as if this engine's own
feed source had made it ([feed] source = "bridge").

  role.py      its declaration (engine/role.py): config, counters, its ring
  agent.py     the worker: each message checked (layout, run, sequence), then its
               records onto the ring, waiting (never dropping) when it is full, and
               acknowledged
  sections.py  its part of the final report and of `tickpipe inspect`

docs/bridges.md says how two engines are joined and what is guaranteed.
"""
