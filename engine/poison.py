"""Naming a strategy's failure: the record a callback raised on, and the user's file and
line.

numba's exceptions carry no line, and the traceback of one raised in a jitted
callback ends in tickpipe's worker, so the worker explains it after the crash
(workers/strategy/agent.py `explain_failure`, once its row says FAILED):

- the record: the guard (engine/strategy_guard.py) says which one was being handled,
  its input and ring position (a timer: the symbol); its slot is still in the ring
  (the consumer never released it), so its fields are read from there;
- the line: the failing callback is run once more, in plain Python (the `py_func` numba
  keeps), on copies: the symbol's state row as committed, the record, the params, and
  a private copy of the context whose sends go to copies (nothing touches the segment;
  tp.* calls run jitted on the copies). The deepest frame in the strategy's file is
  where it raised. numpy's divide-by-zero is made to raise, as numba's does.

The committed state is exactly the state before the record when the record was the
first of its batch. A restarted strategy makes sure of it for the record its last
process failed on (the mark: shm_layouts/strategy_errors.py), so the second failure
on a record, the one `on_error` acts on, is named from the exact state; a first
failure part-way through a batch is re-run on the state as of the batch's start
(`exact` False: the re-run may then not raise, and the line waits for the second).

Nothing here imports numba at module level: tools describe a skipped record with
record_fields / record_phrase.
"""

import os
import traceback
from dataclasses import dataclass

import numpy as np

from tickpipe.shm_layouts.fill import EXEC_NAMES, EXEC_REJECTED, FILL_DTYPE, reason_name
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE
from tickpipe.shm_layouts.open_order import STATUS_NAMES
from tickpipe.shm_layouts.strategy_errors import REC_NAMES, REC_QUOTE, REC_REPORT, REC_TIMER

RERUN_SECONDS = 30.0   # the re-run's limit (tp.* calls compile on first use: seconds)
QUOTE_FIELDS = ("bid_px", "ask_px", "bid_qty", "ask_qty")
TRADE_FIELDS = ("trade_px", "trade_qty", "aggressor_side", "bid_px", "ask_px")
REPORT_FIELDS = ("order_id", "exec_type", "side", "last_qty", "last_px", "cum_qty",
                 "leaves_qty", "ord_status")


# ---- the record, in words -----------------------------------------------------------

def record_fields(kind: int, raw) -> dict:
    """The fields a person needs of a record (a quote's or trade's, a report's), by name,
    from the record itself or its bytes; {} for a timer. Codes are spelled."""
    if kind == REC_QUOTE:
        record = _as_record(raw, MARKET_DATA_DTYPE)
        names = QUOTE_FIELDS if int(record["kind"]) == MD_KIND_QUOTE else TRADE_FIELDS
        return {name: int(record[name]) for name in names}
    if kind == REC_REPORT:
        record = _as_record(raw, FILL_DTYPE)
        fields = {name: int(record[name]) for name in REPORT_FIELDS}
        fields["exec_type"] = EXEC_NAMES.get(fields["exec_type"], fields["exec_type"])
        fields["ord_status"] = STATUS_NAMES.get(fields["ord_status"], fields["ord_status"])
        if int(record["exec_type"]) == EXEC_REJECTED:
            fields["reject_reason"] = reason_name(int(record["reject_reason"]))
        return fields
    return {}


def record_name(kind: int, raw) -> str:
    """'quote', 'trade', 'report' or 'timer'."""
    if kind == REC_QUOTE and int(_as_record(raw, MARKET_DATA_DTYPE)["kind"]) != MD_KIND_QUOTE:
        return "trade"
    return REC_NAMES.get(kind, f"record kind {kind}")


def record_phrase(kind: int, position: int, symbol: str, time_ns: int, raw,
                  feed_started_ns: int = 0) -> str:
    """One phrase: 'quote SYM0 #4 (t+0.000213 s: bid_px=999900 ...)'. #N is the record's
    position on the strategy's ring (0 the first); a timer has none."""
    when = f"t+{(time_ns - feed_started_ns) / 1e9:.6f} s" if feed_started_ns and time_ns \
        else f"origin_ns {time_ns}"
    fields = " ".join(f"{name}={value}" for name, value in record_fields(kind, raw).items())
    if kind == REC_TIMER:
        return f"timer {symbol} (fired at {when})"
    return f"{record_name(kind, raw)} {symbol} #{position} ({when}: {fields})"


