"""Entry point of one worker process:
`python -m tickpipe.engine.worker_main --engine NAME --role ROLE --supervisor-pid PID ...`.

Lifecycle (the agent pattern): tie our life to the supervisor's -> attach and
pin -> build the role's Agent -> warm up (compile or load the jitted loop from
numba's cache; on any core, then pinned again) -> lock memory if asked -> report READY -> wait for the start
signal (feed only) -> RUNNING -> the jitted loop runs until the stop flag ->
STOPPED. An exception (outside the jitted code, or raised by a strategy's callback
in it) marks the worker FAILED, bumps its error counter, lets the agent explain it
(`explain_failure`: a strategy names the record and, by a re-run in Python, the
user's file and line: engine/poison.py), writes its traceback to the worker's log
file and exits 1; the supervisor names the exception, where it was raised and that
file in one line (failure_summary), and its restart policy (and a strategy's
on_error: engine/on_error.py) takes it from there.

Only the standard library is imported at module level: the death signal must
be set before the heavy imports (numpy, numba and the cffi atomics take hundreds
of milliseconds, a window in which a dying supervisor would leave us orphaned),
and the supervisor imports this module for the log helpers.
"""

import argparse
import calendar
import ctypes
import os
import signal
import stat
import sys
import tempfile
import time
import traceback

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_FAILED = 1
EXIT_ORPHANED = 3     # the supervisor was gone before we could tie ourselves to it
EXIT_FINAL = 4        # failed with engine/role.py's FinalError: a restart cannot help
LOG_MARK = "=== "     # starts every failure entry in a worker log
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
LOG_TAIL_BYTES = 1 << 16
MESSAGE_CHARS = 480  # a strategy's failure names the record it raised on, fields and all


