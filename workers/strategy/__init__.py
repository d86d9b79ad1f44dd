"""The strategy: one worker per [[strategy]], running its plug-in's callbacks (a module
of workers/strategies/ or a user's file) through the strategy runner.

  role.py      its declaration (engine/role.py): counters, rings out, hooks, sections
  agent.py     the worker: the runner with the plug-in's compiled callbacks
  sections.py  its part of the final report, the status line and `tickpipe inspect`,
               and its hooks: compile before the start, inline in the background

The plug-in API is docs/plugins.md and docs/strategies.md; the runtime it calls is engine/strategy_*.py.
"""
