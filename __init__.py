"""tickpipe: a shared-memory IPC engine of pinned worker processes for low-latency trading.

The repository's folders install under this one name: tickpipe.engine (segment,
rings, supervisor), tickpipe.workers (the roles), tickpipe.shm_layouts (every
record and region), tickpipe.cli, tickpipe.bench, tickpipe.tuning. `tickpipe`
itself is what a user's code imports; it stays light (no numba at import), so
tools that only read a segment start fast.
"""

__version__ = "0.1.0"
