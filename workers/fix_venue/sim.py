"""`tickpipe venue fix-sim`: a simulated exchange behind a real FIX 4.4 session.

A QuickFIX acceptor whose matching is the built-in venue's own kernels
(workers/gateway/venue.py: the same book of resting orders, queue model, fills, rejects
and cancel-too-late), so an order behaves the same over FIX as in the engine's built-in
venue. Its market: a book per symbol set at start (`--book`), moved by a seeded walk
(`--walk-ms`: each step a trade at the touch, or the touch moving a tick) or, in tests,
by `market()` and `trade()` called in-process.

What a real venue does and this does too: its orders survive a restart (the rows live
in a file in its store directory, beside QuickFIX's sequence numbers, so after a kill
and a restart the session resumes, gaps are filled and an OrderStatusRequest finds the
order); a NewOrderSingle whose ClOrdID it has seen is not a second order (a resend with
PossDupFlag=Y is ignored, a new one is rejected); a wrong username or password is a
refused logon, with a Logout saying so.

Threads: QuickFIX calls back from its own thread, the walk runs in another; one lock
covers the book.
"""

import json
import os
import random
import sys
import threading
import time
from collections import deque

import numpy as np
import quickfix as fix

from tickpipe.engine.order_states import TRANSITIONS, is_final
from tickpipe.shm_layouts.fill import (
    EXEC_FILL, EXEC_PARTIAL_FILL, EXEC_REJECTED, FILL_DTYPE, VENUE_REASON_BASE,
    VENUE_TOO_LATE, VENUE_UNKNOWN_ORDER, reason_name,
)
from tickpipe.shm_layouts.market_data import MAX_DEPTH_LEVELS
from tickpipe.shm_layouts.open_order import OPEN_ORDER_DTYPE, STATUS_REPLACED, VENUE_SLOTS
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, ORDER_TYPE_LIMIT, TIF_GTC, TIF_IOC
from tickpipe.workers.fix_venue.fields import (
    CXL_RESPONSE_CANCEL, CXL_RESPONSE_REPLACE, CXL_TOO_LATE, CXL_UNKNOWN_ORDER,
    EXEC_STATUS, EXEC_TYPE_TO_FIX, SIDE_FROM_FIX, SIDE_TO_FIX, STATUS_TO_FIX, TAG,
    TIF_FROM_FIX, TIF_TO_FIX, FieldError, price_text, price_units, qty_lots, qty_text,
)
from tickpipe.workers.fix_venue.messages import get, msg_type, poss_dup
from tickpipe.workers.gateway.venue import (
    VenueBook, find_row, venue_cancel, venue_new, venue_on_tick, venue_replace,
)

ROWS_FILE, STATE_FILE, IDS_FILE = "orders.bin", "state.bin", "clordids.log"
S_USED, S_NEXT_EXEC, S_NEXT_ORDER = 0, 1, 2  # the state file's int64 words
ORD_REJ_UNKNOWN_SYMBOL, ORD_REJ_DUPLICATE = "1", "6"  # OrdRejReason (103)


