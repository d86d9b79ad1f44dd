"""Shared fixtures: segments with unique names that are unlinked even when a test fails.

Every segment (and every fake segment file) a test makes is named
t-<pid>-<n>, so parallel runs by other people never collide, and the session
ends by checking that none of ours is left in /dev/shm.
"""

import itertools
import os

import pytest
from hypothesis import settings

from tickpipe.engine.ring import init_ring
from tickpipe.engine.segment import SHM_DIR, FILE_PREFIX, SectionSpec, create_segment, unlink_segment
from tickpipe.shm_layouts.ring_header import RING_ALIGN, ring_section_size

# No background compile of inlined strategy runners (engine/inline_tier.py) from the
# engines the tests start: each is ~20 s of a core for a file the test throws away, and
# it would outlive the test. tests/test_inline_tier.py turns it on where it is the subject.
os.environ.setdefault("TICKPIPE_INLINE_CALLBACKS", "0")

# No time limit on a hypothesis example: its first call may load (or compile) a jitted
# function, 323 ms beside a second suite against hypothesis's 200 ms default, and the
# suite's rule holds here too: a unit test asserts no timing (docs/testing.md).
settings.register_profile("tickpipe", deadline=None)
settings.load_profile("tickpipe")

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


# ---- numba's cache, warm before the tests start --------------------------------------

WARM_MARK = "tests-warmed"


def pytest_configure(config):
    """After a change to tickpipe's sources numba's cache is cold (its directory is keyed by
    them: tickpipe/__init__.py), and the first engine compiles every role's loop: about a
    minute here. Done once, here, before xdist starts its workers: otherwise each worker's
    first engine would compile the same code at the same time (twice the work, on the same
    two cores), and timed tests would wait behind it. The controller (or a run without
    xdist) does it; workers find the cache warm."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    import subprocess
    import sys
    import time
    directory = os.environ.get("NUMBA_CACHE_DIR", "")
    mark = os.path.join(directory, WARM_MARK)
    if not directory or os.path.exists(mark):
        return
    started = time.monotonic()
    name = f"t-warm-{os.getpid()}"
    sys.stderr.write("numba's cache is cold (tickpipe changed): compiling the engine's loops "
                     "once, before the tests (about a minute)\n")
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as config:
        # a cold compile on a loaded machine can outlast the default start barrier
        config.write("[engine]\nready_timeout_s = 1800\n")
        config.flush()
        proc = subprocess.run([sys.executable, "-m", "tickpipe.cli", "run", config.name,
                               "--seconds", "0.2", "--json", "--name", name],
                              capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:  # the tests that start an engine will say what is wrong
        sys.stderr.write(f"warm-up run failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-400:]}\n")
        return
    with open(mark, "w") as f:
        f.write(f"{time.monotonic() - started:.1f} s\n")
    sys.stderr.write(f"compiled in {time.monotonic() - started:.0f} s\n")
