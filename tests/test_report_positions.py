"""The status line's records-in-flight count read from a ring that moves while it is read."""

import tickpipe.engine.report as report
from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import engine_rings

RINGS = engine_rings(load_config())  # a one-strategy engine's, in directory order


class RingMovingUnderTheReader:
    """A ring header whose producer publishes and consumer drains one record
    between any two reads, as a live engine's rings do."""

    def __init__(self):
        self.position = 100

    def __getitem__(self, field):
        self.position += 1
        if field in ("head", "tail"):
            return self.position
        raise KeyError(field)


def test_ring_positions_when_the_consumer_catches_up_between_reads_then_in_flight_is_never_negative(
        monkeypatch):
    monkeypatch.setattr(report, "ring_header", lambda segment, section: RingMovingUnderTheReader())
    monkeypatch.setattr(report, "ring_sections", lambda segment: [ring.section for ring in RINGS])
    positions = report.ring_positions(segment=None)
    assert set(positions) == {ring.section for ring in RINGS}
    for head, tail in positions.values():
        assert head - tail >= 0, (head, tail)
