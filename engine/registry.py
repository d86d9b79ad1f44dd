"""Which module implements each worker role.

The supervisor starts workers by role through this table, so engine/ never
imports workers/ by name. A module here provides `Agent(context)` with
`warm_up()`, `run() -> int` and `close()` (see engine/worker_main.py).

Two kinds of role: the four of the trading pipeline, wired by hand through the
engine's tables (ROLE_MODULES; docs/runner.md "Adding a role" says where), and the
*declared* roles, each a folder workers/<role>/ whose role.py declares it
(engine/role.py). DECLARED_ROLES finds the latter by looking for those files, so
adding one touches nothing here.
"""

import importlib
import os

ROLE_MODULES = {
    "feed": "tickpipe.workers.feed",
    "strategy": "tickpipe.workers.strategy",
    "risk": "tickpipe.workers.risk",
    "gateway": "tickpipe.workers.gateway",
}


def _declared_roles() -> dict:
    """{name: Role} for every workers/<folder>/role.py, in role_id order."""
    workers = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workers")
    found = []
    for folder in sorted(os.listdir(workers)):
        if os.path.isfile(os.path.join(workers, folder, "role.py")):
            found.append(importlib.import_module(f"tickpipe.workers.{folder}.role").ROLE)
    roles = {role.name: role for role in sorted(found, key=lambda role: role.role_id)}
    for role in roles.values():
        assert role.name not in ROLE_MODULES and role.role_id > len(ROLE_MODULES), role
        ROLE_MODULES[role.name] = role.agent
    return roles


DECLARED_ROLES = _declared_roles()


def declared_workers(config: dict) -> tuple[str, ...]:
    """The declared roles an engine of this config runs (one worker each)."""
    return tuple(name for name, role in DECLARED_ROLES.items() if role.enabled(config))
