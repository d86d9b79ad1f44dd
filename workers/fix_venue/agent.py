"""The FIX venue's worker: the gateway's requests (venue_requests) to a FIX 4.4 session
(workers/fix_venue/session.py), and the venue's answers to the gateway (venue_reports).

Not a jitted loop: QuickFIX is a C++ engine with its own threads that calls back into
Python holding the GIL. This thread reads requests and keeps the heartbeat; QuickFIX's
thread puts each report on the ring from inside its callback, under `ring_lock` (the
ring has one producer: this process, one thread at a time). A report goes on the ring
before the callback returns, and QuickFIX counts a message received only once its
callback has returned, so a kill between the two leaves a gap that the next logon's
resend request fills: a report is lost by neither, and one delivered twice is dropped
by the gateway's table (workers/gateway/external.py).

Venue down is a state: while the session is down or reconciling, a new order or a
replace is answered REJECTED venue_halted at once and a cancel waits for the session
(FixSession); the state is in this worker's counters (`state`), in `tickpipe inspect`
and in Prometheus.

A restart of this process loses nothing the venue holds: every ClOrdID is written to
the store's log (`clordids.log`) before its message is handed to QuickFIX, and a
restarted worker takes the working orders from the gateway's table (once the gateway
has read every report already on the ring), their ClOrdIDs from the log, and asks the
venue for each with an OrderStatusRequest at its first logon before trading resumes.
A request read off the ring whose message never went out is answered by the venue as
unknown, and so ends rejected: nothing is sent twice, nothing is lost.
"""

import os
import threading
import time

import numpy as np

from tickpipe.engine.agent import say
from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.engine_layout import venue_orders
from tickpipe.engine.order_states import is_final
from tickpipe.engine.idle import I_DOORBELL_ADDR
from tickpipe.engine.ring import (
    H_HEAD_ADDR, H_POSITION, H_TAIL_ADDR, RingConsumer, RingProducer, consumer_available,
    consumer_has_data, consumer_release,
)
from tickpipe.engine.role import FinalError
from tickpipe.shm_layouts.control_block import (
    CLOSING_OFFSET, STOP_ALL_OFFSET, TRADING_HALTED, TRADING_STATE_OFFSET,
)
from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED, FILL_DTYPE, VENUE_HALTED, VENUE_REASON_BASE, VENUE_REASON_NAMES, VENUE_REFUSED,
    VENUE_TOO_LATE, VENUE_UNKNOWN_ORDER,
)
from tickpipe.shm_layouts.open_order import (
    STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NEW, STATUS_NONE,
    STATUS_PARTIALLY_FILLED, STATUS_PENDING_NEW, STATUS_REJECTED,
)
from tickpipe.shm_layouts.order import ORDER_DTYPE
from tickpipe.shm_layouts.order_intent import REQ_CANCEL, REQ_NEW, REQ_REPLACE
from tickpipe.shm_layouts.worker_table import (
    W_BUSY_PASSES, W_COUNTERS, W_HEARTBEAT_NS, W_IDLE_PASSES, W_PROCESSED, W_PUBLISHED,
    W_SLEEPS,
)
from tickpipe.workers.fix_venue.credentials import load_credentials
from tickpipe.workers.fix_venue.fields import EXEC_STATUS, cl_ord_id
from tickpipe.workers.fix_venue.role import (
    FIX_ACK_P50_NS, FIX_ACK_P99_NS, FIX_BUSINESS_REJECTS, FIX_DISCONNECTS, FIX_DUPLICATES,
    FIX_HELD, FIX_INEXACT_PRICES, FIX_LOGONS, FIX_MISMATCHES, FIX_OPEN_ORDERS,
    FIX_QUEUED_CANCELS, FIX_RECONCILED, FIX_REFUSED_DOWN, FIX_REPORTS, FIX_REQUESTS,
    FIX_READ_P50_NS, FIX_READ_P99_NS, FIX_RESTORED, FIX_SEND_P50_NS, FIX_SEND_P99_NS,
    FIX_SESSION_REJECTS, FIX_STATE, FIX_UNREADABLE, STATE_CODES,
)
from tickpipe.workers.fix_venue.sections import SIM_SENDER, SIM_TARGET
from tickpipe.workers.fix_venue.session import (
    DUPLICATE_ID, QUEUED, REFUSED_DOWN, REFUSED_FINAL, SENT, UNKNOWN_ORDER, FixVenueError,
    _Order,
)
from tickpipe.workers.fix_venue.sent_log import LoggedSession, SentLog, k_of
from tickpipe.workers.fix_venue.settings import make_settings, read_settings_file