class SimExchange(fix.Application):
    """The acceptor's application: orders in, reports out, matched by the venue kernels.

    book: {symbol: (bid, ask, bid_qty, ask_qty)} in our price units and lots;
    credentials: the logon expected (None: any logon is taken)."""

    def __init__(self, book: dict, store: str, tick_size: int = 1, credentials=None,
                 seed: int = 1):
        super().__init__()
        self.symbols = list(book)
        self.index = {name: i for i, name in enumerate(self.symbols)}
        self.top = np.array([book[s] for s in self.symbols], dtype=np.int64).reshape(-1, 4)
        self.tick_size = tick_size
        self.credentials = credentials
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        os.makedirs(store, exist_ok=True)
        self.rows = _table(os.path.join(store, ROWS_FILE), OPEN_ORDER_DTYPE, VENUE_SLOTS)
        self.state = _table(os.path.join(store, STATE_FILE), np.int64, 4)
        self.used = self.state[S_USED:S_USED + 1]
        self.dirty = np.zeros(1 + VENUE_SLOTS, dtype=np.int64)
        self.dirty_mark = np.zeros(VENUE_SLOTS, dtype=np.uint8)
        self.illegal = np.zeros(1, dtype=np.int64)
        self.levels = np.zeros((4, MAX_DEPTH_LEVELS), dtype=np.int64)
        self.scratch = np.zeros(VENUE_SLOTS, dtype=FILL_DTYPE)
        self.venue = VenueBook(self.rows, self.used, self.dirty, self.dirty_mark, TRANSITIONS,
                               self.illegal)
        # ClOrdID -> venue order id, and each order's current ClOrdID (the last accepted)
        self.ids_path = os.path.join(store, IDS_FILE)
        self.order_of, self.current = {}, {}
        self._load_ids()
        self.ids_file = open(self.ids_path, "a", buffering=1)
        self.session_id = None
        self.counts = {"orders": 0, "cancels": 0, "replaces": 0, "status_requests": 0,
                       "reports": 0, "duplicates_ignored": 0, "duplicates_rejected": 0,
                       "logons": 0, "logons_refused": 0, "fills": 0,
                       "poss_dup_received": 0, "session_rejects": 0}
        # the last application messages each way, raw ("out"/"in", text): for tests and
        # for looking at a session by hand
        self.wire = deque(maxlen=4096)

    # ---- persistence of ids ----------------------------------------------------------

    def _load_ids(self) -> None:
        if not os.path.exists(self.ids_path):
            return
        with open(self.ids_path) as f:
            for line in f:
                kind, cl, order = line.split()
                self.order_of[cl] = int(order)
                if kind in ("N", "R"):
                    self.current[int(order)] = cl

    def _note_id(self, kind: str, cl: str, order: int) -> None:
        self.order_of[cl] = order
        if kind in ("N", "R"):
            self.current[order] = cl
        # line-buffered: each line is written through to the page cache at once (a kill -9
        # of this process loses nothing); no fsync: a simulated venue need not outlive a
        # power cut, and it cost ~10x
        self.ids_file.write(f"{kind} {cl} {order}\n")

    # ---- QuickFIX's callbacks --------------------------------------------------------

    # QuickFIX lends the SessionID it passes to a callback: it is never kept (the one to
    # send to is our own copy, set by run_acceptor)
    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        self.counts["logons"] += 1

    def onLogout(self, session_id):
        pass

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        if msg_type(message) == fix.MsgType_Reject:
            self.counts["session_rejects"] += 1
        if msg_type(message) == fix.MsgType_Logon and self.credentials is not None:
            user, password = get(message, "Username"), get(message, "Password")
            if (user, password) != (self.credentials.username, self.credentials.password):
                self.counts["logons_refused"] += 1
                raise fix.RejectLogon("wrong username or password")

    def toApp(self, message, session_id):
        self.wire.append(("out", message.toString()))

    def fromApp(self, message, session_id):
        self.wire.append(("in", message.toString()))
        if poss_dup(message):
            self.counts["poss_dup_received"] += 1
        kind = msg_type(message)
        try:
            with self.lock:
                if kind == fix.MsgType_NewOrderSingle:
                    self._new(message)
                elif kind == fix.MsgType_OrderCancelRequest:
                    self._cancel(message)
                elif kind == fix.MsgType_OrderCancelReplaceRequest:
                    self._replace(message)
                elif kind == fix.MsgType_OrderStatusRequest:
                    self._status(message)
                else:
                    raise fix.UnsupportedMessageType()
        except FieldError as exc:
            self._business_reject(message, str(exc))
        except (fix.UnsupportedMessageType, fix.FieldNotFound, fix.IncorrectTagValue):
            raise  # QuickFIX answers these itself
        except Exception as exc:  # a bug here must not take the session down with it
            print(f"fix-sim: {type(exc).__name__}: {exc} (answered with a reject)",
                  file=sys.stderr)
            self._business_reject(message, f"venue error: {type(exc).__name__}")

    # ---- requests --------------------------------------------------------------------

    def _symbol(self, message):
        symbol = get(message, "Symbol")
        if symbol not in self.index:
            raise FieldError(f"unknown symbol {symbol!r}")
        return self.index[symbol]

    def _run(self, kernel, *args):
        self.dirty[0] = 0
        self.dirty_mark[:] = 0
        n = kernel(self.venue, *args, time.monotonic_ns(), self.scratch)
        return n

    def _market(self, symbol):
        bid, ask, bid_qty, ask_qty = (int(x) for x in self.top[symbol])
        return bid, ask, bid_qty, ask_qty, bool(bid > 0 and ask > 0)

    def _new(self, message) -> None:
        cl = get(message, "ClOrdID")
        if cl in self.order_of:
            if poss_dup(message):  # a resend of what we have: not a second order
                self.counts["duplicates_ignored"] += 1
                return
            self.counts["duplicates_rejected"] += 1
            return self._reject_new(message, ORD_REJ_DUPLICATE, f"duplicate ClOrdID {cl}")
        if get(message, "Symbol") not in self.index:
            return self._reject_new(message, ORD_REJ_UNKNOWN_SYMBOL,
                                    f"unknown symbol {get(message, 'Symbol')!r}")
        symbol = self._symbol(message)
        side = SIDE_FROM_FIX.get(get(message, "Side"))
        if side is None:
            raise FieldError(f"unsupported Side {get(message, 'Side')!r}")
        tif = TIF_FROM_FIX.get(get(message, "TimeInForce", "0"), TIF_GTC)
        order_type = ORDER_TYPE_IOC if tif == TIF_IOC else ORDER_TYPE_LIMIT
        qty, px = qty_lots(get(message, "OrderQty")), price_units(get(message, "Price", "0"))
        self.state[S_NEXT_ORDER] += 1
        order = int(self.state[S_NEXT_ORDER])
        self._note_id("N", cl, order)
        self.counts["orders"] += 1
        bid, ask, bid_qty, ask_qty, has_market = self._market(symbol)
        n = self._run(venue_new, order, symbol, side, order_type, tif, qty, px, self.tick_size,
                      bid, ask, bid_qty, ask_qty, has_market, self.levels, 0, True)
        self._send_reports(n, cl, None)

    def _known(self, message, response_to):
        """The venue order an F/G/H names (by OrigClOrdID, or ClOrdID for H), or None after
        answering it as unknown."""
        orig = get(message, "OrigClOrdID") or get(message, "ClOrdID")
        order = self.order_of.get(orig)
        if order is None and response_to is not None:
            self._cancel_reject(message, None, CXL_UNKNOWN_ORDER, response_to, "unknown order")
        return order

    def _on_order(self, message, counter, response_to):
        """The venue order a cancel or replace names, or None when there is nothing to do:
        a resend of one already taken (PossDupFlag), or an order it never had (answered
        with an OrderCancelReject)."""
        if get(message, "ClOrdID") in self.order_of and poss_dup(message):
            self.counts["duplicates_ignored"] += 1
            return None
        self.counts[counter] += 1
        return self._known(message, response_to)

    def _cancel(self, message) -> None:
        order = self._on_order(message, "cancels", CXL_RESPONSE_CANCEL)
        if order is None:
            return
        self._note_id("C", get(message, "ClOrdID"), order)
        n = self._run(venue_cancel, order)
        self._answer(n, message, CXL_RESPONSE_CANCEL)

    def _replace(self, message) -> None:
        order = self._on_order(message, "replaces", CXL_RESPONSE_REPLACE)
        if order is None:
            return
        cl = get(message, "ClOrdID")
        row = find_row(self.rows, self.used, order)
        symbol = int(self.rows[row]["symbol_id"]) if row >= 0 else 0
        bid, ask, bid_qty, ask_qty, has_market = self._market(symbol)
        n = self._run(venue_replace, order, qty_lots(get(message, "OrderQty")),
                      price_units(get(message, "Price", "0")), self.tick_size, bid, ask,
                      bid_qty, ask_qty, has_market, self.levels, 0)
        accepted = n > 0 and self.scratch[0]["exec_type"] != EXEC_REJECTED
        self._note_id("R" if accepted else "X", cl, order)
        self._answer(n, message, CXL_RESPONSE_REPLACE)

    def _answer(self, n, message, response_to) -> None:
        cl, orig = get(message, "ClOrdID"), get(message, "OrigClOrdID")
        if n > 0 and self.scratch[0]["exec_type"] == EXEC_REJECTED:
            reason = int(self.scratch[0]["reject_reason"]) - VENUE_REASON_BASE
            if reason == VENUE_UNKNOWN_ORDER:  # known by its ClOrdID (_known): its row was
                # reused once it ended, so it is too late, not unknown
                reason = VENUE_TOO_LATE
                self.scratch[0]["reject_reason"] = VENUE_REASON_BASE + VENUE_TOO_LATE
            code = CXL_TOO_LATE if reason == VENUE_TOO_LATE else (
                CXL_UNKNOWN_ORDER if reason == VENUE_UNKNOWN_ORDER else "99")
            self._cancel_reject(message, self.scratch[0], code, response_to,
                                reason_name(int(self.scratch[0]["reject_reason"])))
            return
        self._send_reports(n, cl, orig)

    def _status(self, message) -> None:
        self.counts["status_requests"] += 1
        order = self._known(message, None)
        row = find_row(self.rows, self.used, order) if order is not None else -1
        report = self._report_message(EXEC_STATUS, None if row < 0 else self.rows[row],
                                      get(message, "ClOrdID"), None)
        if row < 0:  # an order never seen: OrdStatus rejected, nothing open; the ClOrdID
            # asked about, so the client can tell which of its orders this answers
            for name, value in (("ClOrdID", get(message, "ClOrdID")),
                                ("Symbol", get(message, "Symbol")),
                                ("Side", get(message, "Side")), ("OrdStatus", "8"),
                                ("OrderID", "NONE"), ("Text", "unknown order")):
                report.setField(TAG[name], value)
        self._send(report)

    # ---- the market ------------------------------------------------------------------

    def market(self, symbol: str, bid: int, ask: int, bid_qty: int, ask_qty: int) -> None:
        """The touch of `symbol` moves: resting orders fill as it reaches them."""
        with self.lock:
            s = self.index[symbol]
            self.top[s] = (bid, ask, bid_qty, ask_qty)
            self._tick(s, False, 0, 0)

    def trade(self, symbol: str, px: int, qty: int) -> None:
        """A trade of qty at px: the queue ahead is eaten first, then our orders fill."""
        with self.lock:
            self._tick(self.index[symbol], True, px, qty)

    def _tick(self, s, is_trade, px, qty) -> None:
        bid, ask, bid_qty, ask_qty, _ = self._market(s)
        while True:  # the kernel stops at the scratch's end: call again while it fills it
            n = self._run(venue_on_tick, s, bid, ask, bid_qty, ask_qty, is_trade, px, qty, 0,
                          self.levels, 0)
            self._send_reports(n, None, None)
            if n < self.scratch.shape[0]:
                break

    def walk(self, step_s: float, stop: threading.Event, trade_max: int = 20) -> None:
        """The seeded walk (`--walk-ms`): each step a trade at the touch, or the touch
        moving a tick, for one symbol at a time, until `stop` is set."""
        while not stop.wait(step_s):
            s = self.rng.randrange(len(self.symbols))
            bid, ask, bid_qty, ask_qty = (int(x) for x in self.top[s])
            if self.rng.random() < 0.5:
                buy = self.rng.random() < 0.5
                self.trade(self.symbols[s], ask if buy else bid, self.rng.randint(1, trade_max))
            else:
                move = self.tick_size * self.rng.choice((-1, 1))
                if bid + move > 0:
                    self.market(self.symbols[s], bid + move, ask + move, bid_qty, ask_qty)

    def follow(self, engine: str, stop: threading.Event, step_s: float = 0.001,
               say=lambda line: None) -> None:
        """The touch of every symbol from a running engine's own top of book (`--follow`:
        the engine's `[fix_venue] sim = true`), read from its segment every step_s, so
        its strategies trade against the market they see; row s of its book is our
        symbol s. Waits for the engine; when it stops, the book stays as it last was
        until an engine of that name runs again. Ends with `stop`."""
        from tickpipe.engine.book import BOOK_OK, book_read
        from tickpipe.engine.segment import SegmentError, attach_segment
        from tickpipe.shm_layouts.book import BOOK_DTYPE
        top = np.zeros(4, dtype=np.int64)
        waiting_said = False
        while not stop.is_set():
            try:
                segment = attach_segment(engine, readonly=True)
            except (SegmentError, OSError):
                if not waiting_said:
                    say(f"fix-sim: waiting for engine {engine!r} to follow its market")
                    waiting_said = True
                stop.wait(0.05)
                continue
            owner = int(segment.header["owner_pid"])
            say(f"fix-sim: following engine {engine!r}'s market (pid {owner})")
            book = segment.view("book", BOOK_DTYPE)
            rows = [(s, name) for s, name in enumerate(self.symbols) if s < len(book)]
            checked = time.monotonic()
            while not stop.wait(step_s):
                for s, name in rows:
                    if book_read(book, book.ctypes.data, s, top) == BOOK_OK and \
                            tuple(int(x) for x in self.top[s]) != tuple(int(x) for x in top):
                        self.market(name, int(top[0]), int(top[1]), int(top[2]),
                                    int(top[3]))
                if time.monotonic() - checked > 0.5:
                    checked = time.monotonic()
                    if not _alive(owner):
                        break
            del book
            segment.close()
            if not stop.is_set():
                say(f"fix-sim: engine {engine!r} has stopped; the book stays as it last was")
                waiting_said = False

    # ---- reports out -----------------------------------------------------------------

    def _report_message(self, exec_type, row, cl, orig):
        """An ExecutionReport of `row` (an order row, or a report the kernels made)."""
        message = fix.Message()
        message.getHeader().setField(fix.MsgType(fix.MsgType_ExecutionReport))
        self.state[S_NEXT_EXEC] += 1
        fields = {"ExecID": str(int(self.state[S_NEXT_EXEC])),
                  "ExecType": EXEC_TYPE_TO_FIX[exec_type]}
        if row is not None:
            r = dict(zip(row.dtype.names, row.item()))  # Python ints: one read of the record
            order, status = r["order_id"], r.get("status", r.get("ord_status"))
            fields.update(
                OrderID=str(order), ClOrdID=cl or self.current.get(order, str(order)),
                OrdStatus=ord_status_fix(status, r["cum_qty"]),
                Symbol=self.symbols[r["symbol_id"]], Side=SIDE_TO_FIX[r["side"]],
                CumQty=qty_text(r["cum_qty"]), LeavesQty=qty_text(r["leaves_qty"]),
                AvgPx=price_text(r["avg_px"]), TimeInForce=TIF_TO_FIX.get(r["time_in_force"], "1"),
                OrderQty=qty_text(r.get("qty", r.get("order_qty"))),
                Price=price_text(r.get("limit_px", r.get("order_px"))))
        else:
            fields.update(CumQty="0", LeavesQty="0", AvgPx="0")
        if orig:
            fields["OrigClOrdID"] = orig
        for name, value in fields.items():
            message.setField(TAG[name], value)
        message.setField(fix.TransactTime())
        return message

    def _send_reports(self, n, cl, orig) -> None:
        for j in range(n):
            r = self.scratch[j]
            kind = int(r["exec_type"])
            message = self._report_message(kind, r, cl, orig)
            if kind in (EXEC_FILL, EXEC_PARTIAL_FILL):
                message.setField(TAG["LastQty"], qty_text(r["last_qty"]))
                message.setField(TAG["LastPx"], price_text(r["last_px"]))
                self.counts["fills"] += 1
            if kind == EXEC_REJECTED:
                message.setField(TAG["OrdRejReason"], "99")
                message.setField(TAG["Text"], reason_name(int(r["reject_reason"])))
            self._send(message)

    def _cancel_reject(self, message, report, code, response_to, text) -> None:
        reject = fix.Message()
        reject.getHeader().setField(fix.MsgType(fix.MsgType_OrderCancelReject))
        order = None if report is None else int(report["order_id"])
        status = "8" if report is None else ord_status_fix(int(report["ord_status"]),
                                                            int(report["cum_qty"]))
        for name, value in (("OrderID", "NONE" if order is None else str(order)),
                            ("ClOrdID", get(message, "ClOrdID")),
                            ("OrigClOrdID", get(message, "OrigClOrdID")), ("OrdStatus", status),
                            ("CxlRejResponseTo", response_to), ("CxlRejReason", code),
                            ("Text", text)):
            reject.setField(TAG[name], value)
        self._send(reject)

    def _reject_new(self, message, reason: str, text: str) -> None:
        """A NewOrderSingle refused before it reaches the book: an ExecutionReport
        Rejected for its ClOrdID (the client can match it), nothing else changes."""
        reject = self._report_message(EXEC_REJECTED, None, None, None)
        for name, value in (("ClOrdID", get(message, "ClOrdID")), ("OrderID", "NONE"),
                            ("OrdStatus", "8"), ("Symbol", get(message, "Symbol")),
                            ("Side", get(message, "Side")), ("OrdRejReason", reason),
                            ("Text", text[:200])):
            reject.setField(TAG[name], value)
        self._send(reject)

    def _business_reject(self, message, text) -> None:
        reject = fix.Message()
        reject.getHeader().setField(fix.MsgType(fix.MsgType_BusinessMessageReject))
        reject.setField(fix.RefMsgType(msg_type(message)))
        if message.isSetField(TAG["ClOrdID"]):  # BusinessRejectRefID: which request
            reject.setField(379, get(message, "ClOrdID"))
        reject.setField(fix.BusinessRejectReason(0))
        reject.setField(TAG["Text"], text[:200])
        self._send(reject)

    def _send(self, message) -> None:
        self.counts["reports"] += 1
        if self.session_id is not None:
            fix.Session.sendToTarget(message, self.session_id)

    def warm_up(self) -> None:
        """Load every kernel's compiled code now, on a scratch table: a first call inside
        QuickFIX's callback would hold the session for as long as that takes."""
        rows = np.zeros(4, dtype=OPEN_ORDER_DTYPE)
        used = np.zeros(1, dtype=np.int64)
        scratch_book = VenueBook(rows, used, np.zeros(5, dtype=np.int64),
                                 np.zeros(4, dtype=np.uint8), TRANSITIONS,
                                 np.zeros(1, dtype=np.int64))
        venue_new(scratch_book, 1, 0, 1, ORDER_TYPE_LIMIT, TIF_GTC, 1, 100, 1, 100, 101, 1, 1, True,
                  self.levels, 0, True, 0, self.scratch)
        venue_replace(scratch_book, 1, 2, 99, 1, 100, 101, 1, 1, True, self.levels, 0, 0,
                      self.scratch)
        venue_on_tick(scratch_book, 0, 100, 101, 1, 1, True, 100, 1, 0, self.levels, 0, 0,
                      self.scratch)
        venue_cancel(scratch_book, 1, 0, self.scratch)
        find_row(rows, used, 1)

    def summary(self) -> dict:
        with self.lock:
            statuses = self.rows["status"][:int(self.used[0])]
            working = sum(1 for status in statuses if status != 0 and not is_final(int(status)))
            return {**self.counts, "working": working}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ord_status_fix(status: int, cum_qty: int) -> str:
    """OrdStatus (39) of our status: FIX 4.4 has no "replaced" status any more (5 is
    retired); a replaced order is New or PartiallyFilled again."""
    if status == STATUS_REPLACED:
        return "1" if cum_qty > 0 else "0"
    return STATUS_TO_FIX[status]


