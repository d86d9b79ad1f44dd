"""The FIX venue's hooks (named by its declaration, workers/fix_venue/role.py): `prepare`
checks the session's settings and credentials before the engine starts (one line each)
and, with [fix_venue] sim = true, starts `tickpipe venue fix-sim` beside the engine; the
final report's and `tickpipe inspect`'s sections, from the worker row alone."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tickpipe.engine.loopback import free_port
from tickpipe.engine.role import RoleError
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE
from tickpipe.workers.fix_venue.role import ROLE, STATE_NAMES

SIM_START_S = 60.0  # fix-sim's start: QuickFIX, and the venue kernels from numba's cache
SIM_SENDER, SIM_TARGET = "VENUE", "TP"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def prepare(config: dict, say=print) -> dict:
    """The session can be made: QuickFIX is installed, the settings file and the
    credentials are good. With sim = true: a fix-sim on a free loopback port (it follows
    the engine's market and exits with the launcher), and a store of the run's own."""
    # Importing quickfix resets SIGINT's handler at the C level (SigCgt loses it, though
    # Python's signal.getsignal still names ours): Ctrl-C then killed the launcher with no
    # drain. Python's handler is put back after the import.
    handler = signal.getsignal(signal.SIGINT)
    try:
        import quickfix  # noqa: F401  (installed?)
    except ImportError:
        raise RoleError("[venue] kind = 'fix' needs QuickFIX: pip install 'tickpipe[fix]'") \
            from None
    finally:
        signal.signal(signal.SIGINT, handler)
    from tickpipe.workers.fix_venue.credentials import CredentialsError, load_credentials
    from tickpipe.workers.fix_venue.settings import SettingsError, read_settings_file
    section = config["fix_venue"]
    if not section["settings"] and not section["sim"]:
        raise RoleError("[venue] kind = 'fix' needs [fix_venue] settings = FILE (the session's "
                        "QuickFIX settings, docs/fix.md), or sim = true for the simulated "
                        "exchange")
    try:
        load_credentials(section["credentials"] or None, required=False)
        if section["settings"]:
            read_settings_file(section["settings"])
    except (CredentialsError, SettingsError) as exc:
        raise RoleError(f"[fix_venue]: {exc}") from None
    if not section["sim"]:
        return {}
    run_dir = tempfile.mkdtemp(prefix="tickpipe-fix-")
    port = section["sim_port"] or free_port()
    section["sim_port"] = port
    if not section["store"]:
        section["store"] = os.path.join(run_dir, "engine")
    return {"sim": _start_sim(config, port, run_dir, say)}


def _start_sim(config: dict, port: int, run_dir: str, say) -> subprocess.Popen:
    from tickpipe.workers.fix_venue.fields import price_text
    ticks = {int(i["tick_size"]) for i in config["instruments"]}
    command = [sys.executable, "-m", "tickpipe.cli", "venue", "fix-sim", "--port", str(port),
               "--sender", SIM_SENDER, "--target", SIM_TARGET,
               "--store", os.path.join(run_dir, "venue"), "--walk-ms", "0",
               "--follow", config["engine"]["name"], "--exit-with", str(os.getpid()),
               "--tick-size", price_text(min(ticks)),
               "--status-file", os.path.join(run_dir, "venue-status.json"),
               "--remove-on-exit", run_dir]  # its store and ours: this run's alone
    start_px = config["feed"].get("start_px", 1_000_000)
    for entry in config["instruments"]:
        command += ["--book", f"{entry['name']}={price_text(start_px)}/"
                              f"{price_text(start_px + int(entry['tick_size']))}x1/1"]
    log = open(os.path.join(run_dir, "venue.log"), "w")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)  # a Ctrl-C reaches the engine, not it
    deadline = time.monotonic() + SIM_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            with open(os.path.join(run_dir, "venue.log")) as f:
                tail = f.read().strip().splitlines()[-1:] or ["no output"]
            raise RoleError(f"fix-sim did not start: {tail[0]}")
        if _listening(port):
            say(f"fix venue: fix-sim listening on 127.0.0.1:{port}, following the engine's "
                f"market (its log: {run_dir}/venue.log)")
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RoleError(f"fix-sim did not listen on port {port} within {SIM_START_S:g} s")


def _counters(segment) -> dict:
    counters = segment.view("workers", WORKER_DTYPE)[ROLE.row]["counters"]
    return {name: int(counters[slot]) for name, slot in ROLE.counters.items()}


def _session(segment) -> dict:
    counts = _counters(segment)
    state = STATE_NAMES.get(counts.pop("state"), "down")
    trading = "open" if state == "up" else "halted"
    summary = (f"fix venue: session {state}, trading at it {trading.upper() if state != 'up' else trading}"
               f"; {counts['open_orders']:,} orders open; {counts['requests']:,} requests, "
               f"{counts['reports']:,} reports; {counts['disconnects']:,} disconnects, "
               f"{counts['reconciled']:,} orders reconciled ({counts['reconcile_mismatches']:,} "
               f"differed), {counts['refused_down']:,} refused while halted")
    return {"state": state, "trading": trading, **counts, "summary": summary}


def report_sections(segment, config: dict) -> dict:
    return {"fix_venue": _session(segment)}


def inspect_sections(segment) -> dict:
    """The session's state (trading at this venue is halted unless it is up) and its
    counts."""
    return {"fix_venue": _session(segment)}
