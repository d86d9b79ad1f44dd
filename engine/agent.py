"""The worker agent contract (what engine/worker_main.py drives).

    warm_up()          compile or load the jitted loop, touch no ring
    wait_for_start()   block until the worker may run; False if it must stop instead
    run() -> int       the jitted loop until the stop flag; its status (0 = clean)
    close()            release what the agent holds

A role implements `loop(max_passes)`: its one jitted loop, max_passes < 0 for
"until stopped", 0 for "return at once" (which is how warm-up compiles it).
"""

import sys
import time
from abc import ABC, abstractmethod

from tickpipe.engine.atomics_lib import lib
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET


def say(line: str) -> None:
    """A worker's line for the user: on stderr, which the supervisor passes on."""
    print(line, file=sys.stderr, flush=True)


def wait_for_flag(control_address: int, flag_offset: int, between=lambda: None,
                  poll_s: float = 0.001) -> bool:
    """Sleep-poll until a control word is set; False if stop_all came first. `between`
    runs at each look (a background worker's heartbeat)."""
    while not lib.tp_load_acquire_u32(control_address + flag_offset):
        if lib.tp_load_acquire_u32(control_address + STOP_ALL_OFFSET):
            return False
        between()
        time.sleep(poll_s)
    return True


class LoopAgent(ABC):
    def __init__(self, context):
        self.context = context

    @abstractmethod
    def loop(self, max_passes: int) -> int:
        """Run the role's jitted loop for `max_passes` passes (< 0: until stopped)."""

    def warm_up(self) -> None:
        self.loop(0)

    def wait_for_start(self) -> bool:
        return True  # consumers start at once and idle on their empty rings

    def run(self) -> int:
        return self.loop(-1)

    def close(self) -> None:
        pass

    def wait_for_flag(self, flag_offset: int, poll_s: float = 0.0005) -> bool:
        """Sleep-poll until a control word is set; False if stop_all came first."""
        return wait_for_flag(self.context.control_address, flag_offset, poll_s=poll_s)
