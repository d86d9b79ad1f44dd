"""A role's declaration: what the engine needs to know to run it, in one place.

Every role is one folder's work: workers/<role>/role.py holds `ROLE = Role(...)`, the
rest of the folder its code. engine/registry.py finds every such folder and the engine
iterates over what it finds: the config gets the role's section, the segment the rings
it declares, the supervisor spawns its workers (placed apart from the pipeline's cores
when it is `background`) and calls its hooks, the worker table gets its rows and
counter names, the final report, each status line and `tickpipe inspect` get its
sections. No table or case in engine/ lists the roles: the four of the trading
pipeline (feed, strategy, risk, gateway) are declared this way too (docs/runner.md,
"Adding a role").

A role may run several workers (`instances`: the strategy runs one per [[strategy]]),
named `name`, `name2`, `name3`, ... in rows `rows[0]`, `rows[1]`, ... A ring whose
section has `{n}` in it is one ring per instance of the role named `<role>{n}` at one
of its ends, `{n}` being "" for the first, then "2", "3", ...: `quotes{n}` from the
feed to `strategy{n}`. Each instance of a consumer has its own input slots; a single
consumer of such a ring (risk, of every strategy's intents) takes instance k's in slot
`input_index + k`. The rings' directory order is the roles' in role_id order, each
role's in the order it declares them, so a producer's outputs come in that order (the
feed's: every strategy's quotes, then md_venue).

The declaration imports nothing heavy (it is read by every tool that reads a
config); its hooks and sections are named as "module:function" and imported only
when used.
"""

import importlib
from dataclasses import dataclass, field
from typing import Callable

from tickpipe.engine.config_field import Field


INSTANCE = "{n}"  # in a ring's section and worker names: one ring per instance


@dataclass(frozen=True)
class RoleRing:
    """A ring a role declares (it is one of its ends): its producer and consumer (worker
    names, `strategy{n}` for each instance), its records by name (engine/engine_layout.py
    RECORDS: "market_data", "order_intent", "order", "fill"; a name, so that the
    declaration imports no numpy) and the consumer's input slot."""
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
    name: str                  # its first worker's name, its config section, its JSON key
    role_id: int               # in its worker rows and the ring directory
    rows: tuple[int, ...]      # its workers' rows of the worker table (fixed: tools find
                               # them there); as many as it may have instances
    agent: str                 # the module with `Agent(context)` (engine/agent.py's contract)
    summary: str               # one line for `tickpipe roles` and the docs
    counters: dict[str, int]   # its counter slots by name (worker_table.py counters[32])
    config: dict[str, Field] = field(default_factory=dict)  # its [name] section
    sections: dict[str, dict[str, Field]] = field(default_factory=dict)  # further sections
                               # it reads ([venue], the gateway's)
    enabled: Callable[[dict], bool] = lambda config: True   # runs in an engine of this config
    instances: Callable[[dict], int] = lambda config: 1     # its workers in such an engine
    background: bool = False   # placed apart from the pipeline's cores; stops last
    gates_rings: bool = False  # reads every ring, and every producer waits for it
    gates: Callable[[dict], tuple[str, ...]] = lambda config: ()  # the rings it reads
                               # through their gate in this config (a bridge's one ring);
                               # their producers wait for it. A ring has one gate: a role
                               # that gates every ring and one that gates some cannot run
                               # together (engine_layout.gate_conflict)
    source: bool = False       # the pipeline's source: waits for the start barrier's go,
                               # is stopped first, and its clean exit ends a replay
    runs_plugins: bool = False  # runs a user's plug-in per instance: its on_error policy
                               # decides a restart after a callback raised, and an instance
                               # past the restart limit is retired while its siblings run on
                               # (engine/on_error.py)
    rings: tuple[RoleRing, ...] = ()  # rings it declares (it is one end of each)
    counts: str = ""           # "module:function" (segment) -> dict: its figures at the
                               # report's top level and in each status line (cheap)
    report: str = ""           # "module:function" (segment, config) -> dict: its sections
                               # of the final report, by key
    inspect: str = ""          # "module:function" (segment) -> dict: its sections of
                               # `tickpipe inspect`, by key
    prepare: str = ""          # "module:function" (config, say) -> object: checks and makes
                               # what it needs before the segment exists (compiles, folders;
                               # a RoleError: one line, exit 1)
    warm: str = ""             # "module:function" (config, say, prepared) -> None: once
                               # every worker is READY (background work: the inline tier)
    drained: str = ""          # "module:function" (segment) -> bool: what the drain waits
                               # for besides empty rings (the venue holding no order)

    @property
    def row(self) -> int:
        """The first worker's row."""
        return self.rows[0]

    def worker(self, k: int) -> str:
        """Instance k's worker name: name, name2, name3, ..."""
        return self.name if k == 0 else f"{self.name}{k + 1}"


def instance_suffix(k: int) -> str:
    """What `{n}` stands for in instance k's ring and worker names."""
    return "" if k == 0 else str(k + 1)


def call(reference: str, *args):
    """Call a "module:function" of a declaration."""
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)(*args)


def merge_sections(data: dict, sections: dict, owner: str = "") -> None:
    """Put a role's sections into a report or an inspect snapshot: a key another role (or
    the engine) already gave is one section, each adding its own figures to it (the
    gateway's venue rejects beside risk's rejects in "risk"). A figure given twice is
    kept apart under "<owner>.<key>", never over the first (a role of one's own that
    reuses a name must not take the engine's figure, nor stop the run)."""
    for key, section in sections.items():
        if isinstance(data.get(key), dict) and isinstance(section, dict):
            for name, value in section.items():
                data[key][name if name not in data[key] else f"{owner}.{name}"] = value
        else:
            data[key if key not in data else f"{owner}.{key}"] = section
