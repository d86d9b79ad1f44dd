"""Entry point of one worker process: `python -m tickpipe.engine.worker_main --engine NAME --role ROLE`.

Lifecycle (the agent pattern): attach and pin -> build the role's Agent ->
warm up (compile or load the jitted loop from numba's cache) -> lock memory if
asked -> report READY -> wait for the start signal (feed only) -> RUNNING ->
the jitted loop runs until the stop flag -> STOPPED. An exception outside the
jitted code marks the worker FAILED, bumps its error counter and exits 1; the
supervisor's restart policy takes it from there.
"""

import argparse
import importlib
import json
import os
import signal
import sys

from tickpipe.engine.atomics import lib, mlockall_current_and_future
from tickpipe.engine.registry import ROLE_MODULES
from tickpipe.engine.segment import SegmentError, attach_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.worker_table import (
    STATE_OFFSET, W_ERRORS, W_HEARTBEAT_NS, WORKER_FAILED, WORKER_READY, WORKER_RUNNING,
    WORKER_STARTING, WORKER_STOPPED,
)


def set_state(context, state: int) -> None:
    row_address = context.row_words.ctypes.data
    lib.tp_store_release_u32(row_address + STATE_OFFSET, state)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickpipe.engine.worker_main")
    parser.add_argument("--engine", required=True)
    parser.add_argument("--role", required=True, choices=sorted(ROLE_MODULES))
    parser.add_argument("--config-json", required=True)
    args = parser.parse_args(argv)

    # Ctrl-C goes to the whole process group: the supervisor handles it and
    # drains; a worker must not die of it mid-batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lib.tp_set_parent_death_signal(signal.SIGTERM)
    if os.getppid() == 1:
        return 1  # the supervisor died before we set the death signal

    try:
        segment = attach_segment(args.engine)
    except SegmentError as exc:
        print(f"tickpipe {args.role}: {exc}", file=sys.stderr)
        return 1
    config = json.loads(args.config_json)
    context = build_context(segment, args.role, config)
    set_state(context, WORKER_STARTING)
    try:
        os.sched_setaffinity(0, {int(context.row["core"])})
        agent = importlib.import_module(ROLE_MODULES[args.role]).Agent(context)
        agent.warm_up()
        if config["engine"]["lock_memory"]:
            context.row["mem_locked"] = int(mlockall_current_and_future() == 0)
        context.row_words[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        set_state(context, WORKER_READY)
        if not agent.wait_for_start():
            set_state(context, WORKER_STOPPED)
            return 0
        set_state(context, WORKER_RUNNING)
        status = agent.run()
        agent.close()
    except Exception as exc:  # outside jitted code: report, count, let the policy decide
        context.row_words[W_ERRORS] += 1
        set_state(context, WORKER_FAILED)
        print(f"tickpipe {args.role}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    set_state(context, WORKER_STOPPED)
    return 0 if status == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
