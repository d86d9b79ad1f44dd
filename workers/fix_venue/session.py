"""The FIX 4.4 initiator: QuickFIX owns the session layer (logon, heartbeats, test
requests, sequence numbers in its file store, resend requests and gap fills, logout);
this class owns what the engine needs from it:

  state    DOWN (no session: new orders are refused, cancels queue), RECONCILING (logged
           on again with orders open: an OrderStatusRequest each; new orders and
           replaces are refused and cancels held until every one is answered, or
           refused, or reconcile_timeout_s passes), UP. A lost session (TCP drop,
           logout, heartbeat timeout) is DOWN, never an exception; QuickFIX reconnects
           every ReconnectInterval.
  orders   new / cancel / replace / status, by our order id (a new order's id must be
           new: its ClOrdIDs are derived from it), with ClOrdID and OrigClOrdID chained
           (workers/fix_venue/fields.py)
  reports  ExecutionReports and OrderCancelRejects, read into dicts of our units and
           queued for `poll()`; one seen before (its ExecID: a resend after a reconnect
           carries PossDupFlag) is counted and dropped, so nothing is applied twice.
           Status answers are not: FIX 4.4 lets them all carry ExecID 0

`start()` waits for the first logon and raises FixVenueError, one line, when the venue
refuses it (wrong password: the initiator is stopped, so no retry storm) or does not
answer within the logon timeout.
"""

import queue
import threading
import time
from collections import deque

import quickfix as fix

from tickpipe.engine.order_states import is_final
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED,
)
from tickpipe.shm_layouts.open_order import STATUS_PENDING_NEW, STATUS_REJECTED
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_LIMIT, TIF_GTC
from tickpipe.workers.fix_venue.fields import (
    EXEC_STATUS, FieldError, cl_ord_id, order_id_of,
)
from tickpipe.workers.fix_venue.messages import (
    cancel_request, get, msg_type, new_order, read_cancel_reject, read_execution_report,
    replace_request, status_request,
)

DOWN, RECONCILING, UP, STOPPED = "down", "reconciling", "up", "stopped"
SEEN_EXEC_IDS = 1 << 18  # ExecIDs remembered to drop a duplicate (~25 MB at most)
# what a request call returns
SENT, REFUSED_DOWN, QUEUED, UNKNOWN_ORDER, REFUSED_FINAL, DUPLICATE_ID = 0, 1, 2, 3, 4, 5


class FixVenueError(Exception):
    """The session cannot start: one line (never the password)."""


class _Order:
    __slots__ = ("order_id", "symbol", "side", "qty", "px", "tif", "current", "k", "cum_qty",
                 "leaves_qty", "status", "prefix")

    def __init__(self, order_id, symbol, side, qty, px, tif, prefix=""):
        self.order_id, self.symbol, self.side, self.qty, self.px = order_id, symbol, side, qty, px
        self.tif, self.current, self.k = tif, cl_ord_id(order_id, 0, prefix), 0
        self.cum_qty, self.leaves_qty, self.status = 0, qty, STATUS_PENDING_NEW
        self.prefix = prefix

    def next_id(self) -> str:
        self.k += 1
        return cl_ord_id(self.order_id, self.k, self.prefix)


