"""The kill switch from outside: set a running engine's trading state.

The one path of the inspector tools that writes. It maps the segment
read-write, release-stores the new state into the control block's
trading_state word (the risk worker acquire-loads it once per batch) and bumps
trading_state_changes. Asking for the state the engine is already in changes
nothing: no store, no bump (a second `halt` is not a second kill). Only the
segment's owner (header owner_uid) or root may do it; the segment file is 0600,
so the owner check matters when someone has widened its mode.

`halt` then waits for the venue's cancels (`halt_and_wait`): while HALTED the
gateway's venue cancels every working order, and risk refuses new ones. It is
done when (1) every order risk passed before it saw HALTED has reached the
venue, and (2) the venue's table has no working row. For (1): risk reads the
state once per batch, so once its pass count has moved on by two (or, for a
risk asleep on an empty ring, RISK_SEEN_S has passed) nothing it passes is new;
the head of the orders ring read then is the mark, and the venue has taken all
before it once the ring's tail reaches it. The tail is read before the rows:
the gateway commits a batch's rows with its progress, so rows read after a tail
are at least that new. The count of orders cancelled is the gateway's
kill_switch_cancels counter after, less before the store.
"""

import os
import time
from dataclasses import dataclass

import numpy as np

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.procinfo import is_alive
from tickpipe.engine.segment import SegmentError, attach_segment
from tickpipe.engine.segment_catalog import open_mask, order_table_rows
from tickpipe.shm_layouts.control_block import (
    CONTROL_DTYPE, TRADING_HALTED, TRADING_STATE_CHANGES_OFFSET, TRADING_STATE_NAMES,
    TRADING_STATE_OFFSET, check_trading_state,
)
from tickpipe.shm_layouts.ring_header import RING_HEAD_OFFSET, RING_TAIL_OFFSET
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import GATEWAY_KILL_CANCELS, WORKER_DTYPE

HALT_TIMEOUT_S = 10.0   # `tickpipe halt`'s default wait for the venue's cancels
POLL_S = 0.01           # between two looks at the venue
RISK_SEEN_S = 0.05      # a risk worker that makes no pass for this long is asleep, not mid-batch
PROGRESS_EVERY_S = 1.0  # a progress line once the wait is longer than this, and so on


@dataclass(frozen=True)
class TradingStateChange:
    engine: str
    before: str
    after: str
    changes: int   # trading_state_changes after this call
    changed: bool = True  # False: the engine was already in that state, nothing was counted


@dataclass(frozen=True)
class CancelWait:
    """How the wait for the venue's cancels after a halt ended."""
    cancelled: int          # orders the kill switch cancelled meanwhile (the gateway's counter)
    working: int            # orders still working at the venue at the end (0 unless not done)
    waited_s: float
    gateway_running: bool   # False: no gateway to cancel them, so no wait
    timed_out: bool


def set_trading_state(name: str, state: str) -> TradingStateChange:
    """Store `state` (ACTIVE, REDUCING or HALTED) in engine `name`'s control block.

    Raises SegmentError (one line) when the engine is missing, invalid, dead, or
    belongs to another user and we are not root.
    """
    code = _state_code(state)
    segment = attach_segment(name, readonly=False)
    try:
        _check_may_control(segment)
        return _store_trading_state(segment, code)
    finally:
        segment.close()


def halt_and_wait(name: str, timeout_s: float = HALT_TIMEOUT_S,
                  progress=None) -> tuple[TradingStateChange, CancelWait]:
    """HALTED, then wait (up to `timeout_s`) until the venue holds no working order; see
    the module docstring. `progress(waited_s, working)` is called every PROGRESS_EVERY_S
    while it waits. A gateway that is not running is not waited for (gateway_running
    False, working as the venue's table shows it). Raises SegmentError as
    set_trading_state does."""
    segment = attach_segment(name, readonly=False)
    try:
        _check_may_control(segment)
        venue = _VenueWatch(segment)
        cancels_before = venue.kill_cancels()
        change = _store_trading_state(segment, TRADING_HALTED)
        return change, venue.wait_flat(cancels_before, timeout_s, progress)
    finally:
        segment.close()


def _state_code(state: str) -> int:
    try:
        return check_trading_state(state)
    except ValueError as exc:
        raise SegmentError(str(exc)) from None


