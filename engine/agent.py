"""The worker agent contract (what engine/worker_main.py drives).

    warm_up()          compile or load the jitted loop, touch no ring
    wait_for_start()   block until the worker may run; False if it must stop instead
    run() -> int       the jitted loop until the stop flag; its status (0 = clean)
    close()            release what the agent holds

A role implements `loop(max_passes)`: its one jitted loop, max_passes < 0 for
"until stopped", 0 for "return at once" (which is how warm-up compiles it).
"""


class LoopAgent:
    def __init__(self, context):
        self.context = context

    def loop(self, max_passes: int) -> int:
        raise NotImplementedError

    def warm_up(self) -> None:
        self.loop(0)

    def wait_for_start(self) -> bool:
        return True  # consumers start at once and idle on their empty rings

    def run(self) -> int:
        return self.loop(-1)

    def close(self) -> None:
        pass
