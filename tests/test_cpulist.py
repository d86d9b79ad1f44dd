"""CPU lists: the one parser for --cores, the config, the kernel's files and the tuning script."""

import pytest

from tickpipe.engine.cpulist import MAX_CPU, CpuListError, expand_cpu_list, parse_cpu_list


def test_expand_cpu_list_when_given_lists_and_ranges_then_every_core_in_order():
    assert expand_cpu_list("5,1-2") == [5, 1, 2]
    assert expand_cpu_list(" \n") == []


def test_parse_cpu_list_when_the_range_ends_at_the_largest_cpu_then_it_expands():
    assert parse_cpu_list(f"0-{MAX_CPU}\n") == list(range(MAX_CPU + 1))


@pytest.mark.parametrize("text, part", [
    ("0-999999999999", "0-999999999999"),
    ("1,8192", "8192"),
    (f"{MAX_CPU + 1}-{MAX_CPU + 2}", f"{MAX_CPU + 1}-{MAX_CPU + 2}"),
])
def test_expand_cpu_list_when_a_range_goes_past_the_largest_cpu_then_refused_before_expanding(
        text, part):
    with pytest.raises(CpuListError) as caught:
        expand_cpu_list(text)
    assert str(caught.value) == (f"bad CPU list {text!r}: {part!r} goes past CPU {MAX_CPU}, "
                                 "the largest Linux has")


def test_expand_cpu_list_when_parts_repeat_past_the_largest_cpu_count_then_refused():
    # Each part is legal; together they would still expand without end.
    text = ",".join([f"0-{MAX_CPU}"] * 1000)
    with pytest.raises(CpuListError, match=f"makes the list longer than {MAX_CPU + 1} CPUs"):
        expand_cpu_list(text)


@pytest.mark.parametrize("text", ["3-1", "-1", "a", "0-"])
def test_expand_cpu_list_when_a_part_is_not_an_ascending_range_then_refused(text):
    with pytest.raises(CpuListError, match="bad CPU list"):
        expand_cpu_list(text)
