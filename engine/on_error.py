"""`[[strategy]] on_error`: what the supervisor does when a strategy's callback raises
again on the same record after its restart.

A strategy process whose callback raises writes the record it was handling into its
errors row (failed_*, with its pid: shm_layouts/strategy_errors.py) and exits 1,
naming the record and the user's file and line (workers/strategy/agent.py, engine/poison.py).
On each death of a strategy worker the supervisor asks `after_death`:

- a failure on a record the previous death did not name (or a death that names no
  record: a signal, a kill): None, the restart policy decides as for any worker. The
  next process is told to watch the record (watch_*): its runner gives it a batch of
  its own, so that a second failure there leaves exactly the state before it committed
  and is named from that state;
- the same record again: the strategy's mode,
    "stop"    (the default) today's behaviour: the restart policy, whose limit ends the
              run (or, while another strategy trades, gives the strategy up: the
              supervisor's `_retire`); every line names the record and, from the
              second failure on, the user's file and line;
    "retire"  the strategy is restarted retired (mode in the row): it calls no callback
              any more, no timer, so it sends nothing; it still reads its quotes and
              applies its reports, so its rings drain and its position, orders and
              counts stay exact, and the other strategies trade on. The record it failed
              on is skipped as below (so inspect shows it);
    "skip"    the strategy is restarted with the record to skip (skip_*): its runner
              passes it without its callback (its state stays as before it; a report's
              bookkeeping, position and order, is still applied), counts it and notes
              it, committed with the input's progress in a batch of its own.
  A restart for "retire" or "skip" does not count against the restart intensity (the
  first death on the record did): the user's policy handled it.

Exactly once: the skip is a change of shared state like any other, in the batch that
consumes the record, so it commits with the input's progress or not at all. The
supervisor keeps telling every later process of the strategy to skip that record
until one commits past it (a position passed never comes again), so a kill before
that commit leads to the same skip, once (docs/commit_protocol.md).
"""

from tickpipe.engine.engine_layout import (
    role_of, strategy_errors, strategy_index, strategy_worker, worker_index,
)
from tickpipe.shm_layouts.strategy_errors import (
    ERR_MODE_NAMES, ERR_MODE_RETIRED, REC_NAMES, REC_NONE, REC_TIMER,
)
from tickpipe.shm_layouts.worker_table import STRATEGY_RECORDS_SKIPPED, WORKER_DTYPE

STOP, RETIRE, SKIP = "stop", "retire", "skip"


class OnError:
    """The supervisor's memory of each strategy worker's failures (by worker name)."""

    def __init__(self, config: dict):
        self.config = config
        self.failed: dict[str, tuple[int, int] | None] = {}  # the last death's record
        self.skips: dict[str, tuple[int, int]] = {}          # the record to skip, for good

    def mode(self, role: str) -> str:
        return self.config["strategies"][strategy_index(role)].get("on_error") or STOP

    def after_death(self, segment, role: str, pid: int) -> str | None:
        """Call once per death of strategy worker `role` (its process `pid`), before any
        restart. The strategy's on_error mode when the death names the same record as the
        previous one, else None; either way the errors row tells the next process what to
        watch and skip (and a retired strategy's mode)."""
        row = strategy_errors(segment, strategy_index(role))[0]
        failed = None
        if int(row["failed_pid"]) == pid and int(row["failed_kind"]) != REC_NONE:
            failed = (int(row["failed_kind"]), int(row["failed_position"]))
        again = failed is not None and failed == self.failed.get(role)
        self.failed[role] = failed
        mode = self.mode(role) if again else None
        if mode in (RETIRE, SKIP):
            self.skips[role] = failed
            self.failed[role] = None  # handled: the next death starts afresh
            if mode == RETIRE:
                row["mode"] = ERR_MODE_RETIRED
        watch = self.failed[role] or (REC_NONE, 0)
        skip = self.skips.get(role) or (REC_NONE, 0)
        if skip[0] == REC_TIMER:  # a timer's skip is one firing of one process
            del self.skips[role]
        row["watch_kind"], row["watch_position"] = watch
        row["skip_kind"], row["skip_position"] = skip
        return mode

    @staticmethod
    def verdict_line(label: str, how: str, mode: str, others_trade: bool) -> str:
        """The one line the supervisor says for "retire" or "skip"; `label` names the
        worker (`strategy <name>`), `how` its death."""
        head = f"{label} died again on the same record ({how}); on_error = \"{mode}\""
        if mode == RETIRE:
            return (f"{head}: retired (its callbacks are no longer called, its reports still "
                    f"applied), " + ("the other strategies trade on" if others_trade
                                     else "no strategy trades any more"))
        return f"{head}: the record is skipped (counted), restarted"


