"""Where the feed's records come from when they are not the synthetic walk.

A source is a file read once, ahead of the feed, into a *tape*: an array of the
market-data records the feed's rings carry (shm_layouts/market_data.py), with
`origin_ns` holding the time the record was recorded at. The feed's kernel
(workers/feed/agent.py) copies tape records into its rings, paced by those times (scaled
by [feed] speed) or flat out. Nothing converts a record in Python: each format's
reader is a vectorised numpy pass or a jitted loop.

  tape.py             the tape: its checks, its cache file, what the config gets
  csv_quotes.py       CSV quotes and trades with a documented header
  parquet_quotes.py   the same columns in a Parquet file (pyarrow)
  hftbacktest_npz.py  hftbacktest's event files (.npz of its 64-byte event_dtype)
  databento_dbn.py    Databento's DBN files (MBP-1, TBBO, MBP-10, Trades; zstd or not)
  journal_replay.py   a journal of an earlier run (workers/journal): the ticks it carried

A format is one module with READS (the file suffixes it claims) and
read(path, source) -> tape.Recorded; FORMATS below lists them.
"""

from tickpipe.workers.feed.sources import (
    csv_quotes, databento_dbn, hftbacktest_npz, journal_replay, parquet_quotes,
)

FORMATS = {"csv": csv_quotes, "parquet": parquet_quotes, "hftbacktest": hftbacktest_npz,
           "dbn": databento_dbn, "journal": journal_replay}
