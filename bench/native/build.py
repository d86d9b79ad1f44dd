"""Compile the native references on first use and run them under a deadline.

A program is built with the system's C compiler (`$CC`, else `cc`) as
`cc -O2 -o <cache>/<name>-<hash> <name>.c`, where the hash covers the flags and every
C source in this folder (a reference #includes pinned_pair.c), so an edited source
never runs a stale binary, and a binary built once runs without a compiler. The cache
is $XDG_CACHE_HOME/tickpipe/native (default ~/.cache/tickpipe/native).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
CFLAGS = ("-O2",)

# Programs built from another program's source with extra flags: the C rings under
# the previous publication rule (by head index), kept as rows for comparison.
VARIANTS = {
    "spsc_ring_index": ("spsc_ring", ("-DPUBLISH_BY_INDEX",)),
    "ring_pingpong_index": ("ring_pingpong", ("-DPUBLISH_BY_INDEX",)),
}

# The exit code of a program whose own wall-clock guard ran out (pinned_pair.c).
EXIT_TIMEOUT = 3
# Time the Python side grants beyond the program's own wall-clock guard before it
# kills the process group: a hang bound only. The program reads the clock only while
# it spins (every 4096 spins), and two pinned spinners beside a second test suite
# took more than 1 + 10 s to find their 1 s guard gone.
_KILL_GRACE_S = 120.0


class NativeUnavailable(Exception):
    """The native references cannot be built here; str(exc) is the reason."""


class NativeBuildError(RuntimeError):
    """The compiler was found but rejected a source: a bug, not a missing tool."""


def find_compiler() -> str:
    name = os.environ.get("CC") or "cc"
    path = shutil.which(name)
    if path is None:
        raise NativeUnavailable(f"no C compiler ({name}) found")
    return path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tickpipe" / "native"


def _sources_hash() -> str:
    digest = hashlib.sha256(" ".join(CFLAGS).encode())
    for source in sorted(SOURCE_DIR.glob("*.c")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def built_program(name: str) -> Path:
    """Path of the compiled program `name` (from `name`.c, or as VARIANTS says),
    compiling it if needed."""
    source, extra_flags = VARIANTS.get(name, (name, ()))
    target = cache_dir() / f"{name}-{_sources_hash()}"
    if target.exists():
        return target
    compiler = find_compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build under a temporary name and rename: a concurrent run never sees half a binary.
    fd, partial = tempfile.mkstemp(prefix=f"{name}-", dir=target.parent)
    os.close(fd)
    try:
        result = subprocess.run(
            [compiler, *CFLAGS, *extra_flags, "-o", partial, str(SOURCE_DIR / f"{source}.c")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise NativeBuildError(f"{compiler} failed on {source}.c:\n{result.stderr.strip()}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def run_program(name: str, args: list[str], guard_s: int) -> bytes:
    """Run a built program with args and then guard_s; its stdout. The program stops
    itself after guard_s seconds; should it not, its whole process group is killed."""
    program = built_program(name)
    process = subprocess.Popen(
        [str(program), *args, str(guard_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so the forked child dies with it
    )
    try:
        stdout, stderr = process.communicate(timeout=guard_s + _KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise TimeoutError(f"{name} ignored its {guard_s} s guard and was killed") from None
    except BaseException:
        # Ctrl-C or SIGTERM here: its own session does not get the signal, and its two
        # spinning processes would hold both cores until their guard ran out.
        _kill_group(process)
        raise
    message = stderr.decode(errors="replace").strip()
    if process.returncode == EXIT_TIMEOUT:
        raise TimeoutError(f"{name}: {message} ({guard_s} s)")
    if process.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} exited with {process.returncode}: {message}")
    return stdout


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone, reaped below
    process.communicate()
