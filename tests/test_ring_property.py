"""The ring against a model: a deque bounded by the capacity, under random batch operations.

The model allows a pop to return fewer records than are there: a pop returns a
prefix of the model's contents, never more than asked or available, at least one
when the ring is not empty, and draining gets everything. Every record arrives
with seq = its ring position + 1, stamped by the ring, whatever the producer put there.
"""

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpipe.engine.ring import RingConsumer, RingProducer, init_ring, ring_header
from tickpipe.engine.segment import SectionSpec
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.shm_layouts.ring_header import RING_ALIGN, ring_section_size

MAX_CAPACITY = 32

operations = st.lists(
    st.tuples(st.sampled_from(["push", "pop"]), st.integers(min_value=0, max_value=2 * MAX_CAPACITY + 3)),
    max_size=60)


@pytest.fixture(scope="module")
def ring_segment(module_segments):
    size = ring_section_size(MAX_CAPACITY, MARKET_DATA_DTYPE.itemsize)
    return module_segments.create([SectionSpec("data", size, RING_ALIGN)])


def records(first_seq: int, count: int) -> np.ndarray:
    batch = np.zeros(count, dtype=MARKET_DATA_DTYPE)
    batch["seq"] = np.arange(first_seq, first_seq + count)
    batch["bid_px"] = batch["seq"] * 3
    batch["ask_qty"] = -batch["seq"].astype(np.int32)
    return batch


def check_pop(out: np.ndarray, asked: int, model: deque, start: int) -> None:
    assert out.dtype == MARKET_DATA_DTYPE
    assert len(out) <= min(asked, len(model))
    if asked and model:
        assert len(out) >= 1, "a pop from a ring that is not empty returned nothing"
    expected = [model.popleft() for _ in range(len(out))]
    assert out["seq"].tolist() == [start + seq for seq in expected]
    assert out["bid_px"].tolist() == [3 * seq for seq in expected]
    assert out["ask_qty"].tolist() == [-seq for seq in expected]


@settings(max_examples=300, deadline=None)
@given(capacity_log2=st.integers(min_value=1, max_value=5), start=st.sampled_from([0, 5, (1 << 40) - 7]),
       ops=operations)
def test_ring_should_behave_like_a_bounded_deque(ring_segment, capacity_log2, start, ops):
    capacity = 1 << capacity_log2
    init_ring(ring_segment, "data", capacity, MARKET_DATA_DTYPE.itemsize)
    header = ring_header(ring_segment, "data")
    header["head"] = header["tail"] = start  # a ring that has run for a while
    producer = RingProducer(ring_segment, "data", MARKET_DATA_DTYPE)
    consumer = RingConsumer(ring_segment, "data", MARKET_DATA_DTYPE)
    model, next_seq, full_pushes = deque(), 1, 0

    for op, n in ops:
        if op == "push":
            pushed = producer.try_push(records(next_seq, n))
            assert pushed == min(n, capacity - len(model))
            full_pushes += n > 0 and len(model) == capacity
            model.extend(range(next_seq, next_seq + pushed))
            next_seq += pushed
        else:
            check_pop(consumer.try_pop(n), n, model, start)
        assert int(header["head"]) - int(header["tail"]) <= capacity

    for _ in range(capacity + 1):  # eventually everything
        if not model:
            break
        check_pop(consumer.try_pop(capacity), capacity, model, start)
    assert not model
    assert len(consumer.try_pop(capacity)) == 0
    assert int(header["head"]) == int(header["tail"]) == start + next_seq - 1
    assert int(header["full_waits"]) == full_pushes
    assert int(header["high_water"]) <= capacity
