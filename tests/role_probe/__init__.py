"""A role of the tests' own, outside tickpipe's tree (TICKPIPE_ROLES=role_probe): what it
takes to add one is this folder. tests/test_roles.py runs it in a real engine.

  role.py      its declaration: a config section, counters, hooks, report and inspect
  agent.py     the worker: watches the feed's tick count until the engine stops
  sections.py  its figures, its report and inspect sections, its hooks
"""
