"""A journal of an earlier run (workers/journal) as a data file: the ticks it carried.

`tickpipe run --data JOURNAL_DIR` replays the market data an earlier run's feed
sent, so a live day (or any run) can be run again through the same strategies.
The ticks are the journal's md_venue ring, which got every tick the feed made, in
order; `origin_ns` is when each was due, so the replay keeps their spacing. The
instruments are the run's own, whole (lot size, multiplier, currency), unless the
config names its own, which the ticks are then checked against as for any file.
"""

import numpy as np

from tickpipe.workers.feed.sources.tape import TAPE_DTYPE, Recorded, TapeError, price_gcds

READS = ()  # a folder, not a suffix: tape.detect_format takes any directory for one
TICKS_RING = "md_venue"


def read(path: str, feed: dict) -> Recorded:
    from tickpipe.workers.journal.files import JournalError
    from tickpipe.workers.journal.reader import open as open_journal
    try:
        journal = open_journal(path)
        records = journal.ring(TICKS_RING)
    except JournalError as exc:
        raise TapeError(f"data file {path!r}: {exc}") from None
    names = [instrument["name"] for instrument in journal.instruments]
    if len(records) and int(records["symbol_id"].max()) >= len(names):
        raise TapeError(f"data file {path!r}: a tick of symbol {int(records['symbol_id'].max())}"
                        f" and {len(names)} instruments in its run.json")
    tape = np.zeros(len(records), dtype=TAPE_DTYPE)
    for name in TAPE_DTYPE.names:
        if not name.startswith("_"):
            tape[name] = records[name]
    return Recorded(tape, names, price_gcds(tape, len(names)),
                    np.arange(1, len(tape) + 1), unit="record",
                    instruments=journal.instruments)
