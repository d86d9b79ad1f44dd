"""The kill switch from outside on an engine-shaped segment (no workers): what it stores,
and who may store it."""

import os

import pytest

from tickpipe.engine.control import set_trading_state
from tickpipe.engine.segment import SegmentError
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, TRADING_HALTED, TRADING_REDUCING
from test_inspect_support import (
    make_engine_segment, one_line_error, run_cli, run_cli_as_nobody,
)


def control_of(segment):
    return segment.view("control", CONTROL_DTYPE)[0]


def test_set_trading_state_when_owner_then_stores_state_and_counts_the_change(segments):
    segment = make_engine_segment(segments)
    change = set_trading_state(segment.name, "HALTED")
    assert (change.before, change.after, change.changes) == ("ACTIVE", "HALTED", 1)
    assert int(control_of(segment)["trading_state"]) == TRADING_HALTED
    assert set_trading_state(segment.name, "reducing").changes == 2
    assert int(control_of(segment)["trading_state"]) == TRADING_REDUCING
    assert int(control_of(segment)["trading_state_changes"]) == 2


def test_inspector_when_state_changes_then_reads_it_without_reattaching(segments):
    segment = make_engine_segment(segments)
    inspector = Inspector.attach(segment.name)
    try:
        set_trading_state(segment.name, "HALTED")
        assert inspector.snapshot().data["risk"]["trading_state"] == "HALTED"
    finally:
        inspector.close()


def test_halt_when_run_as_a_command_then_says_before_and_after(segments):
    segment = make_engine_segment(segments)
    done = run_cli("halt", segment.name)
    assert done.returncode == 0, done.stderr
    # no workers here: nothing works at the venue, and it says there is no gateway to wait for
    assert done.stdout.splitlines() == [
        f"engine {segment.name}: trading state ACTIVE -> HALTED (change #1)",
        f"engine {segment.name}: no gateway is running to cancel the venue's orders; "
        "none is working there"]


def test_set_trading_state_when_name_is_not_a_state_then_error_names_it(segments):
    segment = make_engine_segment(segments)
    with pytest.raises(SegmentError, match="'PAUSED' is not one of"):
        set_trading_state(segment.name, "PAUSED")


def test_halt_when_owner_is_dead_then_refuses(segments):
    segment = make_engine_segment(segments)
    segment.header["owner_start_ticks"] += 1  # the same pid, another process: not the owner
    with pytest.raises(SegmentError, match="is not running"):
        set_trading_state(segment.name, "HALTED")
    assert int(control_of(segment)["trading_state_changes"]) == 0


def test_halt_as_another_user_when_segment_is_private_then_permission_denied(segments):
    segment = make_engine_segment(segments)
    assert "permission denied on segment" in one_line_error(run_cli_as_nobody("halt", segment.name))
    assert int(control_of(segment)["trading_state_changes"]) == 0


def test_halt_as_another_user_when_mode_lets_anyone_write_then_still_owner_or_root_only(segments):
    segment = make_engine_segment(segments)
    os.chmod(segment.path, 0o666)
    line = one_line_error(run_cli_as_nobody("halt", segment.name))
    assert f"belongs to uid {os.getuid()}; only its owner or root" in line
    assert int(control_of(segment)["trading_state_changes"]) == 0