def _table(path: str, dtype, n: int) -> np.ndarray:
    """A table of n rows in a file (zeros the first time), mapped: the venue's memory."""
    dtype = np.dtype(dtype)
    mode = "r+" if os.path.exists(path) and os.path.getsize(path) == dtype.itemsize * n else "w+"
    # a plain ndarray over the mapping: the kernels then see the type warm_up compiled for
    return np.memmap(path, dtype=dtype, mode=mode, shape=(n,)).view(np.ndarray)


def parse_book(text: str, price_scale: int) -> tuple[str, tuple]:
    """'AAA=100.00/100.01x50/60' -> ('AAA', (bid, ask, bid_qty, ask_qty)) in our units."""
    name, sep, rest = text.partition("=")
    prices, x, sizes = rest.partition("x")
    bid, slash, ask = prices.partition("/")
    bid_qty, slash2, ask_qty = sizes.partition("/")
    if not (sep and x and slash and slash2 and name):
        raise FieldError(f"--book {text!r}: expected SYMBOL=BID/ASKxBIDQTY/ASKQTY, "
                         "e.g. AAA=100.00/100.01x50/60")
    book = (price_units(bid), price_units(ask), qty_lots(bid_qty), qty_lots(ask_qty))
    if not (0 < book[0] < book[1]) or book[2] < 0 or book[3] < 0:
        raise FieldError(f"--book {text!r}: needs 0 < bid < ask and sizes >= 0")
    return name, book