# a request the session did not send, and the reject reason it is answered with
REASON_OF_REFUSAL = {REFUSED_DOWN: VENUE_HALTED, UNKNOWN_ORDER: VENUE_UNKNOWN_ORDER,
                     REFUSED_FINAL: VENUE_TOO_LATE, DUPLICATE_ID: VENUE_REFUSED}
REASON_BY_NAME = {name: code for code, name in VENUE_REASON_NAMES.items()}
# an execution report's status, by what it reports (the venue's OrdStatus is not taken:
# venues differ, FIX 4.4 retired "5" Replaced that many still send, and the gateway's
# row must never get a status it does not know)
STATUS_OF_END = {EXEC_FILL: STATUS_FILLED, EXEC_CANCELLED: STATUS_CANCELED,
                 EXEC_EXPIRED: STATUS_EXPIRED, EXEC_REJECTED: STATUS_REJECTED}


def status_of(exec_type: int, cum_qty: int, leaves_qty: int) -> int:
    """What an order is after a report of `exec_type` (a new, a replace or a partial fill
    leave it working: NEW, or PARTIALLY_FILLED once anything has filled)."""
    if exec_type == EXEC_FILL and leaves_qty > 0:
        return STATUS_PARTIALLY_FILLED  # read_execution_report says FILL only at leaves 0
    if exec_type in STATUS_OF_END:
        return STATUS_OF_END[exec_type]
    return STATUS_PARTIALLY_FILLED if cum_qty > 0 else STATUS_NEW
WAIT_NS = 2_000_000     # the longest sleep on an empty request ring (the heartbeat's pace)
FULL_WAIT_S = 0.0002    # between two looks at a full report ring
BEAT_S = 0.02
FIGURES_S = 1.0          # how often the latency percentiles are refreshed in the row
LATENCY_SAMPLES = 1 << 16
REQUESTS_PER_PASS = 64
SESSION_COUNTS = {"logons": FIX_LOGONS, "disconnects": FIX_DISCONNECTS,
                  "refused_down": FIX_REFUSED_DOWN, "queued_cancels": FIX_QUEUED_CANCELS,
                  "session_rejects": FIX_SESSION_REJECTS,
                  "business_rejects": FIX_BUSINESS_REJECTS,
                  "duplicate_reports": FIX_DUPLICATES, "reconciled": FIX_RECONCILED,
                  "reconcile_mismatches": FIX_MISMATCHES}


def id_prefix(segment) -> str:
    """Ahead of every ClOrdID of this engine run: order ids start again at each run, a
    venue refuses a ClOrdID it has seen that day, and a restarted worker of the same run
    must name its orders as before (the segment's creation time, in ms, hex)."""
    return f"{int(segment.header['created_unix_ns']) // 1_000_000:x}-"


def _cancel_reject_reason(report: dict) -> int:
    """Our reason (VENUE_*) for an OrderCancelReject: CxlRejReason 0 too late, 1 unknown
    order; another, the venue's Text where it names one of ours (fix-sim's do), else
    venue_refused."""
    code = report.get("reason")
    if code == "0":
        return VENUE_TOO_LATE
    if code == "1":
        return VENUE_UNKNOWN_ORDER
    return REASON_BY_NAME.get(report.get("text") or "", VENUE_REFUSED)


