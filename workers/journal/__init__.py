"""The journal: a role that writes every ring's records to disk as the engine runs.

  role.py      its declaration (engine/role.py): config, counters, sections
  files.py     the run directory and one ring's files (shm_layouts/journal_file.py)
  agent.py     the worker: copy what each ring published, then move its gate
  reader.py    a journal read back: `tickpipe.journal.open(DIR).ring("orders")`
  sections.py  its part of the final report and of `tickpipe inspect`

docs/journal.md says what it guarantees and how to use it.
"""
