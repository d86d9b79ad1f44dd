"""The gateway: risk's orders to the venue, the venue's reports back to risk and to the
strategy that sent each order.

  role.py      its declaration (engine/role.py): config, counters, rings out, sections
  agent.py     the worker: orders in, reports out, the venue's hooks on every tick
  venue.py     the built-in simulated exchange (resting orders, queue, fills)
  sections.py  its part of the final report, the status line and `tickpipe inspect`,
               and what the drain waits for (no order working at the venue)
"""