class Agent:
    def __init__(self, context):
        self.context = context
        config = context.config
        section = config["fix_venue"]
        self.symbols = [entry["name"] for entry in config["instruments"]]
        self.symbol_ids = {name: k for k, name in enumerate(self.symbols)}
        if section["settings"]:
            settings = read_settings_file(section["settings"])
            if section["store"]:
                settings = make_settings(
                    "initiator", int(settings.values["SocketConnectPort"]),
                    settings.values["SenderCompID"], settings.values["TargetCompID"],
                    section["store"], settings.values["SocketConnectHost"],
                    **{k: v for k, v in settings.values.items() if k not in (
                        "ConnectionType", "SenderCompID", "TargetCompID", "FileStorePath",
                        "SocketConnectHost", "SocketConnectPort", "BeginString")})
        else:  # sim = true: the fix-sim the launcher started (sections.prepare)
            settings = make_settings("initiator", section["sim_port"], SIM_TARGET, SIM_SENDER,
                                     section["store"], ReconnectInterval=1, HeartBtInt=5)
        self.logon_timeout_s = section["logon_timeout_s"]
        store = settings.values["FileStorePath"]
        self.requests = RingConsumer(context.segment, "venue_requests", ORDER_DTYPE)
        self.reports = RingProducer(context.segment, "venue_reports", FILL_DTYPE)
        # the report ring has one producer: whichever thread holds this (QuickFIX's, with
        # a report; this one, answering a request the session refused)
        self.ring_lock = threading.RLock()
        self.words = context.row_words
        self.record = np.zeros(1, dtype=FILL_DTYPE)
        self.session = LoggedSession(
            settings, load_credentials(section["credentials"] or None, required=False), say,
            reconcile_timeout_s=section["reconcile_timeout_s"],
            id_prefix=id_prefix(context.segment),
            sent_log=SentLog(os.path.join(store, "clordids.log")), deliver=self.deliver)
        self.sent_log = self.session.sent_log
        # a restarted worker skips the requests a process before it sent (their records
        # are on the ring still when it died between the send and the release)
        self.sent_through = self.sent_log.max_seq
        self.notional: dict[int, int] = {}  # order id -> price x lots of the fills passed on
        self.restored: list[int] = []
        # the row's session counts go on from where a process before this one left them
        self.count_base = {slot: int(self.words[W_COUNTERS + slot])
                           for slot in SESSION_COUNTS.values()}
        self.pending_replace: dict[int, int] = {}  # order id -> the qty its replace asks
        # the order path's figures (the worker row's send_/ack_ percentiles)
        self.send_ns = np.zeros(LATENCY_SAMPLES, dtype=np.int64)
        self.read_ns = np.zeros(LATENCY_SAMPLES, dtype=np.int64)
        self.ack_ns = np.zeros(LATENCY_SAMPLES, dtype=np.int64)
        self.n_send = self.n_ack = 0
        self.new_published: dict[int, int] = {}  # new order id -> the gateway's publish_ns
        # TICKPIPE_FIX_TRACE=FILE: every report read and every record put on the ring, a
        # line each (for a by-hand look at a session; never on by default)
        trace = os.environ.get("TICKPIPE_FIX_TRACE")
        self.trace = open(trace, "a", buffering=1) if trace else None

    # ---- the worker contract ---------------------------------------------------------

    def warm_up(self) -> None:
        """The session, before this worker is READY: the engine's start barrier waits for
        the first logon (a refused one stops the engine with one line; no answer within
        logon_timeout_s starts it with trading at this venue halted)."""
        self.restored = self._restore()
        try:
            self.session.start(self.logon_timeout_s, stop_on_timeout=False)
        except FixVenueError as exc:
            if self.session.refused is not None:
                raise FinalError(str(exc)) from None  # a restart would be refused again
            say(f"fix venue: {exc}; trading at this venue is halted until it logs on "
                "(QuickFIX retries every ReconnectInterval)")

    def wait_for_start(self) -> bool:
        return True

    def run(self) -> int:
        restored = self.restored
        control = self.context.control_address
        if restored and (lib.tp_load_acquire_u32(control + TRADING_STATE_OFFSET) ==
                         TRADING_HALTED or lib.tp_load_acquire_u32(control + CLOSING_OFFSET)):
            # the kill switch had asked for these cancels (the gateway asks once): they
            # may have died queued with the last process, so they are asked again
            for order_id in restored:
                self.session.cancel(order_id)
        beat = figures = 0.0
        while not lib.tp_load_acquire_u32(control + STOP_ALL_OFFSET):
            read = self._read_requests()
            self.session.check_reconcile_deadline()  # it may send: never under ring_lock
            self.deliver()  # anything a request made
            now = time.monotonic()
            if now - beat > BEAT_S:
                beat = now
                self._beat()
            if now - figures > FIGURES_S:
                figures = now
                self._figures()
            if read == 0:
                self.words[W_IDLE_PASSES] += 1
                self._wait_for_requests()
            else:
                self.words[W_BUSY_PASSES] += 1
                self.words[W_PROCESSED] += read
        self.session.stop(logout=True)
        self._beat()
        self._figures()
        return 0

    def close(self) -> None:
        pass

    # ---- requests -----------------------------------------------------------------------

    def _wait_for_requests(self) -> None:
        """Sleep on this worker's doorbell until the gateway publishes a request (its
        publish rings the doorbell of a consumer that armed it: engine/idle.py has the
        handshake), WAIT_S at most. Through cffi, which lets the GIL go while it sleeps:
        QuickFIX's thread delivers reports meanwhile."""
        armed = int(self.context.idle_state[I_DOORBELL_ADDR])
        wake_seq = lib.tp_load_acquire_u32(armed + 4)
        lib.tp_store_seqcst_u32(armed, 1)
        lib.tp_fence_seqcst()
        if not consumer_has_data(self.requests.handle):
            lib.tp_futex_wait(armed + 4, wake_seq, WAIT_NS)
            self.words[W_SLEEPS] += 1
        lib.tp_store_release_u32(armed, 0)

    def _read_requests(self) -> int:
        """The requests on the ring, each released once handled (a kill in between: the
        next process reads it again, and skips it if its message went out)."""
        handle = self.requests.handle
        n = int(consumer_available(handle, REQUESTS_PER_PASS))
        mask = len(self.requests.records) - 1
        for _ in range(n):
            r = self.requests.records[int(handle[H_POSITION]) & mask].copy()
            if int(r["seq"]) > self.sent_through:
                self.session.request_seq = int(r["seq"])
                self._request(r)
            consumer_release(handle, 1)
        return n

    def _request(self, r) -> None:
        self._count(FIX_REQUESTS)
        if self.trace is not None:
            self.trace.write(f"request {int(r['order_id'])} req {int(r['request'])} "
                             f"qty {int(r['qty'])} px {int(r['limit_px'])}\n")
        order_id, kind = int(r["order_id"]), int(r["request"])
        read_ns = lib.tp_monotonic_ns() - int(r["publish_ns"])
        if kind == REQ_NEW:
            # noted before the send: the answer may come (QuickFIX's thread) before it returns
            self.new_published[order_id] = int(r["publish_ns"])
            code = self.session.new(order_id, self.symbols[int(r["symbol_id"])], int(r["side"]),
                                    int(r["qty"]), int(r["limit_px"]), int(r["order_type"]),
                                    int(r["time_in_force"]))
        elif kind == REQ_CANCEL:
            code = self.session.cancel(order_id)
        elif kind == REQ_REPLACE:
            self.pending_replace[order_id] = int(r["qty"])
            code = self.session.replace(order_id, int(r["qty"]), int(r["limit_px"]))
        else:
            return
        if code == SENT:
            self.send_ns[self.n_send % LATENCY_SAMPLES] = lib.tp_monotonic_ns() - \
                int(r["publish_ns"])
            self.read_ns[self.n_send % LATENCY_SAMPLES] = read_ns
            self.n_send += 1
        elif kind == REQ_NEW:
            self.new_published.pop(order_id, None)
        if code in (SENT, QUEUED):
            return
        # not sent: answered now, so the gateway's row and risk's books end the request
        self.pending_replace.pop(order_id, None)
        reason = REASON_OF_REFUSAL.get(code, VENUE_REFUSED)
        self._publish(order_id, EXEC_REJECTED, kind, STATUS_REJECTED if kind == REQ_NEW else 0,
                      reason=VENUE_REASON_BASE + reason, origin_ns=int(r["origin_ns"]),
                      order_seq=int(r["intent_seq"]))

    # ---- reports (QuickFIX's thread, and this one) ----------------------------------------

    def deliver(self) -> None:
        """Every report the session has: onto the ring, in order (either thread). A report
        that cannot be passed on is said and counted, and the next ones still go."""
        with self.ring_lock:
            for report in self.session.poll(check_deadline=False):
                try:
                    self._report(report)
                except Exception as exc:  # noqa: BLE001 (QuickFIX's thread: never raise)
                    self._count(FIX_UNREADABLE)
                    say(f"fix venue: a report not passed on ({type(exc).__name__}: {exc}): "
                        f"{ {k: v for k, v in report.items() if k != 'received_ns'} }")

    def _report(self, report: dict) -> None:
        if self.trace is not None:
            self.trace.write(f"in {report}\n")
        kind = report["kind"]
        order_id = report.get("order_id")
        if order_id is None:
            return  # a session reject, or a report on no order of ours: counted there
        if kind == "execution_report":
            exec_type = report["exec_type"]
            if exec_type == EXEC_STATUS:
                self._status_answer(order_id, report)
                return
            if exec_type not in (EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_FILL, EXEC_CANCELLED,
                                 EXEC_REPLACED, EXEC_EXPIRED, EXEC_REJECTED):
                return  # pending_* and the like: nothing for the books
            published = self.new_published.pop(order_id, None)
            if published is not None:  # the venue's first answer to a new order
                self.ack_ns[self.n_ack % LATENCY_SAMPLES] = lib.tp_monotonic_ns() - published
                self.n_ack += 1
            k = k_of(report["cl_ord_id"] or "")
            request = REQ_NEW  # a fill, an expiry, an ack, or a cancel we did not ask for
            if exec_type == EXEC_CANCELLED and self.sent_log.kind(order_id, k) == "cancel":
                request = REQ_CANCEL  # the answer to our cancel
            elif exec_type == EXEC_REPLACED:
                request = REQ_REPLACE
                self.pending_replace.pop(order_id, None)
            if exec_type in (EXEC_NEW, EXEC_REPLACED):
                self.sent_log.accepted(order_id, k)
            cum, leaves = report["cum_qty"], report["leaves_qty"]
            if exec_type in (EXEC_FILL, EXEC_PARTIAL_FILL):
                self.notional[order_id] = self.notional.get(order_id, 0) + \
                    report["last_qty"] * report["last_px"]
            self._publish(order_id, exec_type, request, status_of(exec_type, cum, leaves),
                          last_qty=report["last_qty"], last_px=report["last_px"],
                          cum_qty=cum, leaves_qty=leaves, avg_px=report["avg_px"],
                          order_px=report["order_px"], order_qty=report["order_qty"],
                          reason=VENUE_REASON_BASE + VENUE_REFUSED
                          if exec_type == EXEC_REJECTED else 0)
            if is_final(status_of(exec_type, cum, leaves)):
                self._ended(order_id)
        elif kind == "cancel_reject":
            replace = report["response_to"] == "2"
            if replace:
                self.pending_replace.pop(order_id, None)
            self._publish(order_id, EXEC_REJECTED, REQ_REPLACE if replace else REQ_CANCEL, 0,
                          reason=VENUE_REASON_BASE + _cancel_reject_reason(report))
        elif kind == "business_reject":
            # a request refused outright (BusinessMessageReject naming its ClOrdID): which
            # one, by what that ClOrdID was sent for; a status request's is no order's news
            sent = self.sent_log.kind(order_id, k_of(report.get("cl_ord_id") or ""))
            order = self.session.orders.get(order_id)
            if sent == "new" and order is not None and order.status == STATUS_REJECTED:
                self._publish(order_id, EXEC_REJECTED, REQ_NEW, STATUS_REJECTED,
                              reason=VENUE_REASON_BASE + VENUE_REFUSED)
                self._ended(order_id)
            elif sent in ("cancel", "replace"):
                if sent == "replace":
                    self.pending_replace.pop(order_id, None)
                self._publish(order_id, EXEC_REJECTED,
                              REQ_REPLACE if sent == "replace" else REQ_CANCEL, 0,
                              reason=VENUE_REASON_BASE + VENUE_REFUSED)

    def _ended(self, order_id: int) -> None:
        self.notional.pop(order_id, None)
        self.pending_replace.pop(order_id, None)
        self.sent_log.forget(order_id)

    def _status_answer(self, order_id: int, report: dict) -> None:
        """A reconciliation answer. Where the venue's word moves the order on (it filled or
        ended while we could not hear), the gateway is told as by the reports missed: the
        lots filled unheard, at the price their cash gives (the venue's average over all
        fills, less what the fills we passed on cost; counted `inexact_prices` when that
        does not divide into whole units: AvgPx is itself rounded), then its end. The
        gateway's table takes a fill only past the cum_qty it holds, and releases all an
        order left open when a fill ends it."""
        mismatch = report.get("mismatch")
        if order_id not in self.session.orders or mismatch is None:
            return
        ours_cum, ours_status = mismatch["ours"]
        venue_cum, venue_status = report["cum_qty"], report["ord_status"]
        ended = is_final(venue_status)
        if venue_cum > ours_cum:
            lots = venue_cum - ours_cum
            cash = report["avg_px"] * venue_cum - self.notional.get(order_id, 0)
            px, inexact = divmod(cash, lots)
            if inexact:
                self._count(FIX_INEXACT_PRICES)
                px = round(cash / lots)
            self.notional[order_id] = self.notional.get(order_id, 0) + px * lots
            # leaves 0 ends the order: a fill of what filled, the rest released with it
            leaves = 0 if ended else report["leaves_qty"]
            self._publish(order_id, EXEC_FILL if leaves == 0 else EXEC_PARTIAL_FILL, REQ_NEW,
                          venue_status if ended else status_of(EXEC_PARTIAL_FILL, venue_cum,
                                                                leaves),
                          last_qty=lots, last_px=px, cum_qty=venue_cum, leaves_qty=leaves,
                          avg_px=report["avg_px"])
        elif ours_status == STATUS_PENDING_NEW and not ended:
            self._publish(order_id, EXEC_NEW, REQ_NEW, status_of(EXEC_NEW, venue_cum, 0),
                          cum_qty=venue_cum, leaves_qty=report["leaves_qty"])
        elif ended and venue_status != STATUS_FILLED and not is_final(ours_status):
            # ended at the venue unheard: never received (rejected), cancelled or expired
            if venue_status == STATUS_REJECTED and ours_status == STATUS_PENDING_NEW:
                self._publish(order_id, EXEC_REJECTED, REQ_NEW, STATUS_REJECTED,
                              reason=VENUE_REASON_BASE + VENUE_UNKNOWN_ORDER)
            else:  # fills we hold are never taken back: cum stays ours
                self._publish(order_id, EXEC_EXPIRED if venue_status == STATUS_EXPIRED else
                              EXEC_CANCELLED, REQ_NEW,
                              STATUS_EXPIRED if venue_status == STATUS_EXPIRED else
                              STATUS_CANCELED, cum_qty=max(ours_cum, venue_cum))
        if ended:
            self._ended(order_id)

    def _publish(self, order_id, exec_type, request, ord_status, last_qty=0, last_px=0,
                 cum_qty=0, leaves_qty=0, avg_px=0, order_px=0, order_qty=0, reason=0,
                 origin_ns=0, order_seq=0) -> None:
        with self.ring_lock:
            self._put(order_id, exec_type, request, ord_status, last_qty, last_px, cum_qty,
                      leaves_qty, avg_px, order_px, order_qty, reason, origin_ns, order_seq)

    def _put(self, order_id, exec_type, request, ord_status, last_qty, last_px, cum_qty,
             leaves_qty, avg_px, order_px, order_qty, reason, origin_ns, order_seq) -> None:
        r = self.record[0]
        r.fill(0)
        r["order_id"], r["exec_type"], r["request"], r["ord_status"] = \
            order_id, exec_type, request, ord_status
        r["last_qty"], r["last_px"], r["cum_qty"], r["leaves_qty"] = \
            last_qty, last_px, cum_qty, leaves_qty
        r["avg_px"], r["order_px"], r["order_qty"], r["reject_reason"] = \
            avg_px, order_px, order_qty, reason
        now = lib.tp_monotonic_ns()
        r["origin_ns"] = origin_ns or now
        r["publish_ns"] = now
        r["order_seq"] = order_seq
        held = False
        while not self.reports.try_push(self.record):
            if lib.tp_load_acquire_u32(self.context.control_address + STOP_ALL_OFFSET):
                return
            if not held:
                held = True
                self._count(FIX_HELD)
            time.sleep(FULL_WAIT_S)
        self._count(FIX_REPORTS)
        self.words[W_PUBLISHED] += 1
        if self.trace is not None:
            self.trace.write(f"out {order_id} exec {exec_type} req {request} status {ord_status} "
                             f"cum {cum_qty} leaves {leaves_qty} last {last_qty}@{last_px} "
                             f"reason {reason}\n")

    # ---- a restart ------------------------------------------------------------------------

    def _restore(self) -> list[int]:
        """After a restart: the working orders, from the gateway's table once it has read
        every report this process put on the ring, become the session's orders again
        (their last ClOrdID sent and last accepted from the SentLog), so the first logon
        reconciles them. Returns their ids."""
        deadline = time.monotonic() + 10.0
        while self._reports_unread() and time.monotonic() < deadline:
            time.sleep(0.001)
        rows = np.array(venue_orders(self.context.segment))  # then what is still unread:
        unread = self._unread_new_orders()  # a row the gateway takes after the copy is not in it
        restored = []
        for row in rows:
            status = int(row["status"])
            order_id = int(row["order_id"])
            if status == STATUS_NONE or is_final(status) or order_id in unread:
                continue
            order = _Order(order_id, self.symbols[int(row["symbol_id"])], int(row["side"]),
                           int(row["qty"]), int(row["limit_px"]), int(row["time_in_force"]),
                           self.session.id_prefix)
            order.status, order.cum_qty = status, int(row["cum_qty"])
            order.leaves_qty = int(row["leaves_qty"])
            order.k = self.sent_log.last_k.get(order_id, 0)
            order.current = cl_ord_id(order_id, self.sent_log.accepted_k.get(order_id, 0),
                                      self.session.id_prefix)
            self.session.orders[order_id] = order
            self.notional[order_id] = int(row["cum_notional"])
            if int(row["queue_ahead"]):
                self.pending_replace[order_id] = int(row["queue_ahead"])
            restored.append(order_id)
        if restored:
            self.session.ever_up = True  # the first logon asks the venue for each
            self._count(FIX_RESTORED, len(restored))
            say(f"fix venue: restarted with {len(restored)} orders working: each is "
                "reconciled with the venue at logon")
        return restored

    def _reports_unread(self) -> bool:
        handle = self.reports.handle
        return int(lib.tp_load_acquire_u64(int(handle[H_TAIL_ADDR]))) < int(handle[H_POSITION])

    def _unread_new_orders(self) -> set:
        """New orders on the request ring that no process has sent (the gateway took
        their rows): they are sent when read, not restored."""
        handle = self.requests.handle
        start = int(handle[H_POSITION])
        head = int(lib.tp_load_acquire_u64(int(handle[H_HEAD_ADDR])))
        records = self.requests.records
        mask = len(records) - 1
        return {int(records[p & mask]["order_id"]) for p in range(start, head)
                if int(records[p & mask]["request"]) == REQ_NEW
                and int(records[p & mask]["seq"]) > self.sent_through}

    # ---- the worker row ---------------------------------------------------------------------

    def _beat(self) -> None:
        self.words[W_HEARTBEAT_NS] = lib.tp_monotonic_ns()
        summary = self.session.summary()
        self.words[W_COUNTERS + FIX_STATE] = STATE_CODES.get(summary["state"], 0)
        self.words[W_COUNTERS + FIX_OPEN_ORDERS] = summary["open_orders"]
        for name, slot in SESSION_COUNTS.items():
            self.words[W_COUNTERS + slot] = self.count_base[slot] + summary[name]

    def _figures(self) -> None:
        for samples, n, p50, p99 in ((self.read_ns, self.n_send, FIX_READ_P50_NS, FIX_READ_P99_NS),
                                     (self.send_ns, self.n_send, FIX_SEND_P50_NS, FIX_SEND_P99_NS),
                                     (self.ack_ns, self.n_ack, FIX_ACK_P50_NS, FIX_ACK_P99_NS)):
            if n:
                kept = samples[:min(n, LATENCY_SAMPLES)]
                self.words[W_COUNTERS + p50] = int(np.percentile(kept, 50))
                self.words[W_COUNTERS + p99] = int(np.percentile(kept, 99))

    def _count(self, slot: int, n: int = 1) -> None:
        self.words[W_COUNTERS + slot] += n


FINAL = np.array([s for s in range(16) if is_final(s)], dtype=np.uint8)
