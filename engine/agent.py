"""The worker agent contract (what engine/worker_main.py drives).

    warm_up()          compile or load the jitted loop, touch no ring
    wait_for_start()   block until the worker may run; False if it must stop instead
    run() -> int       the jitted loop until the stop flag; its status (0 = clean)
    close()            release what the agent holds

A role implements `loop(max_passes)`: its one jitted loop, max_passes < 0 for
"until stopped", 0 for "return at once" (which is how warm-up compiles it).
"""

import time
from abc import ABC, abstractmethod

from tickpipe.engine.atomics_lib import lib
from tickpipe.shm_layouts.control_block import STOP_ALL_OFFSET


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
        control = self.context.control_address
        while not lib.tp_load_acquire_u32(control + flag_offset):
            if lib.tp_load_acquire_u32(control + STOP_ALL_OFFSET):
                return False
            time.sleep(poll_s)
        return True