def die_with_parent() -> int:
    """prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills us when our parent dies.

    SIGKILL, not SIGTERM: a worker busy in jitted code or ignoring signals must
    still go. Returns 0 or errno. Through ctypes, so that it costs no import of ours.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), zero, zero, zero) != 0:
        return ctypes.get_errno()
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tickpipe.engine.worker_main")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--role", required=True, type=_worker_name,
                        help="the worker: feed, strategy, strategy2, ..., risk, gateway")
    parser.add_argument("--supervisor-pid", type=int, required=True,
                        help="the supervisor's pid: a worker whose parent is another exits at once")
    parser.add_argument("--config-json", required=True)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    # First thing: between fork and this call a dying supervisor leaves us behind.
    death_signal_error = die_with_parent()
    args = parse_args(argv)
    if death_signal_error:
        print(f"tickpipe {args.role}: cannot tie the worker to its supervisor "
              f"(prctl PR_SET_PDEATHSIG: {os.strerror(death_signal_error)})", file=sys.stderr)
        return EXIT_FAILED
    # If the supervisor died before the prctl, we were re-parented: to init, or to a
    # child subreaper (systemd --user, tini -s), so comparing with 1 is not enough.
    if os.getppid() != args.supervisor_pid:
        print(f"tickpipe {args.role}: supervisor pid {args.supervisor_pid} is gone "
              f"(parent is now pid {os.getppid()}): exiting", file=sys.stderr)
        return EXIT_ORPHANED
    # Ctrl-C goes to the whole process group: the supervisor handles it and
    # drains; a worker must not die of it mid-batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return run_worker(args)


def run_worker(args) -> int:
    """Attach, warm up, run the role's loop; every failure becomes an exit code."""
    from tickpipe.engine.segment import SegmentError, attach_segment

    try:
        segment = attach_segment(args.engine)
    except SegmentError as exc:
        print(f"tickpipe {args.role}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    context = agent = None
    try:
        import importlib
        import json

        from tickpipe.engine.atomics import lib, mlockall_current_and_future
        from tickpipe.engine.worker_context import build_context
        from tickpipe.shm_layouts.worker_table import (
            W_HEARTBEAT_NS, WORKER_READY, WORKER_RUNNING, WORKER_STARTING, WORKER_STOPPED,
        )

        config = json.loads(args.config_json)
        context = build_context(segment, args.role, config)
        set_state(context, WORKER_STARTING)
        # Pinned while the agent allocates its arrays (first touch: its core's memory),
        # unpinned while it warms up: a cold numba cache compiles every role at once,
        # and pinned to a shared core (several workers a core on a small host) those
        # compiles ran one after another on it while the other cores idled.
        anywhere = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {int(context.row["core"])})
        from tickpipe.engine.registry import ROLE_MODULES, role_of
        agent = importlib.import_module(ROLE_MODULES[role_of(args.role)]).Agent(context)
        os.sched_setaffinity(0, anywhere)
        agent.warm_up()
        os.sched_setaffinity(0, {int(context.row["core"])})
        if config["engine"]["lock_memory"]:
            context.row["mem_locked"] = int(mlockall_current_and_future() == 0)
        context.row_words[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        set_state(context, WORKER_READY)
        if not agent.wait_for_start():
            set_state(context, WORKER_STOPPED)
            return 0
        # Fresh heartbeat first: the one of READY may be as old as the slowest worker's
        # warm-up, and the supervisor watches heartbeats from RUNNING on (a feed was
        # killed for a "16.7 s" silence the moment it started).
        context.row_words[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        set_state(context, WORKER_RUNNING)
        status = agent.run()
        agent.close()
    except Exception as exc:  # outside jitted code: report, count, let the policy decide
        mark_failed(context)
        explain = getattr(agent, "explain_failure", None)
        if explain is not None:  # FAILED first: the supervisor no longer watches our heartbeat
            explain(exc)
        report_failure(args.engine, args.role, exc)
        from tickpipe.engine.role import FinalError
        return EXIT_FINAL if isinstance(exc, FinalError) else EXIT_FAILED
    set_state(context, WORKER_STOPPED)
    return 0 if status == 0 else 2


def _worker_name(text: str) -> str:
    """A worker name: a role's (engine/registry.py), or an instance's: strategy2, ...
    (Parsed after the death signal is set: the declarations import numpy.)"""
    from tickpipe.engine.registry import ROLE_MODULES, role_of
    if role_of(text) in ROLE_MODULES:
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a worker (one of "
                                     f"{', '.join(ROLE_MODULES)}, or strategyN)")


# Imported here, not at the top: only a worker that got past its death signal needs them.
def set_state(context, state: int) -> None:
    from tickpipe.engine.atomics_lib import lib
    from tickpipe.shm_layouts.worker_table import STATE_OFFSET
    lib.tp_store_release_u32(context.row_words.ctypes.data + STATE_OFFSET, state)


def mark_failed(context) -> None:
    """Bump the error counter and mark the row FAILED, when we got as far as a row."""
    if context is None:
        return
    from tickpipe.shm_layouts.worker_table import W_ERRORS, WORKER_FAILED
    context.row_words[W_ERRORS] += 1
    set_state(context, WORKER_FAILED)


# ---- the worker's log: a traceback per failure, one line for the supervisor -------

def worker_log_dirs(engine: str) -> list[tuple[str, str]]:
    """Where a worker's log may live, best first: (a directory that must be ours, the
    log directory inside it).

    $XDG_STATE_HOME (default ~/.local/state) is the XDG place for logs a user
    keeps: private to the user, and it outlives the segment, which is unlinked at
    the end of the run, so a post-mortem still finds the traceback. The system
    temp dir is the fallback for a user without a writable home (a service
    account); there another user could plant a directory or a link first, so both
    levels must be real directories we own that nobody else may write into.
    """
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    owned = os.path.join(state_home, "tickpipe")
    fallback = os.path.join(tempfile.gettempdir(), f"tickpipe-{os.getuid()}")
    return [(owned, os.path.join(owned, engine)), (fallback, os.path.join(fallback, engine))]


def _private_dir(path: str) -> bool:
    """Create `path` (0700) if need be; True if it is a real directory of ours that
    nobody else may write into."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() \
        and not info.st_mode & 0o022


def open_worker_log(engine: str, role: str):
    """(file opened for appending, its path), or (None, why not).

    Mode 0600: a traceback can show config values and paths. O_NOFOLLOW: never
    write through a link someone else left in our place.
    """
    reasons = []
    for owned, directory in worker_log_dirs(engine):
        if not (_private_dir(owned) and _private_dir(directory)):
            reasons.append(f"{directory}: not a private directory of ours")
            continue
        path = os.path.join(directory, f"{role}.log")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            reasons.append(f"{path}: {exc.strerror}")
            continue
        os.fchmod(fd, 0o600)  # an older file of ours may have a wider mode
        return os.fdopen(fd, "a"), path
    return None, "; ".join(reasons)


def describe_exception(exc: BaseException) -> str:
    """'ValueError: bad thing, raised at /path/file.py:42', on one line.

    An exception that knows better where it comes from than its own traceback says so
    in `exc.where` (a strategy's failure: the user's file and line, found by a re-run;
    engine/poison.py), which then replaces the last frame's."""
    message = " ".join(str(exc).split())
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS - 3] + "..."
    line = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    where = getattr(exc, "where", None)
    frames = traceback.extract_tb(exc.__traceback__)
    if where:
        line += f", {where}"
    elif frames:
        line += f", raised at {frames[-1].filename}:{frames[-1].lineno}"
    return line


def report_failure(engine: str, role: str, exc: BaseException) -> str | None:
    """Append the full traceback to the worker's log; returns the log's path.

    The supervisor prints the one line (failure_summary), so we print nothing
    unless the log could not be written; then our own one line has to do.
    """
    summary = describe_exception(exc)
    log, path_or_reason = open_worker_log(engine, role)
    if log is not None:
        try:
            with log:
                log.write(f"{LOG_MARK}{time.strftime(STAMP_FORMAT, time.gmtime())} engine "
                          f"{engine} {role} pid {os.getpid()} failed: {summary}\n")
                details = getattr(exc, "log_text", None)  # a strategy's: the record, the re-run
                if details:
                    log.write(details.rstrip("\n") + "\n")
                log.write("".join(traceback.format_exception(exc)))
            return path_or_reason
        except OSError as write_error:
            path_or_reason = f"{path_or_reason}: {write_error.strerror}"
    print(f"tickpipe {role}: {summary} (no log written: {path_or_reason})", file=sys.stderr)
    return None


def failure_summary(engine: str, role: str, pid: int, since_unix_s: float = 0.0) -> str | None:
    """What worker `pid` logged about its failure, as one line naming the log; None if
    it logged nothing (killed by a signal, or gone before it could write).

    Entries stamped before `since_unix_s` (the worker's start) are an earlier
    process's that had the same pid.
    """
    marker = f" {role} pid {pid} failed: "
    for _, directory in worker_log_dirs(engine):
        path = os.path.join(directory, f"{role}.log")
        for line in reversed(_log_tail(path)):
            if line.startswith(LOG_MARK) and marker in line \
                    and _stamp_of(line) >= int(since_unix_s):
                return f"{line.split(marker, 1)[1]}, traceback in {path}"
    return None


def _log_tail(path: str) -> list[str]:
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - LOG_TAIL_BYTES))
            return log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _stamp_of(entry: str) -> int:
    """Unix seconds of a failure entry's stamp; -1 if it has none we can read."""
    try:
        return calendar.timegm(time.strptime(entry[len(LOG_MARK):].split(" ", 1)[0],
                                             STAMP_FORMAT))
    except ValueError:
        return -1


if __name__ == "__main__":
    # The exit without the interpreter's teardown: a worker's state is all in the
    # segment (its row says STOPPED or FAILED before this), its log written and
    # closed, nothing of it is left to flush but stdio. Tearing down numba's and
    # LLVM's structures took ~1 s a worker, which every stop (and every restart's
    # drain) waited for in the supervisor's join.
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
