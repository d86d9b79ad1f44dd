"""The kill switch from outside: set a running engine's trading state.

The one path of the inspector tools that writes. It maps the segment
read-write, release-stores the new state into the control block's
trading_state word (the risk worker acquire-loads it once per batch) and bumps
trading_state_changes. Asking for the state the engine is already in changes
nothing: no store, no bump (a second `halt` is not a second kill). Only the
segment's owner (header owner_uid) or root may do it; the segment file is 0600,
so the owner check matters when someone has widened its mode.
"""

import os
from dataclasses import dataclass

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.procinfo import is_alive
from tickpipe.engine.segment import SegmentError, attach_segment
from tickpipe.shm_layouts.control_block import (
    TRADING_STATE_CHANGES_OFFSET, TRADING_STATE_NAMES, TRADING_STATE_OFFSET,
    check_trading_state,
)


@dataclass(frozen=True)
class TradingStateChange:
    engine: str
    before: str
    after: str
    changes: int   # trading_state_changes after this call
    changed: bool = True  # False: the engine was already in that state, nothing was counted


def set_trading_state(name: str, state: str) -> TradingStateChange:
    """Store `state` (ACTIVE, REDUCING or HALTED) in engine `name`'s control block.

    Raises SegmentError (one line) when the engine is missing, invalid, dead, or
    belongs to another user and we are not root.
    """
    try:
        code = check_trading_state(state)
    except ValueError as exc:
        raise SegmentError(str(exc)) from None
    segment = attach_segment(name, readonly=False)
    try:
        _check_may_control(segment)
        control_address = segment.base_address + segment.section("control")[0]
        before = lib.tp_load_acquire_u32(control_address + TRADING_STATE_OFFSET)
        before_name = TRADING_STATE_NAMES.get(before, f"unknown ({before})")
        changes_address = control_address + TRADING_STATE_CHANGES_OFFSET
        # Two operators switching at the same instant may both count (load, then store):
        # the count is for people, and the state word itself is always one of the three.
        if before == code:
            return TradingStateChange(name, before_name, before_name,
                                      lib.tp_load_acquire_u64(changes_address), changed=False)
        lib.tp_store_release_u32(control_address + TRADING_STATE_OFFSET, code)
        changes = lib.tp_fetch_add_u64(changes_address, 1) + 1
        return TradingStateChange(name, before_name, TRADING_STATE_NAMES[code], changes)
    finally:
        segment.close()


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

