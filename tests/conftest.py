"""Shared fixtures: segments with unique names that are unlinked even when a test fails.

Every segment (and every fake segment file) a test makes is named
t-<pid>-<n>, so parallel runs by other people never collide, and the session
ends by checking that none of ours is left in /dev/shm.
"""

import itertools
import os

import pytest

from tickpipe.engine.ring import init_ring
from tickpipe.engine.segment import SHM_DIR, FILE_PREFIX, SectionSpec, create_segment, unlink_segment
from tickpipe.shm_layouts.ring_header import RING_ALIGN, ring_section_size

_counter = itertools.count()
OUR_PREFIX = f"t-{os.getpid()}-"


def unique_name() -> str:
    return f"{OUR_PREFIX}{next(_counter)}"


class SegmentFactory:
    """Makes segments and remembers their names; `cleanup()` closes and unlinks them all."""

    def __init__(self):
        self._names = []
        self._segments = []

    def name(self) -> str:
        """A fresh unique name that is unlinked at cleanup (for files a test writes itself)."""
        name = unique_name()
        self._names.append(name)
        return name

    def path(self, name: str) -> str:
        return os.path.join(SHM_DIR, FILE_PREFIX + name)

    def create(self, sections=None, *, ready=True, **kwargs):
        """A new segment with `sections` ({name: size} or [SectionSpec]); marked ready by default."""
        sections = {"data": 4096} if sections is None else sections
        specs = sections if isinstance(sections, list) else \
            [SectionSpec(name, size) for name, size in sections.items()]
        segment = create_segment(self.name(), specs, use_hugetlbfs=False, **kwargs)
        self._segments.append(segment)
        if ready:
            segment.mark_ready()
        return segment

    def ring(self, capacity=16, record_size=64, *, rings=("data",), ready=True, **ring_kwargs):
        """A segment holding one ring section per name in `rings`, each initialised empty."""
        size = ring_section_size(capacity, record_size)
        segment = self.create([SectionSpec(name, size, RING_ALIGN) for name in rings], ready=False)
        for name in rings:
            init_ring(segment, name, capacity, record_size, **ring_kwargs)
        if ready:
            segment.mark_ready()
        return segment

    def keep(self, segment):
        """Close `segment` (an attached one) at cleanup too."""
        self._segments.append(segment)
        return segment

    def cleanup(self):
        for segment in self._segments:
            if segment.buf is not None:
                segment.close()
        for name in self._names:
            unlink_segment(name)


def _segment_factory():
    factory = SegmentFactory()
    try:
        yield factory
    finally:
        factory.cleanup()


segments = pytest.fixture(_segment_factory, name="segments")
module_segments = pytest.fixture(_segment_factory, scope="module", name="module_segments")


@pytest.fixture(scope="session", autouse=True)
def no_segment_left_in_dev_shm():
    yield
    left = [entry for entry in os.listdir(SHM_DIR)
            if entry.startswith(FILE_PREFIX + OUR_PREFIX) or
            entry.startswith(f"{FILE_PREFIX}bench-{os.getpid()}-")]
    assert not left, f"segments left in {SHM_DIR}: {left}"


@pytest.fixture(scope="session")
def two_cores():
    """Two cores this process may use (the same one twice on a one-core machine)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[0], allowed[-1]
