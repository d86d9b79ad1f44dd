"""The supervisor: owns the segment and the workers' lifecycle.

It creates and initialises the segment, starts the four workers as separate
processes (by role, through engine/registry.py), waits for all of them to
report READY (the start barrier) before it lets the feed go, watches pids and
heartbeats, applies the restart policy, and on a stop (SIGINT/SIGTERM or the
end of --seconds) stops the feed first and drains every ring downstream before
it stops the rest, so nothing in flight is lost.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections import deque

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.engine_layout import (
    engine_rings, engine_workers, gate_readers, initialise, outputs_of, role_of, section_specs,
    strategy_index, worker_index, worker_label,
)
from tickpipe.engine.lifecycle import (
    DRAINING, FAILING, FINAL_STATES, RUNNING, SHM_CODES, Lifecycle,
)
from tickpipe.engine.book_checks import check_books
from tickpipe.engine.on_error import STOP, OnError, others_trading
from tickpipe.engine.placement import place_apart, place_workers
from tickpipe.engine.registry import ROLES
from tickpipe.engine.role import RoleError, call
from tickpipe.engine.cleanup import describe, name_taken_reason, remove_if_still_dead
from tickpipe.engine.procinfo import process_start_ticks
from tickpipe.engine.report import (
    counts, final_report, histogram_snapshot, ring_positions, status_line, stranded_records,
)
from tickpipe.engine.ring_layout import ring_header
from tickpipe.engine.segment import (
    SegmentError, create_segment, segment_locations,
)
from tickpipe.engine.worker_main import EXIT_FINAL, failure_summary
from tickpipe.shm_layouts.control_block import (
    CLOSING_OFFSET, CONTROL_DTYPE, ENGINE_STATE_OFFSET, FEED_GO_OFFSET, RETIRED_OFFSET,
    STOP_ALL_OFFSET, STOP_FEED_OFFSET,
)
from tickpipe.shm_layouts.worker_table import (
    DOORBELL_OFFSET, STATE_OFFSET, WORKER_DTYPE, WORKER_FAILED, WORKER_READY, WORKER_RUNNING,
    WORKER_STOPPED,
)

POLL_S = 0.02
JOIN_TIMEOUT_S = 5.0


class EngineError(Exception):
    """The engine cannot start or run; one line for a person.

    `stopped_by` names the signal (SIGINT, SIGTERM) when a person stopped it."""

    def __init__(self, message: str, stopped_by: str | None = None):
        super().__init__(message)
        self.stopped_by = stopped_by


def reclaim_leftover(name: str) -> str | None:
    """Remove a leftover segment of a dead engine; refuse a live one. Returns a note or None."""
    for location in segment_locations():
        if location.name != name:
            continue
        info = describe(location)
        if info is None:
            continue  # it went away meanwhile
        refusal = name_taken_reason(info)  # whose it is and how to take it back
        if refusal is not None:
            raise EngineError(refusal)
        result = remove_if_still_dead(info)
        if not result.removed:
            raise EngineError(f"segment {name!r}: {result.reason}")
        return f"reclaimed the segment of a dead engine {name!r} (owner pid {info.owner_pid} is gone)"
    return None


def _cache_is_cold() -> bool:
    """No compiled function in numba's cache directory yet (tickpipe/__init__.py keys it by
    tickpipe's sources, so an install or an upgrade starts an empty one)."""
    directory = os.environ.get("NUMBA_CACHE_DIR")
    if not directory or not os.path.isdir(directory):
        return True
    for _path, _dirs, files in os.walk(directory):
        if any(name.endswith(".nbi") for name in files):
            return False
    return True