def _as_record(raw, dtype: np.dtype):
    if isinstance(raw, (bytes, bytearray, memoryview, np.ndarray)) and \
            getattr(raw, "dtype", None) != dtype:
        return np.frombuffer(bytes(raw)[:dtype.itemsize], dtype=dtype)[0]
    return raw


# ---- the failure -------------------------------------------------------------------

@dataclass
class Failure:
    """What a strategy process was handling when a callback raised."""
    kind: int            # REC_*
    position: int        # ring position (a timer: the symbol)
    symbol: int
    callback: str        # on_quote, on_trade, on_fill, on_timer
    record: object       # a copy of the record (np.record), None for a timer
    time_ns: int         # its origin_ns (a timer: its firing)
    exact: bool          # first of its batch: the committed state is the state before it


def failed_record(ctx, kind: int, position: int) -> Failure | None:
    """The record the guard names, copied out of its ring; None when none is named."""
    from tickpipe.engine.ring import H_MASK, H_POSITION
    from tickpipe.engine.strategy_context import T_FIRED_NS
    if kind == REC_TIMER:
        return Failure(kind, position, position, "on_timer", None,
                       int(ctx.timer[T_FIRED_NS]), True)
    if kind not in (REC_QUOTE, REC_REPORT):
        return None
    k = 0 if kind == REC_QUOTE else 1
    ring = ctx.quotes if kind == REC_QUOTE else ctx.reports
    slot = position & int(ctx.inputs[k, H_MASK])
    record = np.array(ring[slot:slot + 1]).view(np.recarray)[0]
    if kind == REC_QUOTE:
        callback = "on_quote" if int(record["kind"]) == MD_KIND_QUOTE else "on_trade"
    else:
        callback = "on_fill"
    # the consumer's position is where the uncommitted part of its batch began
    exact = position == int(ctx.inputs[k, H_POSITION])
    return Failure(kind, position, int(record["symbol_id"]), callback, record,
                   int(record["origin_ns"]), exact)


# ---- the re-run in Python ------------------------------------------------------------

@dataclass
class Rerun:
    where: str | None    # 'raised at FILE:LINE in CALLBACK', or None
    exception: BaseException | None
    text: str            # what the worker log gets: the re-run's traceback, or why none
    why: str = ""        # when no line: why, in a few words ('did not raise', ...)


class _TimeUp(Exception):
    pass


def rerun(plugin, ctx, failure: Failure) -> Rerun:
    """Run the failing callback once in Python on copies (see the top); never raises."""
    try:
        callback = getattr(plugin.module, failure.callback, None)
        if callback is None:
            return Rerun(None, None, f"{failure.callback} is not the strategy's own",
                         "found no callback of the strategy's own")
        function = getattr(callback, "py_func", callback)
        stand_in, state, params = private_context(ctx, failure, plugin)
        if failure.kind == REC_TIMER:
            argument = np.int64(failure.time_ns)
        else:
            argument = failure.record
        exc = _call_limited(function, (stand_in, state, params, argument))
    except Exception as error:  # the stand-in itself: say so, never hide the failure
        return Rerun(None, None, f"no re-run: {type(error).__name__}: {error}",
                     f"could not be set up: {type(error).__name__}")
    if exc is None:
        state = "just before the record" if failure.exact else \
            "as of the batch's start, not just before the record"
        return Rerun(None, None, f"{failure.callback} re-run in Python on the state {state} "
                     f"did not raise", "did not raise" + ("" if failure.exact else
                                                          " from the batch's start"))
    if isinstance(exc, _TimeUp):
        return Rerun(None, None, f"{failure.callback} re-run in Python did not end in "
                     f"{RERUN_SECONDS:g} s", f"did not end in {RERUN_SECONDS:g} s")
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [i for i, frame in enumerate(frames) if _same_file(frame.filename, plugin.file)]
    if _numba_error(exc) or not mine:
        return Rerun(None, exc, f"{failure.callback} re-run in Python raised outside the "
                     f"strategy's file:\n" + "".join(traceback.format_exception(exc)),
                     "raised outside the strategy's file")
    frame = frames[mine[-1]]
    state = "just before the record" if failure.exact else "as of the batch's start"
    text = (f"{failure.callback} re-run in Python on the state {state}:\n"
            "Traceback (most recent call last):\n"
            + "".join(traceback.format_list(frames[mine[0]:]))
            + "".join(traceback.format_exception_only(exc)))
    return Rerun(f"raised at {frame.filename}:{frame.lineno} in {frame.name}", exc, text)


