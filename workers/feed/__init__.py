"""The feed: the pipeline's source of quotes and trades, synthetic, replayed or live.

  role.py      its declaration (engine/role.py): config, counters, rings out, sections
  agent.py     the worker: the synthetic walk, a tape's replay or the live input,
               fanned out to every strategy's quotes ring and the venue's
  sources/     data files read into a tape, ahead of the feed (docs/data.md)
  sections.py  its part of the status line and `tickpipe inspect`, its start note
"""
