"""Which module implements each worker role.

The supervisor starts workers by role through this table, so engine/ never
imports workers/ by name. A module here provides `Agent(context)` with
`warm_up()`, `run() -> int` and `close()` (see engine/worker_main.py).
"""

ROLE_MODULES = {
    "feed": "tickpipe.workers.feed",
    "strategy": "tickpipe.workers.strategy",
    "risk": "tickpipe.workers.risk",
    "gateway": "tickpipe.workers.gateway",
}
