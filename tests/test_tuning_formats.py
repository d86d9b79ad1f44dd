"""CPU lists and masks as the kernel writes them, and the state file's byte-exact originals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickpipe.tuning.cpulist import CpuListError, format_cpu_list, format_cpu_mask, parse_cpu_list, parse_cpu_mask
from tickpipe.tuning.file_items import restore_value
from tickpipe.tuning.state import TuningState, decode_original, encode_original, load_state, save_state

cpu_sets = st.sets(st.integers(min_value=0, max_value=300), max_size=40)


@given(cpu_sets)
def test_cpu_list_round_trips(cpus):
    assert parse_cpu_list(format_cpu_list(cpus)) == sorted(cpus)


@given(cpu_sets)
def test_cpu_mask_round_trips(cpus):
    assert parse_cpu_mask(format_cpu_mask(cpus)) == sorted(cpus)


def test_cpu_list_is_written_in_ranges_as_the_kernel_does():
    assert format_cpu_list([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert parse_cpu_list(" 0-2,5\n") == [0, 1, 2, 5]


def test_cpu_mask_over_32_cpus_is_written_in_32_bit_groups():
    assert format_cpu_mask([0, 33]) == "00000002,00000001"
    assert parse_cpu_mask("00000000,00000005") == [0, 2]


@pytest.mark.parametrize("text", ["abc", "1-", "3-1", "-1", "1,,x"])
def test_bad_cpu_list_names_the_bad_text(text):
    with pytest.raises(CpuListError, match="bad CPU list"):
        parse_cpu_list(text)


def test_choice_file_is_restored_by_its_selected_value():
    assert restore_value("always [madvise] never\n") == "madvise"
    assert restore_value("60\n") == "60"


@given(st.binary(max_size=200))
def test_state_file_keeps_any_original_bytes_exactly(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("state") / "state.json"
    state = TuningState()
    state.record({"kind": "file", "path": "/etc/x", "original": encode_original(raw)})
    save_state(path, state)
    assert decode_original(load_state(path).changes[0]["original"]) == raw


def test_state_keeps_the_first_original_of_a_path():
    state = TuningState()
    assert state.record({"kind": "file", "path": "/p", "original": "60\n"})
    assert not state.record({"kind": "file", "path": "/p", "original": "10\n"})
    assert state.changes == [{"kind": "file", "path": "/p", "original": "60\n"}]
