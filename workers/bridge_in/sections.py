"""The in bridge's checks before the engine starts, and its part of the final report and
of `tickpipe inspect` (named by its declaration, workers/bridge_in/role.py)."""

from tickpipe.engine.role import RoleError
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.bridge_in.role import ROLE
from tickpipe.workers.bridge_out.sections import import_zmq

STATE_ONLY = ("run_id", "next_seq", "pending_first", "pending_head", "pending_count")


def prepare(config: dict, say) -> None:
    address = config["bridge_in"]["connect"]
    if config["feed"]["source"] != "bridge":
        raise RoleError(f"[[bridge]] direction = 'in' puts what it receives on the feed's "
                        f"input: set [feed] source = 'bridge' (it is "
                        f"{config['feed']['source']!r})")
    if not address:
        raise RoleError("[feed] source = 'bridge' needs a [[bridge]] table with direction = "
                        "'in' and connect = 'tcp://HOST:PORT' (the out bridge's address)")
    import_zmq("[[bridge]] direction = 'in'")
    from tickpipe.workers.bridge_out.keys import IN_KEYS, curve_settings
    problem = curve_settings(config["bridge_in"], IN_KEYS)
    if problem:
        raise RoleError(f"[[bridge]] direction = 'in': {problem}")
    from tickpipe.workers.bridge_out.link import endpoint_problem
    problem = endpoint_problem(address, bind=False)
    if problem:
        raise RoleError(f"[[bridge]] direction = 'in': cannot connect to {address!r}: {problem}")


def _state(segment) -> dict:
    row = segment.view("workers", WORKER_DTYPE)[ROLE.row]
    state = {name: int(row["counters"][slot]) for name, slot in ROLE.counters.items()
             if name not in STATE_ONLY}
    state["connected"] = bool(state["connected"])
    state["next_seq"] = int(row["counters"][ROLE.counters["next_seq"]])
    return state


def _line(state: dict, link: bool) -> str:
    line = "bridge in: "
    if link:
        line += "connected; " if state["connected"] else "NOT CONNECTED; "
    line += f"{state['records']:,} records received in {state['messages']:,} messages"
    line += (f"; GAPS: {state['gap_records']:,} records missing in {state['gaps']} gaps"
             if state["gaps"] else "; no gap")
    if state["resends"]:
        line += f"; asked {state['resends']:,} times for records lost on the way (sent again)"
    if state["duplicates"]:
        line += f"; {state['duplicates']:,} duplicates dropped"
    if state["peer_runs"] > 1:
        line += f"; the peer engine restarted {state['peer_runs'] - 1} times"
    if state["unreadable"]:
        line += f"; {state['unreadable']:,} unreadable messages"
    if state["disconnects"]:
        line += f"; {state['connects']} connects, {state['disconnects']} disconnects"
    if state["held"]:
        line += f"; waited for the feed {state['held']:,} times"
    if state["refused"]:
        line += f"; REFUSED {state['refused']:,} times by the out bridge (keys)"
    return line


def inspect_sections(segment) -> dict:
    state = _state(segment)
    return {"bridge_in": {**state, "summary": _line(state, link=True)}}


def report_sections(segment, config: dict) -> dict:
    state = _state(segment)
    encrypted = bool(config["bridge_in"]["secret_key"])
    line = _line(state, link=False)
    if not state["connects"]:
        line += f"; NEVER CONNECTED to {config['bridge_in']['connect']}"
    return {"bridge_in": {**state, "connect": config["bridge_in"]["connect"],
                          "encrypted": encrypted,
                          "summary": line + ("; encrypted (CURVE)" if encrypted else "")}}
