"""Bad input to the inspector: each case is one clear line, a non-zero exit, no traceback,
never SIGBUS; `tickpipe ls` describes the same files without trusting them."""

import os

import numpy as np
import pytest

from tickpipe import shm_layouts
from tickpipe.engine.cleanup import INITIALISING, NOT_TICKPIPE, OTHER_VERSION, UNREADABLE, list_segments
from tickpipe.engine.segment import find_segment
from tickpipe.shm_layouts.segment_header import LAYOUT_HASH_OFFSET, LAYOUT_VERSION_OFFSET
from test_inspect_support import (
    assert_one_line_error, invoke, make_engine_segment, one_line_error, run_cli,
    run_cli_as_nobody,
)

def write_file(segments, data: bytes) -> str:
    name = segments.name()
    with open(segments.path(name), "wb") as f:
        f.write(data)
    os.chmod(segments.path(name), 0o600)
    return name


def corrupt_word(segments, offset: int, value: int, dtype) -> str:
    segment = make_engine_segment(segments)
    segment.buf[offset:offset + np.dtype(dtype).itemsize].view(dtype)[0] = value
    return segment.name


@pytest.mark.parametrize("command", [["inspect"], ["inspect", "--json"], ["halt"], ["resume"]])
def test_command_when_engine_does_not_exist_then_one_line_not_found(segments, command):
    assert_one_line_error(invoke(*command, segments.name()), "no tickpipe engine named")


@pytest.mark.parametrize("command", ["inspect", "halt", "cleanup"])
def test_command_when_name_is_not_an_engine_name_then_one_line_bad_name(command):
    assert_one_line_error(invoke(command, "../etc/passwd"), "bad engine name")


def test_inspect_when_file_is_not_a_tickpipe_segment_then_says_so(segments):
    name = write_file(segments, os.urandom(8192))
    assert_one_line_error(invoke("inspect", name), "is not a tickpipe segment")


def test_inspect_when_file_is_shorter_than_a_header_then_says_truncated(segments):
    name = write_file(segments, b"TICKPIPE" + bytes(92))
    assert_one_line_error(invoke("inspect", name), "is truncated: 100 bytes")


def test_inspect_when_segment_was_cut_short_then_truncated_without_sigbus(segments):
    segment = make_engine_segment(segments)
    name, path, size = segment.name, segment.path, segment.size
    segment.close()  # nothing of ours may touch the pages the truncation removes
    os.truncate(path, size // 2)
    done = run_cli("inspect", name, "--json")  # a subprocess: a SIGBUS would show as -7
    assert f"its header says {size} bytes, the file has {size // 2}" in one_line_error(done)


def test_inspect_when_segment_has_another_layout_version_then_names_both(segments):
    other = shm_layouts.LAYOUT_VERSION + 1
    name = corrupt_word(segments, LAYOUT_VERSION_OFFSET, other, np.uint32)
    assert_one_line_error(invoke("inspect", name),
                          f"has layout version {other}; this tickpipe reads version")


def test_inspect_when_layout_hash_differs_then_another_tickpipe_version(segments):
    name = corrupt_word(segments, LAYOUT_HASH_OFFSET, 0x1234, np.uint64)
    assert_one_line_error(invoke("inspect", name), "built by another tickpipe version")


def test_inspect_when_segment_is_still_being_initialised_then_says_so(segments):
    segment = make_engine_segment(segments, ready=False)
    assert_one_line_error(invoke("inspect", segment.name), "is still being initialised")


def test_inspect_when_segment_is_not_an_engine_then_names_the_missing_section(segments):
    segment = segments.create({"data": 4096})
    assert_one_line_error(invoke("inspect", segment.name), "has no section 'control'")


def test_inspect_when_segment_belongs_to_another_user_then_permission_denied(segments):
    segment = make_engine_segment(segments)
    assert "permission denied on segment" in one_line_error(run_cli_as_nobody("inspect", segment.name))


def test_inspect_as_another_user_when_segment_is_readable_then_it_works(segments):
    segment = make_engine_segment(segments)
    os.chmod(segment.path, 0o644)
    done = run_cli_as_nobody("inspect", segment.name, "--json")
    assert done.returncode == 0, done.stderr
    assert '"trading_state": "ACTIVE"' in done.stdout


def test_inspect_when_watch_and_json_and_hist_conflict_then_usage_error_exit_2(segments):
    segment = make_engine_segment(segments)
    assert invoke("inspect", segment.name, "--json", "--hist", "tick_to_trade").exit_code == 2
    assert invoke("inspect", segment.name, "--serve", "0", "--watch").exit_code == 2
    assert invoke("inspect", segment.name, "--count", "3").exit_code == 2
    assert invoke("inspect", segment.name, "--hist", "no_such_hop").exit_code == 2


def test_ls_when_files_are_bad_then_describes_each_without_trusting_it(segments):
    junk = write_file(segments, os.urandom(64))
    half_made = make_engine_segment(segments, ready=False).name
    other_version = corrupt_word(segments, LAYOUT_VERSION_OFFSET, shm_layouts.LAYOUT_VERSION + 1,
                                 np.uint32)
    kinds = {info.name: info for info in list_segments(
        [find_segment(name) for name in (junk, half_made, other_version)])}
    assert kinds[junk].kind == NOT_TICKPIPE and kinds[junk].alive is None
    assert kinds[half_made].kind == INITIALISING and kinds[half_made].alive is True
    assert kinds[other_version].kind == OTHER_VERSION and kinds[other_version].state is None


def test_ls_as_another_user_when_segment_is_private_then_unreadable_not_an_error(segments):
    segment = make_engine_segment(segments)
    done = run_cli_as_nobody("ls")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith(segment.name + " "))
    assert UNREADABLE in row


def test_serve_when_prometheus_client_is_missing_then_one_line_says_how_to_get_it(segments,
                                                                                   monkeypatch):
    from tickpipe.engine import metrics
    monkeypatch.setattr(metrics, "CollectorRegistry", None)
    segment = make_engine_segment(segments)
    assert_one_line_error(invoke("inspect", segment.name, "--serve", "0"),
                          "--serve needs prometheus_client: pip install 'tickpipe[metrics]'")


@pytest.mark.parametrize("command", ["inspect", "halt", "resume"])
def test_engine_when_left_out_then_it_is_the_name_tickpipe_run_gives(command):
    from tickpipe.cli.main import tickpipe
    import click
    engine = next(p for p in tickpipe.get_command(click.Context(tickpipe), command).params
                  if p.name == "engine")
    assert not engine.required and engine.default == "tickpipe"
