"""One worker's real loop in a forked process over a real segment, the rest of the
engine played by the test (pushing records, reading ring positions)."""

import contextlib
import os
import signal
import time

import numpy as np

from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.segment import create_segment, unlink_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET


def ring_position(segment, section, offset):
    start, _ = segment.section(section)
    return int(np.frombuffer(segment.buf[start + offset:start + offset + 8], np.uint64)[0])


def wait_until(condition, what, deadline):
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@contextlib.contextmanager
def worker_segment(config, role):
    """A fresh segment for `config` and `role`'s context over it; removed at the end."""
    name = config["engine"]["name"]
    unlink_segment(name)
    segment = create_segment(name, section_specs(config), use_hugetlbfs=False)
    try:
        initialise(segment, config, place_workers(PIPELINE, None, "yield"))
        segment.mark_ready()
        yield segment, build_context(segment, role, config)
    finally:
        segment.close()
        unlink_segment(name)


@contextlib.contextmanager
def forked_loop(segment, agent):
    """The agent's loop until stop_all, in a child; stopped (and checked not to have
    died of a signal) at the end."""
    pid = os.fork()
    if pid == 0:
        os._exit(agent.loop(-1))
    try:
        yield pid
    finally:
        np.frombuffer(segment.buf, np.uint32, 1, segment.section("control")[0]
                      + STOP_ALL_OFFSET)[0] = 1
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        if os.WIFSIGNALED(status):
            raise AssertionError(f"the worker died of {signal.Signals(os.WTERMSIG(status)).name}")