def private_context(ctx, failure: Failure, plugin):
    """(a copy of ctx over private arrays, the symbol's state row, the params record) for
    the re-run: the state rows as committed (the segment's), sends into a private copy of
    the intents ring with room for a callback's worst case, a scratch commit log; the
    rings and the book read where they are (read only)."""
    from tickpipe.engine.commit import scratch_txn, undo_words
    from tickpipe.engine.strategy_api import MAX_ORDERS_PER_EVENT
    from tickpipe.engine.strategy_context import (
        E_MD_SEQ, E_ORIGIN_NS, E_REF_MID, E_ROOM, E_SENT, E_SYMBOL, E_WRITTEN,
    )
    shared = ("quotes", "reports", "book", "depth", "transitions", "tick_sizes", "subscribed")
    fields = {name: (value if name in shared or not isinstance(value, np.ndarray)
                     else value.copy()) for name, value in ctx._asdict().items()}
    event = fields["event"]
    event[E_SYMBOL] = failure.symbol
    event[E_ORIGIN_NS] = failure.time_ns
    record = failure.record
    quote = failure.kind == REC_QUOTE
    event[E_MD_SEQ] = int(record["seq"]) if quote else 0
    event[E_REF_MID] = (int(record["bid_px"]) + int(record["ask_px"])) // 2 if quote else 0
    event[E_SENT] = 0
    event[E_WRITTEN] = 0
    event[E_ROOM] = MAX_ORDERS_PER_EVENT
    fields["written"] = event[E_WRITTEN:E_WRITTEN + 1]
    fields["room"] = event[E_ROOM:E_ROOM + 1]
    state = np.zeros(len(ctx.state_words), dtype=plugin.state_dtype)
    state.view(np.uint64).reshape(len(state), -1)[:] = ctx.state_words  # as committed
    fields["mirror_words"] = state.view(np.uint64).reshape(len(state), -1)
    params = np.zeros(1, dtype=plugin.params_dtype)
    for key, value in plugin.params.items():
        params[0][key] = value
    orders = fields["orders"]
    fields["orders_mirror"] = orders.view(np.uint64).reshape(len(orders), -1)
    fields["outs"] = fields["out"].reshape(1, -1)
    txn = scratch_txn()
    fields["txn"], fields["undo"] = txn, undo_words(txn)
    stand_in = type(ctx)(**fields)
    return stand_in, state.view(np.recarray)[failure.symbol], params.view(np.recarray)[0]


def _call_limited(function, args) -> BaseException | None:
    """Call function(*args) with numpy's divide-by-zero raising (as numba's does) and a
    time limit (in the main thread); the exception it raised, or None."""
    import signal  # here, not at the top: inspect imports this module for its
    import threading  # record names, as any user, and needs nothing more of the stdlib
    limited = threading.current_thread() is threading.main_thread()
    if limited:
        def _alarm(signum, frame):
            raise _TimeUp()
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, RERUN_SECONDS)
    try:
        with np.errstate(divide="raise", over="ignore", under="ignore", invalid="ignore"):
            function(*args)
        return None
    except BaseException as exc:  # noqa: B902 (the user's code: whatever it raises)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return exc
    finally:
        if limited:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _same_file(a: str, b: str | None) -> bool:
    if not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _numba_error(exc: BaseException) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:
        return False
    return isinstance(exc, NumbaError)
