"""Risk: the pre-trade check between the strategies and the gateway, and the engine's
books (positions, P&L, open orders per symbol).

  role.py      its declaration (engine/role.py): config, counters, rings out, sections
  agent.py     the worker: every strategy's requests checked, the reports applied
  checks.py    the checks, one function each (fat finger, limits, rates, P&L stops)
  sections.py  its part of the status line and `tickpipe inspect`
"""