class Supervisor:
    def __init__(self, config: dict, *, keep: bool = False, say=lambda line: None,
                 status=lambda line: None):
        self.config = config
        self.engine = config["engine"]
        self.keep = keep
        self.say = say            # one-off lines (placement, reclaim, restarts)
        self.status = status      # the per-second status line
        self.notes: list[str] = []
        self.failures: list[str] = []  # why the run will not end `stopped`, in order
        self.workers = engine_workers(config)   # worker names, in table order
        self.rings = engine_rings(config)
        self.gate_readers = gate_readers(config)  # the roles reading a ring through its gate
        self.drain_waited: list[str] = []  # what a drain that timed out still waited for
        # the roles this engine runs (engine/role.py), each once, in role_id order
        self.roles = [role for role in ROLES.values() if role.enabled(config)]
        self.prepared: dict[str, object] = {}  # what each role's prepare hook returned
        # the pipeline's source (the feed): let go at the start barrier, stopped first
        self.source = next(role.name for role in self.roles if role.source)
        self.placement = place_workers([w for w in self.workers if not self._background(w)],
                                       self.engine["cores"], self.engine["wait"],
                                       self.engine["rate"])
        for worker in self.workers:
            if self._background(worker):
                place_apart(self.placement, worker)
        self.lifecycle = Lifecycle(self._on_transition)
        self.segment = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.restart_times: deque[float] = deque()
        self.retired: list[str] = []   # strategy workers given up while the others trade on
        self.on_error = OnError(config)  # what a strategy's callback raising twice does
        self.restarted_at: dict[str, float] = {}  # restarted workers not yet READY: since when
        self.stop_signal: str | None = None
        # what ended the run: "seconds", "data-end", the signal's name; a failure: "failure"
        self.ended_by: str | None = None
        self.heartbeat_kills: dict[int, float] = {}  # pid: seconds silent, when we killed it
        self.dma_latency_fd: int | None = None
        self.feed_started = 0.0

    def _background(self, worker: str) -> bool:
        return ROLES[role_of(worker)].background

    def _prepare_roles(self) -> None:
        """Each role's own preparation before the segment exists (the strategies'
        compile, the journal's run folder): a failure is one line."""
        if _cache_is_cold():
            self.say("numba's cache is cold (a first run after an install or upgrade): "
                     "compiling the engine's loops into it, a minute or more; later starts "
                     "load them")
        for role in self.roles:
            if role.prepare:
                try:
                    self.prepared[role.name] = call(role.prepare, self.config, self.say)
                except RoleError as exc:
                    raise EngineError(str(exc)) from None

    def _warm_roles(self) -> None:
        """Each role's hook once every worker is READY (the strategies' inline tier)."""
        for role in self.roles:
            if role.warm:
                call(role.warm, self.config, self.say, self.prepared.get(role.name))

    # ---- wiring ---------------------------------------------------------
    def _on_transition(self, old, trigger, new):
        if self.segment is not None:
            lib.tp_store_release_u32(self.control_address + ENGINE_STATE_OFFSET, SHM_CODES[new])

    @property
    def control_address(self) -> int:
        return self.segment.base_address + self.segment.section("control")[0]

    def _row(self, role):
        return self.segment.view("workers", WORKER_DTYPE)[worker_index(role)]

    def _row_address(self, role) -> int:
        offset, _ = self.segment.section("workers")
        return self.segment.base_address + offset + worker_index(role) * WORKER_DTYPE.itemsize

    def _worker_state(self, role) -> int:
        return lib.tp_load_acquire_u32(self._row_address(role) + STATE_OFFSET)

    def _set_flag(self, offset: int) -> None:
        lib.tp_store_release_u32(self.control_address + offset, 1)

    def ring_doorbell(self, role) -> None:
        """Wake a worker sleeping on its doorbell (to see a stop flag at once)."""
        wake_seq = self._row_address(role) + DOORBELL_OFFSET + 4
        lib.tp_fetch_add_u32(wake_seq, 1)
        lib.tp_futex_wake(wake_seq, 1 << 30)

    # ---- start ----------------------------------------------------------
    def start(self) -> None:
        self._prepare_roles()
        note = reclaim_leftover(self.engine["name"])
        if note:
            self.say(note)
            self.notes.append(note)
        try:
            self.segment = create_segment(self.engine["name"], section_specs(self.config),
                                          lock=self.engine["lock_memory"],
                                          use_hugetlbfs=self.engine["use_hugetlbfs"])
        except SegmentError as exc:
            raise EngineError(str(exc)) from None
        self.say(self.placement.summary(self._label))  # once the engine is sure to start
        initialise(self.segment, self.config, self.placement)
        control = self.segment.view("control", CONTROL_DTYPE)[0]
        control["started_unix_ns"] = time.time_ns()
        self.segment.mark_ready()
        if self.engine["cpu_dma_latency"]:
            self._hold_cpu_dma_latency()
        self.lifecycle.fire("spawn")
        for role in self.workers:
            self._spawn(role)
        self.lifecycle.fire("spawned")

    def _hold_cpu_dma_latency(self) -> None:
        try:
            self.dma_latency_fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
            os.write(self.dma_latency_fd, struct.pack("i", 0))
        except OSError as exc:
            self.notes.append(f"cpu_dma_latency not held: {exc.strerror}")

    def _spawn(self, role: str) -> None:
        # --supervisor-pid: a worker checks that its parent is still us once its death
        # signal is set; under a child subreaper it cannot tell by comparing with 1.
        command = [sys.executable, "-m", "tickpipe.engine.worker_main", "--engine", self.engine["name"],
                   "--role", role, "--supervisor-pid", str(os.getpid()),
                   "--config-json", json.dumps(self.config)]
        # Own process group: a signal meant for the engine (Ctrl-C, `kill -- -PGID`,
        # `timeout`) reaches the supervisor alone, which drains; PDEATHSIG still ties
        # every worker to the supervisor (engine/worker_main.py).
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, process_group=0)
        self.procs[role] = proc
        row = self._row(role)
        row["pid"] = proc.pid
        row["start_ticks"] = process_start_ticks(proc.pid) or 0
        row["started_unix_ns"] = time.time_ns()
        if self.engine["sched_fifo"] and self.placement.waits[role] == "spin" \
                and not self.placement.shared:
            try:
                os.sched_setscheduler(proc.pid, os.SCHED_FIFO, os.sched_param(50))
                row["sched_fifo"] = 1
            except OSError as exc:
                self.notes.append(f"SCHED_FIFO for {self._label(role)} refused: {exc.strerror}")

    def wait_until_ready(self) -> None:
        """The start barrier: every worker READY, then the feed may go."""
        deadline = time.monotonic() + self.engine["ready_timeout_s"]
        while True:
            states = {role: self._worker_state(role) for role in self.workers}
            if all(state == WORKER_READY or state == WORKER_RUNNING for state in states.values()):
                break
            dead = [role for role, proc in self.procs.items() if proc.poll() is not None]
            if dead:
                self.lifecycle.fire("worker_died")
                proc = self.procs[dead[0]]
                raise EngineError(f"{self._label(dead[0])} died while warming up "
                                  f"({self._describe_death(dead[0], proc)})")
            if self.stop_signal:
                self.lifecycle.fire("stop_requested")
                raise EngineError(f"stopped by {self.stop_signal} while warming up",
                                  stopped_by=self.stop_signal)
            if time.monotonic() > deadline:
                self.lifecycle.fire("ready_timeout")
                slow = [role for role, state in states.items() if state != WORKER_READY]
                raise EngineError(f"workers {', '.join(map(self._label, slow))} not ready after "
                                  f"{self.engine['ready_timeout_s']} s ([engine] ready_timeout_s; "
                                  f"a first run compiles the engine's loops into numba's cache)")
            time.sleep(POLL_S)
        self.lifecycle.fire("all_ready")
        self.feed_started = time.monotonic()
        control = self.segment.view("control", CONTROL_DTYPE)[0]
        control["feed_started_ns"] = lib.tp_monotonic_ns()  # tools' run-average rates start here
        self._set_flag(FEED_GO_OFFSET)

    # ---- run ------------------------------------------------------------
    def monitor(self) -> None:
        """Watch the workers until the run time is up or a stop is asked for."""
        seconds = self.engine["seconds"]
        last_status = time.monotonic()
        last_counts, last_hist = counts(self.segment), histogram_snapshot(self.segment)
        while self.lifecycle.state == RUNNING:
            time.sleep(POLL_S)
            self._check_workers()
            now = time.monotonic()
            if now - last_status >= 1.0:
                current, hist = counts(self.segment), histogram_snapshot(self.segment)
                self.status(status_line(now - self.feed_started, last_counts, current,
                                        now - last_status, last_hist, hist))
                last_status, last_counts, last_hist = now, current, hist
            if self.stop_signal:
                self.ended_by = self.stop_signal
                self.lifecycle.fire("stop_requested")
            elif seconds and now - self.feed_started >= seconds:
                self.ended_by = "seconds"
                self.lifecycle.fire("time_up")
            elif self._data_ended():
                self.ended_by = "data-end"
                tape = self.config.get("tape")
                self.say(f"{self.source}: {tape['records']:,} records of "
                         f"{os.path.basename(self.config['feed']['file'])} replayed, to its end"
                         if tape else f"{self.source}: its data ended")
                self.lifecycle.fire("data_ended")

    def _data_ended(self) -> bool:
        """The source left on its own, cleanly: a replaying feed does once its tape is all
        sent (workers/feed/agent.py). Its row says STOPPED (before its interpreter's exit,
        which the run's time must not include), and its exit, if it has exited, was clean."""
        proc = self.procs.get(self.source)
        return (proc is not None and proc.poll() in (None, 0)
                and self._worker_state(self.source) == WORKER_STOPPED)

    def _check_workers(self) -> None:
        timeout_ns = int(self.engine["heartbeat_timeout_s"] * 1e9)
        now_ns = lib.tp_monotonic_ns()
        for role, proc in list(self.procs.items()):
            if proc.poll() is None:
                state = self._worker_state(role)
                heartbeat = int(self._row(role)["heartbeat_ns"])
                if state == WORKER_RUNNING and heartbeat and now_ns - heartbeat > timeout_ns:
                    silent = (now_ns - heartbeat) / 1e9
                    self.say(f"{self._label(role)} (pid {proc.pid}) missed its heartbeat for "
                             f"{silent:.1f} s: killing it")
                    proc.kill()
                    proc.wait()
                    # the report's note says why (--json prints no line): not a kill from outside
                    self.heartbeat_kills[proc.pid] = silent
                else:
                    continue
            if self._worker_state(role) == WORKER_STOPPED and proc.returncode == 0:
                continue  # left cleanly (the feed after stop_feed)
            self._handle_death(role, proc)

    def _describe_death(self, role: str, proc) -> str:
        """'signal 9', or 'exit code 1, ValueError: ..., raised at FILE:LINE, traceback in LOG'
        when the worker logged its failure (engine/worker_main.py)."""
        returncode = proc.returncode
        if proc.pid in self.heartbeat_kills:
            return (f"signal {-returncode}: killed by the supervisor, its heartbeat missed for "
                    f"{self.heartbeat_kills.pop(proc.pid):.1f} s ([engine] "
                    f"heartbeat_timeout_s = {self.engine['heartbeat_timeout_s']:g})")
        if returncode is not None and returncode < 0:
            return f"signal {-returncode}"
        started_s = int(self._row(role)["started_unix_ns"]) / 1e9
        failure = failure_summary(self.engine["name"], role, proc.pid, started_s)
        return f"exit code {returncode}, {failure}" if failure else f"exit code {returncode}"

    def _handle_death(self, role: str, proc) -> None:
        lib.tp_store_release_u32(self._row_address(role) + STATE_OFFSET, WORKER_FAILED)
        how = self._describe_death(role, proc)
        # Running or stopping alike: a worker that dies during the drain is restarted
        # under the same policy and limit, and the drain waits for it to recover
        # (_warming); "killed at any moment is restarted" holds until stop_all.
        if proc.returncode == EXIT_FINAL:
            self._give_up(role, f"{self._label(role)} died ({how}); a restart cannot help: "
                          "stopping all")
            return
        if self.engine["restart"] == "fail-fast":
            self._give_up(role, f"{self._label(role)} died ({how}); restart policy fail-fast: "
                          "stopping all")
            return
        if self._on_error(role, proc, how):
            return
        if self._retirable(role) and self._over_the_limit():
            self._retire(role, f"{self._label(role)} died ({how}); {len(self.restart_times)} "
                         f"restarts in the last {self.engine['restart_window_s']:g} s reached the limit: "
                         f"strategy {self._strategy_name(role)!r} retired, the other "
                         f"strategies trade on")
            return
        now = time.monotonic()
        window = self.engine["restart_window_s"]
        while self.restart_times and now - self.restart_times[0] > window:
            self.restart_times.popleft()
        if len(self.restart_times) >= self.engine["max_restarts"]:
            self._give_up(role, f"{self._label(role)} died ({how}); {len(self.restart_times)} "
                          f"restarts in the last {window:g} s reached the limit: stopping all")
            return
        self.restart_times.append(now)
        row = self._row(role)
        row["restarts"] += 1
        self.say(f"{self._label(role)} died ({how}); restarting it "
                 f"(restart {int(row['restarts'])})")
        self.notes.append(f"{self._label(role)} restarted after {how}")
        self._spawn(role)
        self.restarted_at[role] = now  # warming up until READY (_warming)
        self.lifecycle.fire("worker_restarted")

    def _on_error(self, role: str, proc, how: str) -> bool:
        """A strategy whose callback raised again on the record its last process raised on:
        its [[strategy]] on_error (engine/on_error.py) "retire" or "skip" restarts it
        retired or with the record to skip (outside the restart intensity: the policy
        handled it), and True. False for "stop" (today's behaviour) and any other death:
        the restart policy's."""
        if not ROLES[role_of(role)].runs_plugins:
            return False
        mode = self.on_error.after_death(self.segment, role, proc.pid)
        if mode is None or mode == STOP:
            return False
        line = self.on_error.verdict_line(self._label(role), how, mode, others_trading(
            role, self.procs, self.config, self.segment))
        self.say(line)
        self.notes.append(line)
        self._row(role)["restarts"] += 1
        self._spawn(role)
        self.restarted_at[role] = time.monotonic()  # warming up until READY (_warming)
        self.lifecycle.fire("worker_restarted")
        return True

    def _over_the_limit(self) -> bool:
        now, window = time.monotonic(), self.engine["restart_window_s"]
        return sum(1 for t in self.restart_times if now - t <= window) >= \
            self.engine["max_restarts"]

    def _retirable(self, role: str) -> bool:
        """A plug-in's worker (a strategy's), with another of its role still running:
        giving it up need not stop the engine."""
        return ROLES[role_of(role)].runs_plugins and any(
            role_of(other) == role_of(role) for other in self.procs if other != role)

    def _strategy_name(self, role: str) -> str:
        return self.config["strategies"][strategy_index(role)]["name"]

    def _label(self, role: str) -> str:
        """The worker as its lines name it: `strategy <name>` for a strategy's."""
        return worker_label(role, [entry["name"] for entry in self.config.get("strategies", [])])

    def _retire(self, role: str, reason: str) -> None:
        """Leave a dead strategy dead: the feed stops filling its quotes ring and the
        gateway its reports ring; the rest of the engine runs on. The run still ends
        failed (the reason is kept), its rings' records left unread by the drain."""
        self.say(reason)
        self.notes.append(reason)
        self.failures.append(reason)
        del self.procs[role]
        self.retired.append(role)
        lib.tp_store_release_u32(self.control_address + RETIRED_OFFSET + 4 * strategy_index(role),
                                 1)

    def _give_up(self, role: str, reason: str) -> None:
        """Leave the dead `role` dead (no longer watched) and start stopping the rest."""
        self.say(reason)
        self.notes.append(reason)
        self.failures.append(reason)
        del self.procs[role]
        self.lifecycle.fire("give_up")

    # ---- stop -----------------------------------------------------------
    def drain_and_stop(self) -> None:
        """Stop the feed, wait until every ring is empty, then stop everyone else.

        Ends `drained`, `drain_stranded` (the rings still holding records can never
        be read: their reader was given up) or `drain_timeout`; the last two leave
        a note naming the records stranded in each ring. First `closing`: risk
        refuses new orders and the venue cancels every working one, so the run ends
        with every order final (the drain waits for the venue to hold none)."""
        self._set_flag(CLOSING_OFFSET)
        for worker in self.procs:  # what a role finishes at the close (the venue's cancels)
            if ROLES[role_of(worker)].drained:
                self.ring_doorbell(worker)
        self._set_flag(STOP_FEED_OFFSET)
        self.ring_doorbell(self.source)
        trigger = self._wait_for_drain(time.monotonic() + self.engine["drain_timeout_s"])
        if trigger == "drained" and self.retired:
            trigger = "drain_stranded"  # a reader was given up: not a clean stop
        self._set_flag(STOP_ALL_OFFSET)
        for role in self.workers:
            self.ring_doorbell(role)
        self._join_all()
        if trigger == "drained" and self.lifecycle.state == DRAINING:
            trigger = self._books_trigger()
        elif trigger != "drained":
            note = self._stranded_note(trigger)
            self.notes.append(note)
            self.failures.append(note)
        self.lifecycle.fire(trigger)

    def _books_trigger(self) -> str:
        """A clean drain is only a clean stop if the engine's own books add up: every
        check of engine/book_checks.py (the workers have stopped), each failure one line
        with its figures; 'books_wrong' when one fails, else 'drained'."""
        failures = check_books(self.segment, drained=True)
        if not failures:
            return "drained"
        checks = "1 check" if len(failures) == 1 else f"{len(failures)} checks"
        self.failures.append(f"the books do not add up ({checks} failed): "
                             + "; ".join(failures[:5]) + ("; ..." if len(failures) > 5 else ""))
        self.notes.extend(failures)
        return "books_wrong"

    def _wait_for_drain(self, deadline: float) -> str:
        """Poll until every ring that can still drain is empty; returns the trigger. A
        worker that dies meanwhile is restarted by the policy (_check_workers), and the
        drain goes on once it has recovered."""
        empty_checks = 0
        last = time.monotonic()
        while time.monotonic() < deadline:
            self._check_workers()
            now = time.monotonic()
            if self._warming():
                # A worker restarted during the drain has not recovered yet (what its
                # last commit made may still be unpublished): nothing can be called
                # drained, and its warm-up (at most ready_timeout_s) does not count
                # against the drain's time.
                deadline += now - last
                last = now
                empty_checks = 0
                time.sleep(POLL_S)
                continue
            last = now
            positions = ring_positions(self.segment)
            stuck = self._rings_that_cannot_drain(positions)
            if self._source_done() and self._roles_drained() and self._gates_passed(stuck) and \
                    all(head == tail for section, (head, tail) in positions.items()
                        if section not in stuck):
                # Twice in a row: a worker releases its input only after publishing
                # what it made of it, so empty rings twice mean nothing is in flight.
                empty_checks += 1
                if empty_checks >= 2:
                    left = any(head != tail for head, tail in positions.values())
                    return "drain_stranded" if left else "drained"
            else:
                empty_checks = 0
            time.sleep(POLL_S)
        self.drain_waited = self._drain_waits(ring_positions(self.segment))
        return "drain_timeout"

    def _drain_waits(self, positions: dict) -> list[str]:
        """What a drain that timed out was still waiting for, beside the records in the
        rings (said by _stranded_note): the source, a role's close, a gate's reader."""
        waits = []
        if not self._source_done():
            waits.append(f"{self._label(self.source)} to stop")
        waits += [f"{role.name} to finish its close ({role.drained.rsplit(':', 1)[-1]})"
                  for role in self.roles
                  if role.drained and role.name in self.procs and not call(role.drained,
                                                                           self.segment)]
        stuck = self._rings_that_cannot_drain(positions)
        for ring in self.rings:
            header = ring_header(self.segment, ring.section)
            behind = int(header["head"]) - int(header["gate"])
            if ring.section not in stuck and int(header["gated"]) and behind:
                readers = " and ".join(self.gate_readers.get(ring.section, ())) or "its gate's reader"
                waits.append(f"{readers} to pass {behind:,} records of {ring.section}")
        return waits

    def _warming(self) -> bool:
        """Whether a restarted worker is still warming up: not READY yet, alive, and
        within ready_timeout_s of its restart. READY means recovered (engine/commit.py
        `recover` runs before the warm-up): its committed outputs published, its
        committed inputs released."""
        now = time.monotonic()
        for role, since in list(self.restarted_at.items()):
            proc = self.procs.get(role)
            if proc is None or proc.poll() is not None or now - since > \
                    self.engine["ready_timeout_s"] or self._worker_state(role) in (
                        WORKER_READY, WORKER_RUNNING, WORKER_STOPPED):
                del self.restarted_at[role]  # (a dead one: _check_workers handles it)
        return bool(self.restarted_at)

    def _roles_drained(self) -> bool:
        """What each role's `drained` hook waits for (the venue holding no order), of the
        roles whose worker is still there to finish it."""
        return all(call(role.drained, self.segment) for role in self.roles
                   if role.drained and role.name in self.procs)

    def _source_done(self) -> bool:
        return self._worker_state(self.source) in (WORKER_STOPPED, WORKER_FAILED) \
            or self.source not in self.procs or self.procs[self.source].poll() is not None

    def _gates_passed(self, stuck: set[str]) -> bool:
        """On gated rings, the reader through the gate (the journal; a bridge) has every
        record published (engine/ring.py)."""
        for ring in self.rings:
            if ring.section not in stuck:
                header = ring_header(self.segment, ring.section)
                if int(header["gated"]) and int(header["gate"]) != int(header["head"]):
                    return False
        return True

    def _rings_that_cannot_drain(self, positions: dict) -> set[str]:
        """Rings whose reader was given up, and, upstream of them, rings whose reader
        waits for room in a full ring that cannot drain: waiting on them is waiting
        for the timeout; and rings read through a gate by a role given up (every ring, for
        the journal)."""
        stuck = {section for section, readers in self.gate_readers.items()
                 if any(name not in self.procs for name in readers)}
        grew = True
        while grew:
            grew = False
            for ring in self.rings:
                if ring.section in stuck:
                    continue
                blocked = any(out.section in stuck and self._ring_full(out.section, positions)
                              for out in outputs_of(ring.consumer, self.rings))
                if ring.consumer not in self.procs or blocked:
                    stuck.add(ring.section)
                    grew = True
        return stuck

    def _ring_full(self, section: str, positions: dict) -> bool:
        head, tail = positions[section]
        return head - tail >= int(ring_header(self.segment, section)["capacity"])

    def _stranded_note(self, trigger: str) -> str:
        """One line: why the drain ended and the records left in each ring."""
        stranded = stranded_records(self.segment)
        total = sum(stranded.values())
        per_ring = ", ".join(f"{section} {count:,}" for section, count in stranded.items())
        if trigger == "drain_timeout":
            why = f"drain timed out after {self.engine['drain_timeout_s']:g} s"
            if self.drain_waited:
                why += f", waiting for {'; '.join(self.drain_waited)}"
        else:
            why = "drain ended early, what is left can no longer be read (its reader was given up)"
        return f"{why}: {total:,} records stranded" + (f" ({per_ring})" if per_ring else "")

    def _join_all(self) -> None:
        """Every worker, the background roles last: the journal leaves its loop only once
        the others have left theirs (it writes what they published last), so it gets a
        wait of its own."""
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        order = sorted(self.procs.items(), key=lambda item: self._background(item[0]))
        for role, proc in order:
            if self._background(role):
                deadline = max(deadline, time.monotonic() + JOIN_TIMEOUT_S)
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.notes.append(f"{self._label(role)} did not stop in {JOIN_TIMEOUT_S} s: killed")

    def shutdown(self) -> None:
        """Release what the supervisor holds; unlink the segment unless --keep."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self.dma_latency_fd is not None:
            os.close(self.dma_latency_fd)
            self.dma_latency_fd = None
        if self.segment is not None and not self.keep:
            try:
                os.unlink(self.segment.path)
            except FileNotFoundError:
                pass

    # ---- the whole run --------------------------------------------------
    def run(self) -> dict:
        """Start, run, drain, report. Signals SIGINT/SIGTERM start the drain."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            self.wait_until_ready()
            self._warm_roles()
            self.monitor()
            seconds = time.monotonic() - self.feed_started  # the run, without the drain
            if self.lifecycle.state in (DRAINING, FAILING):
                self.drain_and_stop()
            report = final_report(self.segment, state=self.lifecycle.state, seconds=seconds,
                                  notes=self.notes, config=self.config)
            # A caller running several engines in turn (bench pipeline) must learn that
            # the user asked everything to stop, not just this engine.
            report["stopped_by"] = self.stop_signal
            report["ended_by"] = self.ended_by or "failure"
            report["failures"] = self.failures
            return report
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.shutdown()

    def _on_signal(self, signum, frame):
        self.stop_signal = signal.Signals(signum).name


def run_engine(config: dict, **kwargs) -> dict:
    """Run one engine to the end; returns the final report."""
    supervisor = Supervisor(config, **kwargs)
    report = supervisor.run()
    assert supervisor.lifecycle.state in FINAL_STATES, supervisor.lifecycle.state
    return report
