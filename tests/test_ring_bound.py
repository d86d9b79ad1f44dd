"""The smallest ring_capacity: computed from what one record may need at once
(engine/sizing.py), refused below it at config time with the size and the reason."""

import pytest

from tickpipe.engine.config import ConfigError, load_config
from tickpipe.engine.sizing import REPORTS_PER_REQUEST, ring_needs, smallest_ring_capacity
from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT
from tickpipe.shm_layouts.ring_header import MIN_CAPACITY
from tickpipe.workers.gateway import agent as gateway


def test_smallest_ring_capacity_should_be_the_smallest_power_of_two_holding_every_need():
    capacity, why = smallest_ring_capacity()
    largest = max(need for need, _ in ring_needs())
    assert largest == MAX_ORDERS_PER_EVENT == 4
    assert capacity == 4 and capacity >= MIN_CAPACITY
    assert capacity >= largest > capacity // 2
    assert "MAX_ORDERS_PER_EVENT" in why


def test_ring_needs_should_use_the_gateways_own_reports_per_request():
    assert REPORTS_PER_REQUEST == gateway.REPORTS_PER_REQUEST


@pytest.mark.parametrize("capacity", [4, 8, 16, 64, 1 << 16])
def test_gateway_needs_capped_by_the_ring_should_never_exceed_it(capacity):
    # A tick makes a report per working order of its symbol, a sweep step sweep_chunk:
    # both are capped by the ring, so they never raise the bound.
    working = gateway.max_working_per_symbol(capacity)
    assert 1 <= working <= capacity
    assert min(gateway.BATCH, working) <= capacity  # sweep_chunk (gateway.Agent)


@pytest.mark.parametrize("capacity", [0, 1, 2])
def test_load_config_when_ring_capacity_is_below_the_bound_then_one_line_names_the_smallest(
        capacity):
    with pytest.raises(ConfigError) as caught:
        load_config(overrides={"engine": {"ring_capacity": capacity}})
    message = str(caught.value)
    assert message == (
        f"config [engine] ring_capacity = {capacity} is too small: a strategy's callback may "
        "send 4 requests (MAX_ORDERS_PER_EVENT), which must fit in its intents ring at once; "
        "needs at least 4")
    assert "\n" not in message
    assert caught.value.field == ("engine", "ring_capacity")


@pytest.mark.parametrize("capacity", [4, 8])
def test_load_config_when_ring_capacity_is_the_bound_or_more_then_it_is_taken(capacity):
    assert load_config(overrides={"engine": {"ring_capacity": capacity}})["engine"][
        "ring_capacity"] == capacity


def test_load_config_when_ring_capacity_is_not_a_power_of_two_then_that_is_the_error():
    with pytest.raises(ConfigError, match="must be a power of two"):
        load_config(overrides={"engine": {"ring_capacity": 12}})
