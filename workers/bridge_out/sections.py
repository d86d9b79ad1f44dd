"""The out bridge's checks before the engine starts, and its part of the final report
and of `tickpipe inspect` (named by its declaration, workers/bridge_out/role.py)."""

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.engine_layout import engine_rings, gate_conflict
from tickpipe.engine.report import count_text
from tickpipe.engine.role import RoleError
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.ring_header import RING_GATE_OFFSET, RING_HEAD_OFFSET
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.bridge_out.role import ROLE


def import_zmq(who: str):
    try:
        import zmq
    except ImportError:
        raise RoleError(f"{who} needs pyzmq: pip install 'tickpipe[bridge]'") from None
    return zmq


def prepare(config: dict, say) -> None:
    import_zmq("[[bridge]] direction = 'out'")
    settings = config["bridge_out"]
    rings = [spec.section for spec in engine_rings(config)]
    if settings["ring"] not in rings:
        raise RoleError(f"[[bridge]] direction = 'out': ring = {settings['ring']!r} is not a "
                        f"ring of this engine (its rings: {', '.join(rings)})")
    spec = next(s for s in engine_rings(config) if s.section == settings["ring"])
    if spec.dtype != MARKET_DATA_DTYPE:
        raise RoleError(f"[[bridge]] direction = 'out': ring {spec.section} does not carry "
                        f"market data; an in bridge takes market data only (docs/bridges.md)")
    conflict = gate_conflict(config)
    if conflict:
        raise RoleError(f"[[bridge]] direction = 'out': {conflict}")
    from tickpipe.workers.bridge_out.keys import OUT_KEYS, curve_settings
    problem = curve_settings(settings, OUT_KEYS)
    if problem:
        raise RoleError(f"[[bridge]] direction = 'out': {problem}")
    from tickpipe.workers.bridge_out.link import endpoint_problem
    problem = endpoint_problem(settings["listen"], bind=True)
    if problem:
        raise RoleError(f"[[bridge]] direction = 'out': cannot listen on "
                        f"{settings['listen']!r}: {problem}")


def _state(segment, config: dict | None) -> dict:
    row = segment.view("workers", WORKER_DTYPE)[ROLE.row]
    state = {name: int(row["counters"][slot]) for name, slot in ROLE.counters.items()}
    section = (config or {}).get("bridge_out", {}).get("ring") or _gated_ring(segment)
    if section:
        base = segment.base_address + segment.section(section)[0]
        state["ring"] = section
        state["behind"] = max(0, lib.tp_load_acquire_u64(base + RING_HEAD_OFFSET)
                              - lib.tp_load_acquire_u64(base + RING_GATE_OFFSET))
    return state


def _gated_ring(segment) -> str:
    """The ring this bridge reads (inspect has no config): the one gated ring."""
    from tickpipe.engine.report import ring_sections
    from tickpipe.engine.ring_layout import ring_header
    gated = [s for s in ring_sections(segment) if int(ring_header(segment, s)["gated"])]
    return gated[0] if len(gated) == 1 else ""


def _line(state: dict, link: bool) -> str:
    line = "bridge out: "
    if link:
        peers, connected = state["peers"], state["connected"]
        line += "NO PEER; " if not peers and not connected else \
            f"{count_text(peers, 'peer')}, {count_text(connected, 'connection')} up; "
    elif state["peers"] > 1:
        line += f"{state['peers']} peers at the end; "
    line += (f"{state['records']:,} records of {state.get('ring', '?')} sent in "
             f"{state['messages']:,} messages")
    if state["dropped"]:
        line += f"; {state['dropped']:,} dropped (drop-oldest, {state['drops']:,} times)"
    if state["resent"]:
        line += f"; {state['resent']:,} sent again (a connection lost before its peer said)"
    if link and state.get("behind"):
        line += f"; {state['behind']:,} published not yet delivered"
    if state["unsent"]:
        line += f"; {state['unsent']:,} NOT DELIVERED (not acknowledged by every peer)"
    if state["held_producer"]:
        line += f"; held its producer {state['held_producer']:,} times"
    if state["disconnects"]:
        line += f"; {state['connects']} connects, {state['disconnects']} disconnects"
    if state["refused"]:
        line += f"; REFUSED {state['refused']:,} handshakes (keys)"
    return line


def inspect_sections(segment) -> dict:
    state = _state(segment, None)
    return {"bridge_out": {**state, "summary": _line(state, link=True)}}


def report_sections(segment, config: dict) -> dict:
    state = _state(segment, config)
    encrypted = bool(config["bridge_out"]["secret_key"])
    line = _line(state, link=False)
    if not state["connects"]:
        line += f"; NO PEER EVER CONNECTED on {config['bridge_out']['listen']}"
    return {"bridge_out": {**state, "listen": config["bridge_out"]["listen"],
                           "policy": config["bridge_out"]["policy"], "encrypted": encrypted,
                           "summary": line + ("; encrypted (CURVE)" if encrypted else "")}}