def others_trading(role: str, roles, config: dict, segment) -> bool:
    """Whether a strategy worker other than `role`, among the live `roles`, still trades."""
    for other in roles:
        if other == role or role_of(other) != "strategy":
            continue
        if int(strategy_errors(segment, strategy_index(other))[0]["mode"]) != ERR_MODE_RETIRED:
            return True
    return False


def errors_data(segment, index: int, policy: str | None = None, instruments=None) -> dict:
    """What inspect and the report show of strategy `index`'s errors: {"policy": its
    on_error, "mode": "trading" | "retired", "records_skipped": n, "last_skipped": {kind,
    symbol, position, origin_ns, fields, text} or None, "last_failure": {kind, position,
    pid} or None}; {} for a segment without the section."""
    from tickpipe.engine.poison import record_fields, record_name, record_phrase
    from tickpipe.engine.segment import SegmentError
    from tickpipe.shm_layouts.control_block import CONTROL_DTYPE
    try:
        row = strategy_errors(segment, index)[0].copy()
    except (SegmentError, KeyError, ValueError):
        return {}
    workers = segment.view("workers", WORKER_DTYPE)
    skipped = int(workers[worker_index(strategy_worker(index))]["counters"]
                  [STRATEGY_RECORDS_SKIPPED])
    if instruments is None:
        from tickpipe.engine.segment_catalog import read_instruments
        instruments = read_instruments(segment, int(segment.view("control", CONTROL_DTYPE)[0]
                                                     ["n_symbols"]))
    names = [i.name if hasattr(i, "name") else i["name"] for i in instruments]
    feed_started_ns = int(segment.view("control", CONTROL_DTYPE)[0]["feed_started_ns"])

    def symbol_name(symbol: int) -> str:
        return names[symbol] if 0 <= symbol < len(names) else f"#{symbol}"

    last = None
    kind = int(row["last_kind"])
    if kind in REC_NAMES and skipped:
        raw = bytes(row["last_record"])
        symbol, position, time_ns = (int(row["last_symbol"]), int(row["last_position"]),
                                     int(row["last_time_ns"]))
        last = {"kind": record_name(kind, raw), "symbol": symbol_name(symbol),
                "position": position, "origin_ns": time_ns,
                "fields": record_fields(kind, raw),
                "text": record_phrase(kind, position, symbol_name(symbol), time_ns, raw,
                                      feed_started_ns)}
    failure = None
    if int(row["failed_kind"]) in REC_NAMES:
        failure = {"kind": REC_NAMES[int(row["failed_kind"])],
                   "position": int(row["failed_position"]), "pid": int(row["failed_pid"])}
    return {"policy": policy or STOP,
            "mode": ERR_MODE_NAMES.get(int(row["mode"]), str(int(row["mode"]))),
            "records_skipped": skipped, "last_skipped": last, "last_failure": failure}


def errors_text(data: dict) -> str | None:
    """One line for people (inspect, the report) when something happened: retired, records
    skipped; None otherwise."""
    if not data or (data.get("mode") != "retired" and not data.get("records_skipped")):
        return None
    parts = []
    if data.get("mode") == "retired":
        parts.append("retired: no callback is called any more")
    skipped = data.get("records_skipped") or 0
    if skipped:
        last = data.get("last_skipped")
        parts.append(f"{skipped:,} record{'s' if skipped != 1 else ''} skipped"
                     + (f", the last: {last['text']}" if last else ""))
    return f"on_error = \"{data.get('policy', STOP)}\": " + "; ".join(parts)
