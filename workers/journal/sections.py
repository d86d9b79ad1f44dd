"""The journal's part of the final report and of `tickpipe inspect` (named by its
declaration, workers/journal/role.py), read from the segment alone."""

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.report import ring_sections
from tickpipe.engine.ring_layout import ring_header
from tickpipe.shm_layouts.ring_header import RING_GATE_OFFSET, RING_HEAD_OFFSET
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.journal.role import ROLE


def _state(segment) -> dict:
    row = segment.view("workers", WORKER_DTYPE)[ROLE.row]
    counters = {name: int(row["counters"][slot]) for name, slot in ROLE.counters.items()}
    lag, behind = {}, []
    for section in ring_sections(segment):
        header = ring_header(segment, section)
        base = segment.base_address + segment.section(section)[0]
        gate = lib.tp_load_acquire_u64(base + RING_GATE_OFFSET)
        head = lib.tp_load_acquire_u64(base + RING_HEAD_OFFSET)
        lag[section] = max(0, head - gate)
        if lag[section] >= int(header["capacity"]):
            behind.append(section)  # full up to the journal's gate: its producer waits
    return {**counters, "lag": lag, "holding": behind}


def inspect_sections(segment) -> dict:
    return {"journal": _inspect_section(segment)}


def _inspect_section(segment) -> dict:
    state = _state(segment)
    waiting = sum(state["lag"].values())
    line = (f"journal: {state['records']:,} records, {state['bytes'] / 1e6:,.1f} MB in "
            f"{state['files']} files; {waiting:,} published not yet written")
    if state["holding"]:
        line += ("; BEHIND: the producers of " + ", ".join(state["holding"])
                 + " wait for it (a journal that cannot keep up slows the engine)")
    elif state["held_producers"]:
        line += f"; held producers {state['held_producers']:,} times so far"
    return {**state, "summary": line}


def report_sections(segment, config: dict) -> dict:
    return {"journal": _report_section(segment, config)}


def _report_section(segment, config: dict) -> dict:
    state = _state(segment)
    run = config.get("journal_run") or {}
    complete = not any(state["lag"].values())
    line = (f"journal: {state['records']:,} records ({state['bytes'] / 1e6:,.1f} MB, "
            f"{state['files']} files) in {run.get('dir', '?')}"
            + ("" if complete else f"; {sum(state['lag'].values()):,} records not written"))
    return {"dir": run.get("dir"), "records": state["records"], "bytes": state["bytes"],
            "files": state["files"], "held_producers": state["held_producers"],
            "complete": complete, "summary": line}
