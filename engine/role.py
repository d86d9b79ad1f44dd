"""A role's declaration: what the engine needs to know to run it, in one place.

A role that declares itself this way is one folder's work: workers/<role>/role.py
holds `ROLE = Role(...)`, the rest of the folder its code. engine/registry.py finds
every such folder and the engine iterates over what it finds: the config gets the
role's section, the segment gets the rings it adds (after the pipeline's), the
supervisor spawns it (apart from the pipeline's placement when
it is `background`), the worker table gets its row and counter names, the final
report and `tickpipe inspect` get its section. Nothing in engine/ names it.

The declaration imports nothing heavy (it is read by every tool that reads a
config); its report and inspect sections are named as "module:function" and
imported only when used.
"""

import importlib
from dataclasses import dataclass, field
from typing import Callable

from tickpipe.engine.config_field import Field


@dataclass(frozen=True)
class RoleRing:
    """A ring a role adds: its producer and consumer (worker names: the role's own and one
    of the pipeline's), its records by name (engine/engine_layout.py RECORDS:
    "market_data", "order_intent", "order", "fill"; a name, so that the declaration
    imports no numpy) and the consumer's input slot."""
    section: str
    producer: str
    consumer: str
    records: str
    input_index: int


class RoleError(Exception):
    """What a declared role's `prepare` raises when the engine cannot start with it;
    str() is one line."""


class FinalError(Exception):
    """What a worker raises when a restart cannot help (a venue refusing its
    credentials): it exits EXIT_FINAL (engine/worker_main.py) and the supervisor stops
    the engine, naming it, instead of restarting it into the same refusal."""


@dataclass(frozen=True)
class Role:
    name: str                  # its worker's name, its config section, its JSON key
    role_id: int               # in its worker row and the ring directory (> the built-in 4)
    row: int                   # its row of the worker table (fixed: tools find it there)
    agent: str                 # the module with `Agent(context)` (engine/agent.py's contract)
    summary: str               # one line for `tickpipe roles` and the docs
    counters: dict[str, int]   # its counter slots by name (worker_table.py counters[32])
    config: dict[str, Field] = field(default_factory=dict)  # its [name] section
    enabled: Callable[[dict], bool] = lambda config: True   # runs in an engine of this config
    background: bool = False   # placed apart from the pipeline's cores; stops last
    gates_rings: bool = False  # reads every ring, and every producer waits for it
    rings: tuple[RoleRing, ...] = ()  # rings it adds (the live source's into the feed)
    report: str = ""           # "module:function" (segment, config) -> dict: its report section
    inspect: str = ""          # "module:function" (segment) -> dict: its inspect section
    prepare: str = ""          # "module:function" (config) -> None: checks and makes what it
                               # needs before the engine starts (a ValueError: one line)


def call(reference: str, *args):
    """Call a "module:function" of a declaration."""
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)(*args)
