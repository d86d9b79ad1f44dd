"""The journal's declaration (engine/role.py): every ring's records, to disk, losslessly."""

from tickpipe.engine.config_field import Field
from tickpipe.engine.role import Role

# counters[32] of its worker row
JOURNAL_RECORDS, JOURNAL_BYTES, JOURNAL_FILES, JOURNAL_HELD = 0, 1, 2, 3

ROLE = Role(
    name="journal",
    role_id=5,
    rows=(7,),  # after feed, strategy, risk, gateway and strategies 2..4
    agent="tickpipe.workers.journal.agent",
    summary="writes every ring's records to disk as the engine runs; producers wait for it",
    counters={"records": JOURNAL_RECORDS, "bytes": JOURNAL_BYTES, "files": JOURNAL_FILES,
              "held_producers": JOURNAL_HELD},
    config={
        "dir": Field(str, "", "write a journal of every ring's records under this directory "
                     "(a folder per run); empty = no journal (`tickpipe run --journal DIR`)"),
        "roll_mb": Field(int, 64, "a ring's journal file holds at most this many MiB; then "
                         "the next file", minimum=1, maximum=1 << 20),
    },
    enabled=lambda config: bool(config["journal"]["dir"]),
    background=True,
    gates_rings=True,
    report="tickpipe.workers.journal.sections:report_sections",
    inspect="tickpipe.workers.journal.sections:inspect_sections",
    prepare="tickpipe.workers.journal.files:prepare_run",
)
