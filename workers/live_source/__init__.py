"""The live source: market data from outside (a websocket, a socket, a vendor's SDK),
put on the feed's input ring by a process of its own, one producer of that ring.

  role.py      its declaration (engine/role.py): config, counters, its ring, sections
  adapter.py   the contract a user's adapter implements (LiveSource) and how one is named
  sink.py      where an adapter puts what it receives: prices to the engine's ticks,
               one record at a time onto the ring, waiting (never dropping) when full
  agent.py     the worker: the adapter in a thread, the heartbeat and the stop
  alpaca.py    Alpaca's market-data stream through alpaca-py (the `.[alpaca]` extra)
  sections.py  its part of the final report and of `tickpipe inspect`

docs/live.md says how to write an adapter and run one.
"""