class SimServer:
    """The acceptor serving a SimExchange.

    QuickFIX's ThreadedSocketAcceptor, not its SocketAcceptor: in 1.16.0 the latter's
    stop() closes its server socket from the caller's thread while its own thread, seeing
    the stop, deletes that server (SocketAcceptor::onStop against onStart): a
    use-after-free that crashed most of our test runs at their end (gdb: in
    SocketServer::close). The threaded acceptor takes a lock around the same step."""

    def __init__(self, app: SimExchange, settings):
        self.app, self.settings = app, settings
        self.acceptor = self.factories = None

    def start(self) -> "SimServer":
        self.app.warm_up()
        self.app.session_id = self.settings.session_id
        # QuickFIX keeps references to its factories, not copies: they must outlive it
        self.factories = (fix.FileStoreFactory(self.settings.settings),
                          fix.ScreenLogFactory(False, False, False))
        self.acceptor = fix.ThreadedSocketAcceptor(self.app, self.factories[0],
                                                   self.settings.settings, self.factories[1])
        self.acceptor.start()
        return self

    def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.stop()
            self.acceptor = None

    def describe(self) -> str:
        values = self.settings.values
        return (f"fix-sim: FIX 4.4 acceptor on {self.settings.address} "
                f"({values['SenderCompID']} <- {values['TargetCompID']}), "
                f"symbols {', '.join(self.app.symbols)}")


def run_acceptor(app: SimExchange, settings, say=print, walk_ms: float = 0.0,
                 stop: threading.Event | None = None, status_file: str | None = None,
                 follow: str | None = None):
    """Serve `app` under `settings` (workers/fix_venue/settings.py) until `stop` is set
    (`tickpipe venue fix-sim`: this thread starts and stops the acceptor)."""
    stop = stop or threading.Event()
    server = SimServer(app, settings).start()
    say(server.describe())
    walker = None
    if follow:
        walker = threading.Thread(target=app.follow, args=(follow, stop),
                                  kwargs={"say": say}, daemon=True)
        walker.start()
    elif walk_ms > 0:
        walker = threading.Thread(target=app.walk, args=(walk_ms / 1000.0, stop), daemon=True)
        walker.start()
    def write_status():
        if status_file:
            tmp = status_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(app.summary(), f)
            os.replace(tmp, status_file)

    try:
        while not stop.wait(0.2):
            write_status()
    finally:
        stop.set()
        if walker is not None:
            walker.join()
        server.stop()
        write_status()  # the counts as they ended, not as of the last 0.2 s tick
