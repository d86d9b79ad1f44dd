"""Every role the engine can run, found by its folder.

A role is a folder workers/<role>/ whose role.py declares it (engine/role.py); this
module finds those files, so adding a role touches nothing here, and engine/ never
imports workers/ by name. A role's `agent` module provides `Agent(context)` with
`warm_up()`, `run() -> int` and `close()` (see engine/worker_main.py).

A role may also live outside tickpipe: TICKPIPE_ROLES names its folders as
importable packages ("mypkg.monitor,other.role"), each with a role.py declaring one.
The engine's processes inherit the variable; a tool reading an engine that runs such
a role without it shows the role's worker, not its counters or sections. A package
that does not import, or declares a role id or row another role has, is one line in
ROLE_ERRORS, which the config reports (engine/config.py).
"""

import importlib
import os

from tickpipe.shm_layouts.worker_table import MAX_WORKERS


ROLES_ENV = "TICKPIPE_ROLES"
ROLE_ERRORS: list[str] = []  # roles named by TICKPIPE_ROLES that could not be taken


def _roles() -> dict:
    """{name: Role} for every workers/<folder>/role.py and every package TICKPIPE_ROLES
    names, in role_id order."""
    workers = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workers")
    found = [importlib.import_module(f"tickpipe.workers.{folder}.role").ROLE
             for folder in sorted(os.listdir(workers))
             if os.path.isfile(os.path.join(workers, folder, "role.py"))]
    ours = {role.name: role for role in found}
    ids = {role.role_id for role in found}
    rows = {row for role in found for row in role.rows}
    assert len(ids) == len(found) and len(rows) == sum(len(role.rows) for role in found)
    for package in filter(None, (p.strip() for p in os.environ.get(ROLES_ENV, "").split(","))):
        try:
            role = importlib.import_module(f"{package}.role").ROLE
        except Exception as exc:  # noqa: BLE001  (any failure of a user's module: one line)
            ROLE_ERRORS.append(f"{ROLES_ENV}: {package}.role does not import: "
                               f"{type(exc).__name__}: {exc}")
            continue
        refused = _refused(role, ours)
        if refused:
            ROLE_ERRORS.append(f"{ROLES_ENV}: {package}.role: {refused}")
            continue
        clash = (role.name in ours and "name") or (role.role_id in ids and "role id") or \
            (rows & set(role.rows) and "row")
        if clash:
            ROLE_ERRORS.append(f"{ROLES_ENV}: {package}.role declares a {clash} another role "
                               f"has ({role.name}, role id {role.role_id}, rows {role.rows})")
            continue
        ours[role.name] = role
        ids.add(role.role_id)
        rows |= set(role.rows)
    return dict(sorted(ours.items(), key=lambda item: item[1].role_id))


def _refused(role, ours: dict) -> str:
    """Why a role from outside the tree cannot be taken, or ""."""
    if not role.rows or max(role.rows) >= MAX_WORKERS or min(role.rows) < 0:
        return f"rows {role.rows}: the worker table has rows 0..{MAX_WORKERS - 1}"
    if not role.name.isidentifier() or role.name[-1].isdigit() or \
            len(role.name.encode()) > NAME_BYTES - 2:
        return (f"name {role.name!r}: an identifier of at most {NAME_BYTES - 2} bytes not "
                f"ending in a digit (its instances are {role.name}2, {role.name}3, ...)")
    base = role.name.rstrip("0123456789")
    if role.role_id <= 0 or role.role_id >= 1 << 31:
        return f"role id {role.role_id}: must be > 0"
    if role.source or role.runs_plugins:
        return ("source and runs_plugins are the pipeline's feed's and strategy's (the start "
                "barrier, the strategy runtime's on_error): not for a role of one's own")
    if base in ours:
        return f"name {role.name!r}: another role has it"
    return ""


# A worker's name in its row (worker_table.py role_name, S16)
NAME_BYTES = 16

ROLES = _roles()
ROLE_MODULES = {name: role.agent for name, role in ROLES.items()}  # by role name


def engine_workers(config: dict) -> tuple[str, ...]:
    """Every worker of an engine of this config, in worker-table row order (the
    placement's order: the pipeline's first)."""
    workers = [(role.rows[k], role.worker(k)) for role in ROLES.values() if role.enabled(config)
               for k in range(role.instances(config))]
    return tuple(name for _, name in sorted(workers))


def role_of(worker: str) -> str:
    """The role a worker name belongs to: strategy2 -> strategy; a name no role runs
    (strategy0, feed2, a role this process does not know): itself."""
    if worker in ROLES:
        return worker
    base = worker.rstrip("0123456789")
    role = ROLES.get(base)
    suffix = worker[len(base):]
    if role is not None and suffix and suffix[0] != "0" and 2 <= int(suffix) <= len(role.rows):
        return base
    return worker


def instance_of(worker: str) -> int:
    """The worker's instance of its role: strategy 0, strategy2 1, ..."""
    role = role_of(worker)
    return 0 if worker == role else int(worker[len(role):]) - 1
