"""The probe's declaration (engine/role.py): a background role with a section of its own."""

from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role

PROBE_PASSES, PROBE_SEEN_TICKS = 0, 1  # counters[32] of its row

ROLE = Role(
    name="probe",
    role_id=40,
    rows=(9,),  # a row no role of tickpipe's takes
    agent="role_probe.agent",
    summary="watches the feed's tick count (a test's role, outside tickpipe's tree)",
    counters={"passes": PROBE_PASSES, "seen_ticks": PROBE_SEEN_TICKS},
    config={"every_ms": Field(float, 1.0, "how often it looks", minimum=0.1, maximum=1000.0),
            "label": Field(str, "", "a word its report repeats; empty = no probe")},
    enabled=lambda config: bool(config["probe"]["label"]),
    background=True,
    counts="role_probe.sections:counts",
    report="role_probe.sections:report_sections",
    inspect="role_probe.sections:inspect_sections",
    prepare="role_probe.sections:prepare",
    warm="role_probe.sections:warm",
    drained="role_probe.sections:drained",
)
