"""What the venue process has sent, kept on disk so a restart after kill -9 knows it: a
line per ClOrdID before its message is handed to QuickFIX, and a line when the venue
accepts one (workers/fix_venue/agent.py).

  <order id> <k> <kind> <seq>    ClOrdID k of the order was sent: kind new, cancel,
                                 replace or status; seq: the venue_requests record it
                                 came from (0: none, a status request or a re-issue)
  <order id> <k> accepted        the venue acknowledged ClOrdID k (a new or a replace):
                                 what the order's next request names as OrigClOrdID

Line-buffered: each line is in the kernel when `note` returns, so a kill -9 of the
process loses none (a crash of the machine may lose the last ones: QuickFIX's own file
store is no safer).
"""

import os
import threading

from tickpipe.workers.fix_venue.fields import FieldError, order_id_of
from tickpipe.workers.fix_venue.session import FixSession

KINDS = ("new", "cancel", "replace", "status")


def k_of(cl: str) -> int:
    """The k of a ClOrdID 'N' (0) or 'N.k'."""
    _, dot, k = cl.rpartition(".")
    return int(k) if dot and k.isdigit() else 0


class SentLog:
    def __init__(self, path: str):
        self.kinds: dict[int, dict[int, str]] = {}   # order id -> {k: kind}
        self.last_k: dict[int, int] = {}             # order id -> the last k sent
        self.accepted_k: dict[int, int] = {}         # order id -> the last k accepted
        self.max_seq = 0                             # the last request record sent
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    self._read(line.split())
        self.file = open(path, "a", buffering=1)
        self.lock = threading.Lock()  # both threads send (status requests at a logon)

    def _read(self, parts: list[str]) -> None:
        if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            return  # a line cut short by a kill: it was never followed by its message
        order, k = int(parts[0]), int(parts[1])
        if parts[2] == "accepted":
            self.accepted_k[order] = max(k, self.accepted_k.get(order, 0))
        elif parts[2] in KINDS and len(parts) == 4 and parts[3].isdigit():
            self.kinds.setdefault(order, {})[k] = parts[2]
            self.last_k[order] = max(k, self.last_k.get(order, 0))
            self.max_seq = max(self.max_seq, int(parts[3]))

    def sent(self, order_id: int, k: int, kind: str, seq: int) -> None:
        with self.lock:
            self.file.write(f"{order_id} {k} {kind} {seq}\n")
            self.kinds.setdefault(order_id, {})[k] = kind
            self.last_k[order_id] = k
            self.max_seq = max(self.max_seq, seq)

    def accepted(self, order_id: int, k: int) -> None:
        with self.lock:
            self.file.write(f"{order_id} {k} accepted\n")
            self.accepted_k[order_id] = k

    def kind(self, order_id: int, k: int) -> str | None:
        return self.kinds.get(order_id, {}).get(k)

    def forget(self, order_id: int) -> None:
        """An order that has ended: its kinds are not needed in memory any more (the
        file keeps them for a restart, which restores working orders only)."""
        with self.lock:
            self.kinds.pop(order_id, None)


class LoggedSession(FixSession):
    """FixSession whose every ClOrdID is in the SentLog before its message goes out, and
    whose reports go onto the ring from inside QuickFIX's callback (`deliver`)."""

    def __init__(self, *args, sent_log: SentLog, deliver, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent_log = sent_log
        self.deliver = deliver
        self.main_thread = threading.get_ident()
        self.request_seq = 0  # the request record the main thread is sending for

    def _send(self, message, kind):
        cl = message.getField(11)
        seq = self.request_seq if threading.get_ident() == self.main_thread else 0
        try:
            self.sent_log.sent(order_id_of(cl, self.id_prefix), k_of(cl), kind, seq)
        except FieldError:
            pass
        super()._send(message, kind)

    # No exception may leave a QuickFIX callback (it would unwind into C++): deliver
    # guards each report itself; this guards the rest.
    def fromApp(self, message, session_id):
        super().fromApp(message, session_id)
        self._deliver()

    def fromAdmin(self, message, session_id):
        super().fromAdmin(message, session_id)
        self._deliver()

    def _deliver(self):
        try:
            self.deliver()
        except Exception as exc:  # noqa: BLE001 (never into QuickFIX)
            self.say(f"fix venue: error delivering reports: {type(exc).__name__}: {exc}")
