"""The probe's worker: every [probe] every_ms, the feed's committed tick count into its
own counter, until the engine stops everyone (a background role stops last)."""

import time

from tickpipe.engine.atomics_lib import lib
from tickpipe.shm_layouts.control_block import FEED_GO_OFFSET, STOP_ALL_OFFSET
from tickpipe.shm_layouts.worker_table import (
    FEED_TICKS, W_BUSY_PASSES, W_COUNTERS, W_HEARTBEAT_NS, WORKER_DTYPE,
)
from role_probe.role import PROBE_PASSES, PROBE_SEEN_TICKS


class Agent:
    def __init__(self, context):
        self.context = context
        self.every_s = context.config["probe"]["every_ms"] / 1000
        self.feed = context.segment.view("workers", WORKER_DTYPE)[0]  # the feed's row

    def warm_up(self) -> None:
        pass

    def wait_for_start(self) -> bool:
        control = self.context.control_address
        while not lib.tp_load_acquire_u32(control + FEED_GO_OFFSET):
            if lib.tp_load_acquire_u32(control + STOP_ALL_OFFSET):
                return False
            self._look()
            time.sleep(self.every_s)
        return True

    def run(self) -> int:
        control = self.context.control_address
        while True:
            stopping = lib.tp_load_acquire_u32(control + STOP_ALL_OFFSET)
            self._look()
            if stopping:
                return 0
            time.sleep(self.every_s)

    def _look(self) -> None:
        words = self.context.row_words
        words[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        words[W_BUSY_PASSES] += 1
        words[W_COUNTERS + PROBE_PASSES] += 1
        words[W_COUNTERS + PROBE_SEEN_TICKS] = int(self.feed["counters"][FEED_TICKS])

    def close(self) -> None:
        pass
