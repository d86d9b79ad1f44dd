"""The feed stamps each tick with the time it was due at the offered rate, so a feed
held back (a full ring, a busy core) cannot hide its own queueing from tick-to-trade."""

import numpy as np
import pytest

from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs
from tickpipe.engine.placement import place_workers
from tickpipe.engine.ring import RingConsumer
from tickpipe.engine.segment import create_segment
from tickpipe.engine.worker_context import build_context
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE
from tickpipe.workers.feed.agent import Agent as FeedAgent


@pytest.fixture
def feed(segments):
    def make(rate):
        config = load_config(overrides={"engine": {"name": segments.name(), "rate": rate,
                                                   "ring_capacity": 1 << 16}})  # 65 s of ticks: the loop below never waits for room
        segment = segments.keep(create_segment(config["engine"]["name"], section_specs(config),
                                               use_hugetlbfs=False))
        initialise(segment, config, place_workers(PIPELINE, None, "block"))
        segment.mark_ready()
        return segment, FeedAgent(build_context(segment, "feed", config))
    return make


def test_feed_when_paced_then_each_tick_carries_its_due_time_not_its_making_time(feed):
    segment, agent = feed(1000)  # one tick due every 1,000,000 ns
    agent.loop(5_000)  # a sleep, then ~100 yields, per tick
    ticks = RingConsumer(segment, "quotes", MARKET_DATA_DTYPE).try_pop(1 << 16)
    assert len(ticks) >= 5
    gaps = np.diff(ticks["origin_ns"])
    assert (gaps == 1_000_000).all(), gaps  # the schedule, to the ns
    assert (ticks["publish_ns"] >= ticks["origin_ns"]).all()


def test_feed_when_flat_out_then_a_tick_is_due_when_it_is_made(feed):
    segment, agent = feed(0)
    agent.loop(3)
    ticks = RingConsumer(segment, "quotes", MARKET_DATA_DTYPE).try_pop(1 << 16)
    assert len(ticks) > 0
    assert (ticks["origin_ns"] == ticks["publish_ns"]).all()