def _store_trading_state(segment, code: int) -> TradingStateChange:
    control_address = segment.base_address + segment.section("control")[0]
    before = lib.tp_load_acquire_u32(control_address + TRADING_STATE_OFFSET)
    before_name = TRADING_STATE_NAMES.get(before, f"unknown ({before})")
    changes_address = control_address + TRADING_STATE_CHANGES_OFFSET
    # Two operators switching at the same instant may both count (load, then store):
    # the count is for people, and the state word itself is always one of the three.
    if before == code:
        return TradingStateChange(segment.name, before_name, before_name,
                                  lib.tp_load_acquire_u64(changes_address), changed=False)
    lib.tp_store_release_u32(control_address + TRADING_STATE_OFFSET, code)
    changes = lib.tp_fetch_add_u64(changes_address, 1) + 1
    return TradingStateChange(segment.name, before_name, TRADING_STATE_NAMES[code], changes)


class _VenueWatch:
    """What the wait reads: the gateway's and risk's worker rows, the orders ring's
    indices, the venue's table and the per-symbol count of its working orders."""

    def __init__(self, segment):
        self.segment = segment
        control = segment.view("control", CONTROL_DTYPE)[0]
        table = segment.view("workers", WORKER_DTYPE)  # every row (a declared role's too)
        rows = {bytes(row["role_name"]).decode(errors="replace"): row for row in table}
        self.gateway = rows.get("gateway")
        self.risk = rows.get("risk")
        ring = segment.base_address + segment.section("orders")[0]
        self.head_address = ring + RING_HEAD_OFFSET
        self.tail_address = ring + RING_TAIL_OFFSET
        self.resting = segment.view("symbols", SYMBOL_STATS_DTYPE)[:int(control["n_symbols"])] \
            ["venue_resting"]

    def kill_cancels(self) -> int:
        return 0 if self.gateway is None else int(self.gateway["counters"][GATEWAY_KILL_CANCELS])

    def _alive(self, row) -> bool:
        return row is not None and int(row["pid"]) > 0 and \
            is_alive(int(row["pid"]), int(row["start_ticks"]))

    def _risk_passes(self) -> int:
        return 0 if self.risk is None else \
            int(self.risk["busy_passes"]) + int(self.risk["idle_passes"])

    def working(self) -> int:
        """Working orders at the venue: its table's rows neither free nor final, or the
        per-symbol counts committed with them, whichever is more."""
        rows = order_table_rows(self.segment, "venue_orders")
        in_rows = 0 if rows is None else int(np.count_nonzero(open_mask(rows)))
        return max(in_rows, int(self.resting.sum()))

    def wait_flat(self, cancels_before: int, timeout_s: float, progress) -> CancelWait:
        started = time.monotonic()
        if not self._alive(self.gateway):
            return CancelWait(0, self.working(), 0.0, gateway_running=False, timed_out=False)
        passes_before = self._risk_passes()
        mark = None            # the orders ring's head once risk has seen HALTED
        next_progress = started + PROGRESS_EVERY_S
        while True:
            now = time.monotonic()
            if mark is None and (self._risk_passes() >= passes_before + 2
                                 or now - started >= RISK_SEEN_S or not self._alive(self.risk)):
                mark = lib.tp_load_acquire_u64(self.head_address)
            taken = mark is not None and lib.tp_load_acquire_u64(self.tail_address) >= mark
            working = self.working()  # after the tail: rows at least as new as it
            waited = now - started
            if taken and working == 0:
                return CancelWait(self.kill_cancels() - cancels_before, 0, round(waited, 3),
                                  gateway_running=True, timed_out=False)
            if waited >= timeout_s:
                return CancelWait(self.kill_cancels() - cancels_before, working, round(waited, 3),
                                  gateway_running=self._alive(self.gateway), timed_out=True)
            if progress is not None and now >= next_progress:
                progress(round(waited, 1), working)
                next_progress += PROGRESS_EVERY_S
            time.sleep(POLL_S)


def _check_may_control(segment) -> None:
    owner_uid = int(segment.header["owner_uid"])
    euid = os.geteuid()
    if euid not in (0, owner_uid):
        raise SegmentError(f"engine {segment.name!r} belongs to uid {owner_uid}; only its owner "
                           f"or root may change its trading state (you are uid {euid})")
    owner_pid = int(segment.header["owner_pid"])
    if not is_alive(owner_pid, int(segment.header["owner_start_ticks"])):
        raise SegmentError(f"engine {segment.name!r} is not running (owner pid {owner_pid} "
                           "is gone): there is nothing to halt or resume")

