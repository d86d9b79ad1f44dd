"""The feed's rate arithmetic: exact where a plain product would overflow int64."""

import pytest

from tickpipe.workers.feed.agent import tick_time_ns, ticks_due

NS_PER_S = 10**9


@pytest.mark.parametrize("elapsed_ns, rate", [
    (0, 1), (999_999_999, 1), (NS_PER_S, 1), (1_500_000_000, 3),
    (123_456_789_012, 100_000),
    (100 * NS_PER_S, 100_000_000),       # elapsed * rate = 1e19: past int64
    (10**7 * NS_PER_S, 1_000_000),       # 116 days at 1 M/s
])
def test_ticks_due_when_elapsed_times_rate_passes_int64_then_it_is_still_exact(elapsed_ns, rate):
    assert ticks_due(elapsed_ns, rate) == elapsed_ns * rate // NS_PER_S


@pytest.mark.parametrize("count, rate", [
    (1, 1), (7, 3), (100_000, 100_000), (10**10, 1_000_000), (10**12, 100_000_000),
])
def test_tick_time_when_count_times_a_second_passes_int64_then_it_is_still_exact(count, rate):
    assert tick_time_ns(count, rate) == count * NS_PER_S // rate