class FixSession(fix.Application):
    """One initiator session to a venue (settings: workers/fix_venue/settings.py)."""

    def __init__(self, settings, credentials=None, say=lambda line: None,
                 reconcile_timeout_s: float = 10.0, id_prefix: str = ""):
        super().__init__()
        self.id_prefix = id_prefix  # ahead of every ClOrdID (fields.cl_ord_id)
        self.settings = settings
        self.credentials = credentials
        self.say = say
        self.lock = threading.RLock()
        self.logged_on = threading.Event()
        self.state = DOWN
        self.reports = queue.SimpleQueue()
        self.orders: dict[int, _Order] = {}
        self.seen_exec: set[str] = set()
        self.queued_cancels: list[int] = []
        self.awaiting_status: set[int] = set()
        self.reconcile_timeout_s = reconcile_timeout_s
        self.reconcile_deadline = 0.0
        self.seen_order: deque = deque()  # the ExecIDs in seen_exec, oldest first
        self.refused: str | None = None
        self.ever_up = False
        self.session_id = settings.session_id
        self.initiator = None
        self.counts = {"new": 0, "cancel": 0, "replace": 0, "status": 0, "reports": 0,
                       "duplicate_reports": 0, "session_rejects": 0, "business_rejects": 0,
                       "unreadable_reports": 0, "logons": 0, "disconnects": 0,
                       "reconciled": 0, "reconcile_mismatches": 0, "reconcile_timeouts": 0,
                       "refused_down": 0, "queued_cancels": 0}
        self.wire = deque(maxlen=4096)  # the last application messages: ("out"/"in", raw)
        # perf_counter_ns when the last request was made, and when it left sendToTarget
        # (QuickFIX has then written it to the socket, or queued it when the socket was full)
        self.last_built_ns = self.last_send_ns = 0

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, timeout_s: float | None = None, stop_on_timeout: bool = True) -> None:
        """Connect and wait for the first logon (FixVenueError: refused, or no answer;
        with stop_on_timeout False, no answer leaves QuickFIX retrying: the session is
        DOWN until the venue answers)."""
        values = self.settings.values
        timeout_s = float(values["LogonTimeout"]) + 1.0 if timeout_s is None else timeout_s
        # QuickFIX keeps references to its factories, not copies: they must outlive it
        self.factories = (fix.FileStoreFactory(self.settings.settings),
                          fix.ScreenLogFactory(False, False, False))
        try:
            self.initiator = fix.SocketInitiator(self, self.factories[0],
                                                 self.settings.settings, self.factories[1])
            self.initiator.start()
        except (fix.ConfigError, fix.RuntimeError, RuntimeError) as exc:
            raise FixVenueError(f"QuickFIX refused the session's settings: {exc}") from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.refused is None:
            if self.logged_on.wait(0.02):
                return
        if self.refused is not None or stop_on_timeout:
            self.stop(logout=False)
        if self.refused is not None:
            raise FixVenueError(f"the venue at {self.settings.address} refused the logon: "
                                f"{self.refused}")
        raise FixVenueError(f"no logon answer from the venue at {self.settings.address} "
                            f"within {timeout_s:g} s")

    def stop(self, logout: bool = True) -> None:
        """Log out (QuickFIX sends the Logout and waits for its answer) and disconnect."""
        with self.lock:
            self.state = STOPPED  # the logout that follows is ours, not a lost session
        initiator, self.initiator = self.initiator, None
        if initiator is not None:
            initiator.stop(not logout)

    # ---- QuickFIX's callbacks (its thread) -----------------------------------------------

    def onCreate(self, session_id):
        pass

    # Locks: QuickFIX calls these holding its session's lock, and sendToTarget takes that
    # lock. So nothing here calls QuickFIX while holding self.lock, and no request method
    # does either: each decides under self.lock and sends after releasing it (_flush).
    # Otherwise a logout arriving while an order goes out would deadlock the two threads.
    # And no exception may leave a callback: it would unwind into QuickFIX's C++.

    def onLogon(self, session_id):
        outbox = []
        try:
            with self.lock:
                self.counts["logons"] += 1
                self.refused = None
                open_orders = [o for o in self.orders.values() if not is_final(o.status)]
                if self.ever_up and open_orders:
                    # a reconnect: what the venue holds is read before trading resumes
                    self.say(f"fix: session to {self.settings.address} up: reconciling "
                             f"{len(open_orders)} open orders before trading resumes")
                    self.state = RECONCILING
                    self.reconcile_deadline = time.monotonic() + self.reconcile_timeout_s
                    self.awaiting_status = {o.order_id for o in open_orders}
                    outbox = [(status_request(o.current, o.symbol, o.side), "status")
                              for o in open_orders]
                else:
                    if self.ever_up:
                        self.say(f"fix: session to {self.settings.address} up again: "
                                 "trading resumes")
                    outbox = self._up()
                self.ever_up = True
            self._flush(outbox)
        except Exception as exc:  # noqa: BLE001 (see above: never into QuickFIX)
            self.say(f"fix: error at logon: {type(exc).__name__}: {exc}")
        self.logged_on.set()

    def onLogout(self, session_id):
        with self.lock:
            if self.state in (UP, RECONCILING):
                self.counts["disconnects"] += 1
                self.say(f"fix: session to {self.settings.address} lost: trading halted until "
                         "it logs on again")
            if self.state != STOPPED:
                self.state = DOWN
        self.logged_on.clear()

    def toAdmin(self, message, session_id):
        try:
            if msg_type(message) == fix.MsgType_Logon and self.credentials is not None:
                message.setField(fix.Username(self.credentials.username))
                message.setField(fix.Password(self.credentials.password))
        except Exception as exc:  # noqa: BLE001 (never into QuickFIX)
            self.say(f"fix: error adding the logon's credentials: {type(exc).__name__}")

    def fromAdmin(self, message, session_id):
        try:
            self._from_admin(message)
        except Exception as exc:  # noqa: BLE001 (never into QuickFIX)
            self.say(f"fix: error reading an admin message: {type(exc).__name__}: {exc}")

    def _from_admin(self, message):
        kind = msg_type(message)
        if kind == fix.MsgType_Logout and not self.logged_on.is_set():
            self.refused = get(message, "Text", "logout without a reason")
        elif kind == fix.MsgType_Reject:
            with self.lock:
                self.counts["session_rejects"] += 1
            self.reports.put({"kind": "session_reject", "ref_seq": get(message, "RefSeqNum"),
                              "text": get(message, "Text", "")})

    def toApp(self, message, session_id):
        self.wire.append(("out", message.toString()))

    def fromApp(self, message, session_id):
        received_ns = time.perf_counter_ns()
        self.wire.append(("in", message.toString()))
        kind = msg_type(message)
        try:
            if kind == fix.MsgType_ExecutionReport:
                report = read_execution_report(message)
            elif kind == fix.MsgType_OrderCancelReject:
                report = read_cancel_reject(message)
            elif kind == fix.MsgType_BusinessMessageReject:
                # BusinessRejectRefID (379): the ClOrdID of the request refused, when given
                ref = message.getField(379) if message.isSetField(379) else None
                self._business_reject(ref, get(message, "Text", ""))
                return
            else:
                return
        except Exception as exc:  # noqa: BLE001 (never into QuickFIX)
            # counted and said: a report we cannot read is never guessed at
            with self.lock:
                self.counts["unreadable_reports"] += 1
            self.say(f"fix: unreadable report: {type(exc).__name__}: {exc}")
            return
        report["received_ns"] = received_ns
        try:
            with self.lock:
                outbox = self._apply(report)
            self._flush(outbox)
        except Exception as exc:  # noqa: BLE001 (never into QuickFIX)
            self.say(f"fix: error applying a report: {type(exc).__name__}: {exc}")

    # ---- reports ---------------------------------------------------------------------

    def _apply(self, report: dict) -> list:
        """A report into our order table; returns what must be sent because of it."""
        exec_id = report.get("exec_id")
        if exec_id is not None and report.get("exec_type") != EXEC_STATUS:
            # FIX 4.4 lets every status answer carry ExecID 0: those are never duplicates
            if exec_id in self.seen_exec:
                self.counts["duplicate_reports"] += 1
                return []
            self.seen_exec.add(exec_id)
            self.seen_order.append(exec_id)
            if len(self.seen_order) > SEEN_EXEC_IDS:  # a resend reaches back so far at most
                self.seen_exec.discard(self.seen_order.popleft())
        self.counts["reports"] += 1
        try:
            order_id = order_id_of(report["cl_ord_id"] or "", self.id_prefix)
        except FieldError:
            order_id = None
        report["order_id"] = order_id
        order = self.orders.get(order_id)
        outbox = []
        if order is not None and report["kind"] == "execution_report":
            kind = report["exec_type"]
            if kind == EXEC_STATUS:
                outbox = self._reconcile(order, report)
            else:
                if kind in (EXEC_NEW, EXEC_REPLACED):
                    order.current = report["cl_ord_id"]
                if kind == EXEC_REPLACED:
                    order.qty, order.px = report["order_qty"], report["order_px"]
                if kind in (EXEC_NEW, EXEC_REPLACED, EXEC_FILL, EXEC_PARTIAL_FILL,
                            EXEC_CANCELLED, EXEC_EXPIRED, EXEC_REJECTED):
                    order.status = report["ord_status"]
                    order.cum_qty, order.leaves_qty = report["cum_qty"], report["leaves_qty"]
        self.reports.put(report)
        return outbox

    def _reconcile(self, order: _Order, report: dict) -> list:
        """An answer to a status request: the venue's word is the order's state, except
        that fills we hold are never taken back (a venue that no longer knows a filled
        order answers "rejected, nothing filled"); a difference is counted."""
        if (report["cum_qty"], report["ord_status"]) != (order.cum_qty, order.status):
            self.counts["reconcile_mismatches"] += 1
            report["mismatch"] = {"ours": [order.cum_qty, order.status],
                                  "venue": [report["cum_qty"], report["ord_status"]]}
            if report["cum_qty"] >= order.cum_qty:
                order.cum_qty, order.leaves_qty = report["cum_qty"], report["leaves_qty"]
                order.status = report["ord_status"]
        self.counts["reconciled"] += 1
        return self._answered(order.order_id)

    def _answered(self, order_id) -> list:
        """One status request fewer to wait for; trading resumes after the last."""
        self.awaiting_status.discard(order_id)
        if self.state == RECONCILING and not self.awaiting_status:
            self.say(f"fix: open orders reconciled ({self.counts['reconcile_mismatches']} "
                     "differences so far, each applied): trading resumes")
            return self._up()
        return []

    def _business_reject(self, ref, text) -> None:
        """A request refused at the business level: an order it names that was never
        acknowledged ends (rejected); a status request it names is answered."""
        with self.lock:
            self.counts["business_rejects"] += 1
            order_id = None
            try:
                order_id = order_id_of(ref, self.id_prefix) if ref else None
            except FieldError:
                pass
            order = self.orders.get(order_id)
            outbox = []
            if order is not None:
                if order.status == STATUS_PENDING_NEW and ref == cl_ord_id(order_id, 0, self.id_prefix):
                    order.status = STATUS_REJECTED
                outbox = self._answered(order_id)
        self.reports.put({"kind": "business_reject", "cl_ord_id": ref, "order_id": order_id,
                          "text": text})
        self._flush(outbox)

    def _up(self) -> list:
        """Trading resumes; returns the cancels queued while down, to be sent."""
        self.state = UP
        cancels, self.queued_cancels = self.queued_cancels, []
        outbox = []
        for order_id in cancels:
            order = self.orders.get(order_id)
            if order is not None and not is_final(order.status):
                outbox.append((cancel_request(order.next_id(), order.current, order.symbol,
                                              order.side, order.qty), "cancel"))
        return outbox

    def check_reconcile_deadline(self) -> None:
        """Reconciliation that outlives its timeout (an answer that never comes) ends:
        counted, said, and trading resumes rather than stay halted for good."""
        outbox = []
        with self.lock:
            if self.state == RECONCILING and time.monotonic() > self.reconcile_deadline:
                self.counts["reconcile_timeouts"] += 1
                self.say(f"fix: {len(self.awaiting_status)} status requests unanswered after "
                         f"{self.reconcile_timeout_s:g} s: trading resumes without them")
                self.awaiting_status = set()
                outbox = self._up()
        self._flush(outbox)

    def poll(self, limit: int = 1 << 30, check_deadline: bool = True) -> list[dict]:
        """The reports received since the last poll (in arrival order); first, unless
        check_deadline is False, the reconciliation's deadline (which may send: never
        call it holding a lock a QuickFIX callback takes)."""
        if check_deadline:
            self.check_reconcile_deadline()
        out = []
        while len(out) < limit:
            try:
                out.append(self.reports.get_nowait())
            except queue.Empty:
                break
        return out

    # ---- requests (the engine's thread) ------------------------------------------------

    def _flush(self, outbox) -> None:
        """Send what was decided under the lock, after releasing it (see the callbacks)."""
        for message, kind in outbox:
            self._send(message, kind)

    def _send(self, message, kind: str) -> None:
        self.last_built_ns = time.perf_counter_ns()  # the message is made: QuickFIX's part
        fix.Session.sendToTarget(message, self.session_id)
        self.last_send_ns = time.perf_counter_ns()
        with self.lock:
            self.counts[kind] += 1

    def new(self, order_id: int, symbol: str, side: int, qty: int, px: int,
            order_type: int = ORDER_TYPE_LIMIT, tif: int = TIF_GTC) -> int:
        with self.lock:
            if self.state != UP:
                self.counts["refused_down"] += 1
                return REFUSED_DOWN
            if order_id in self.orders:  # its ClOrdIDs are taken: the venue would refuse them
                return DUPLICATE_ID
            order = _Order(order_id, symbol, side, qty, px, tif, self.id_prefix)
            message = new_order(order.current, symbol, side, qty, px, order_type, tif)
            self.orders[order_id] = order  # only once its message could be made
        self._send(message, "new")
        return SENT

    def cancel(self, order_id: int) -> int:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return UNKNOWN_ORDER
            if self.state != UP:  # sent once the session is back and reconciled
                if order_id not in self.queued_cancels:
                    self.queued_cancels.append(order_id)
                    self.counts["queued_cancels"] += 1
                return QUEUED
            if is_final(order.status):
                return REFUSED_FINAL
            message = cancel_request(order.next_id(), order.current, order.symbol, order.side,
                                     order.qty)
        self._send(message, "cancel")
        return SENT

    def replace(self, order_id: int, qty: int, px: int) -> int:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return UNKNOWN_ORDER
            if self.state != UP:
                self.counts["refused_down"] += 1
                return REFUSED_DOWN
            message = replace_request(order.next_id(), order.current, order.symbol, order.side,
                                      qty, px, order.tif)
        self._send(message, "replace")
        return SENT

    def status(self, order_id: int) -> int:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return UNKNOWN_ORDER
            if self.state == DOWN or self.state == STOPPED:
                return REFUSED_DOWN
            message = status_request(order.current, order.symbol, order.side)
        self._send(message, "status")
        return SENT

    def open_orders(self) -> list[int]:
        with self.lock:
            return [o.order_id for o in self.orders.values() if not is_final(o.status)]

    def summary(self) -> dict:
        with self.lock:
            return {"state": self.state, "address": self.settings.address,
                    "open_orders": sum(1 for o in self.orders.values() if not is_final(o.status)),
                    **self.counts}
