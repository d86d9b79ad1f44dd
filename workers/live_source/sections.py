"""The live source's part of the final report and of `tickpipe inspect` (named by its
declaration, workers/live_source/role.py), read from the segment alone."""

from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.live_source.role import ROLE


def _state(segment) -> dict:
    row = segment.view("workers", WORKER_DTYPE)[ROLE.row]
    state = {name: int(row["counters"][slot]) for name, slot in ROLE.counters.items()}
    state["connected"] = bool(state["connected"])
    return state


def _line(state: dict, adapter: str = "", link: bool = True) -> str:
    """One line; `link`: say whether it is connected now (not at the end of a run)."""
    line = f"live source{f' ({adapter})' if adapter else ''}: "
    if link:
        line += "connected; " if state["connected"] else "NOT CONNECTED; "
    line += (f"{state['records']:,} records ({state['quotes']:,} quotes, "
             f"{state['trades']:,} trades)")
    dropped = [f"{state[name]:,} {label}" for name, label in (
        ("skipped", "skipped (a side empty, crossed, or a trade before any quote)"),
        ("unknown_symbol", "of other symbols")) if state[name]]
    if dropped:
        line += "; not sent: " + ", ".join(dropped)
    if state["disconnects"]:
        line += f"; {state['disconnects']} disconnects, {state['connects']} connects"
    if state["held"]:
        line += f"; waited for the feed {state['held']:,} times"
    return line


def inspect_sections(segment) -> dict:
    return {"live_source": _inspect_section(segment)}


def _inspect_section(segment) -> dict:
    state = _state(segment)
    return {**state, "summary": _line(state)}


def report_sections(segment, config: dict) -> dict:
    return {"live_source": _report_section(segment, config)}


def _report_section(segment, config: dict) -> dict:
    state = _state(segment)
    adapter = (config.get("live_source") or {}).get("adapter", "?")
    return {**state, "adapter": adapter, "summary": _line(state, adapter, link=False)}
