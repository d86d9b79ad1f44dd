"""Turn --cores, --engine-size and --user into TuningTargets, with one-line errors."""

from __future__ import annotations

import os
import pwd
import re

from tickpipe.tuning.cpulist import CpuListError, format_cpu_list, parse_cpu_list
from tickpipe.tuning.findings import EngineUser, TuningError, TuningTargets

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


# Without the host's MemTotal: far above any segment a valid config makes (~5 GiB).
FALLBACK_MAX_ENGINE_BYTES = 2**40


def parse_engine_size(text: str | None) -> int:
    """'23068672', '22M', '1GiB' -> bytes; the default engine's segment size when None."""
    if text is None:
        try:
            from tickpipe.engine.sizing import default_segment_bytes
            return default_segment_bytes()
        except Exception as err:   # the engine's own code failed: say so, don't crash check
            raise TuningError(f"cannot size the default engine's segment ({type(err).__name__}: {err}); "
                              "pass --engine-size BYTES") from None
    match = _SIZE.match(text)
    if not match:
        raise TuningError(f"--engine-size {text!r}: expected a positive number of bytes (e.g. 23068672 or 22M)")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size <= 0:
        raise TuningError(f"--engine-size {text!r}: the segment size must be positive")
    return size


def check_engine_size(text: str | None, size: int, host) -> None:
    """Huge pages for a segment larger than the host's memory can never be reserved."""
    total_kb = host.meminfo().get("MemTotal", 0)
    limit = total_kb * 1024 if total_kb else FALLBACK_MAX_ENGINE_BYTES
    if size > limit:
        where = f"this host's memory, {limit / 2**30:.1f} GiB" if total_kb else "1 TiB"
        raise TuningError(f"--engine-size {text!r}: must be <= {limit} bytes ({where})")


def default_worker_cores(all_cpus: list[int]) -> tuple[list[int], str]:
    if len(all_cpus) < 2:
        return [], "single-core machine: no core can be given to the workers"
    workers = [cpu for cpu in all_cpus if cpu != all_cpus[0]]
    reason = (f"default: every core but core {all_cpus[0]}, which keeps IRQs, kernel threads and the supervisor"
              if len(all_cpus) > 2 else
              f"default on this {len(all_cpus)}-core machine: core {format_cpu_list(workers)}, "
              f"core {all_cpus[0]} keeps the rest; pass --cores to choose")
    return workers, reason


def parse_worker_cores(text: str | None, all_cpus: list[int]) -> tuple[list[int], str]:
    if text is None:
        return default_worker_cores(all_cpus)
    try:
        cores = parse_cpu_list(text)
    except CpuListError as err:
        raise TuningError(f"--cores {text!r}: {err}") from None
    if not cores:
        raise TuningError(f"--cores {text!r}: name at least one core")
    missing = [cpu for cpu in cores if cpu not in all_cpus]
    if missing:
        raise TuningError(f"--cores {text!r}: core {format_cpu_list(missing)} does not exist on this "
                          f"{len(all_cpus)}-core machine (online: {format_cpu_list(all_cpus)})")
    if set(cores) >= set(all_cpus):
        raise TuningError(f"--cores {text!r}: leaves no core for IRQs, kernel threads and the supervisor")
    return cores, "from --cores"


def engine_user(name: str | None) -> EngineUser:
    """The user the engine runs as: --user, else the user who ran sudo, else the caller."""
    if name is None:
        sudo_user = os.environ.get("SUDO_USER")
        name = sudo_user if sudo_user and sudo_user != "root" else None
    try:
        entry = pwd.getpwnam(name) if name is not None else pwd.getpwuid(os.getuid())
    except KeyError:
        raise TuningError(f"--user {name!r}: no such user") from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return EngineUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def resolve_targets(host, cores: str | None, engine_size: str | None, user: str | None) -> TuningTargets:
    all_cpus = host.online_cpus()
    workers, reason = parse_worker_cores(cores, all_cpus)
    engine_bytes = parse_engine_size(engine_size)
    check_engine_size(engine_size, engine_bytes, host)
    return TuningTargets(
        all_cpus=tuple(all_cpus),
        worker_cores=tuple(workers),
        housekeeping_cores=tuple(cpu for cpu in all_cpus if cpu not in workers),
        cores_reason=reason,
        engine_bytes=engine_bytes,
        user=engine_user(user),
    )
