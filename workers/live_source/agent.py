"""The live source's worker: its adapter (adapter.py) in a thread of its own, putting
records on the ring through the sink; this thread keeps the heartbeat and the stop.

Not a jitted loop: the work is a network client's, in Python, a few microseconds a
record, far from a live feed's rate; the feed's kernel does the fan-out. Restart-safe
with nothing of its own to recover: the ring's head is every record it ever put
there (a record is on the ring or not: a kill between a record's fields and its
publish leaves nothing half-sent), and a restarted adapter reconnects; what the venue
sent while no adapter ran is not replayed (a live stream has no replay), and the
reconnect is counted.

It starts streaming at the feed's go and stops at the feed's stop flag: the feed, a
live one, reads on until this worker has left and the ring is empty, so the drain
loses nothing that was put on it.
"""

import threading

from tickpipe.engine.agent import say, wait_for_flag
from tickpipe.engine.atomics_lib import lib
from tickpipe.shm_layouts.control_block import FEED_GO_OFFSET, STOP_ALL_OFFSET, STOP_FEED_OFFSET
from tickpipe.shm_layouts.worker_table import W_HEARTBEAT_NS, W_IDLE_PASSES
from tickpipe.workers.live_source.adapter import load_adapter
from tickpipe.workers.live_source.role import ROLE
from tickpipe.workers.live_source.sink import RingSink

BEAT_S = 0.02          # the heartbeat's period (and how soon a stop is seen)
JOIN_S = 10.0          # at stop: how long the adapter's run() may take to return
SECTION = ROLE.rings[0].section


class Agent:
    def __init__(self, context):
        self.context = context
        config = context.config
        self.settings = config["live_source"]
        self.adapter_class = load_adapter(self.settings["adapter"])
        self.sink = RingSink(context.segment, SECTION, context.row_words,
                             context.control_address, config["instruments"],
                             self.settings["qty_scale"], say)
        self.sink.disconnected("its last process died")  # after a restart: that link is gone
        self.adapter = self.adapter_class(
            self.settings, [entry["name"] for entry in config["instruments"]], self.sink)
        self.failure: BaseException | None = None

    def warm_up(self) -> None:
        pass

    def wait_for_start(self) -> bool:
        return wait_for_flag(self.context.control_address, FEED_GO_OFFSET, self._beat)

    def run(self) -> int:
        thread = threading.Thread(target=self._run_adapter, name="live-source", daemon=True)
        thread.start()
        control = self.context.control_address
        while thread.is_alive():
            self._beat()
            if lib.tp_load_acquire_u32(control + STOP_FEED_OFFSET) or \
                    lib.tp_load_acquire_u32(control + STOP_ALL_OFFSET):
                self.adapter.stop()
                thread.join(JOIN_S)
                break
            thread.join(BEAT_S)
        self.sink.disconnected("stopping")
        if self.failure is not None:
            raise self.failure  # the worker fails, naming it; the restart policy decides
        if not self.sink.stopping:
            raise RuntimeError(f"live source {self.adapter_class.__name__}: its run() "
                               f"returned while the engine runs")
        return 0

    def _run_adapter(self) -> None:
        try:
            self.adapter.run()
        except BaseException as exc:  # handed to run(), in the worker's main thread
            self.failure = exc

    def _beat(self) -> None:
        words = self.context.row_words
        words[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        words[W_IDLE_PASSES] += 1

    def close(self) -> None:
        pass
