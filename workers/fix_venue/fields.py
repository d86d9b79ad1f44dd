"""Our orders and reports as FIX 4.4 fields, and back.

Prices: ours are integers of 1/PRICE_SCALE (shm_layouts/market_data.py); on the wire
they are decimals written from the integer (never through a float, so 100.0001 stays
100.0001), read back through Decimal and rounded half-even to our unit (an AvgPx of
several fills may carry more decimals than our unit has: the only rounding here).

Ids: our order id N is ClOrdID "N" on the new order; each later request that changes
it (a replace, a cancel) takes "N.k" with k counting up (a status request names the
current one), and OrigClOrdID
names the order's current ClOrdID (the last one the venue accepted), so a replace
chain reads N -> N.1 -> N.2 on the wire and every id maps back to N.

Enumerations: only the values we send or read; anything else read is UNKNOWN (-1),
counted by the session, never guessed.
"""

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from tickpipe.shm_layouts.fill import (
    EXEC_CANCELLED, EXEC_EXPIRED, EXEC_FILL, EXEC_NEW, EXEC_PARTIAL_FILL, EXEC_REJECTED,
    EXEC_REPLACED,
)
from tickpipe.shm_layouts.market_data import PRICE_SCALE
from tickpipe.shm_layouts.open_order import (
    STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NEW, STATUS_PARTIALLY_FILLED,
    STATUS_PENDING_CANCEL, STATUS_PENDING_NEW, STATUS_PENDING_REPLACE, STATUS_REJECTED,
)
from tickpipe.shm_layouts.order_intent import TIF_DAY, TIF_GTC, TIF_IOC

UNKNOWN = -1
EXEC_STATUS = 100  # ExecType I (an answer to OrderStatusRequest): not one of our EXEC_*

# tags, by name (quickfix's classes would do, but a tag read from a message is a number)
TAG = {"AvgPx": 6, "ClOrdID": 11, "CumQty": 14, "ExecID": 17, "LastPx": 31, "LastQty": 32,
       "MsgType": 35, "OrderID": 37, "OrderQty": 38, "OrdStatus": 39, "OrdType": 40,
       "OrigClOrdID": 41, "PossDupFlag": 43, "Price": 44, "RefSeqNum": 45, "SenderCompID": 49,
       "Side": 54, "Symbol": 55, "TargetCompID": 56, "Text": 58, "TimeInForce": 59,
       "TransactTime": 60, "PossResend": 97, "CxlRejReason": 102, "OrdRejReason": 103,
       "ExecType": 150, "LeavesQty": 151, "CxlRejResponseTo": 434, "Username": 553,
       "Password": 554}

SIDE_TO_FIX = {1: "1", -1: "2"}
SIDE_FROM_FIX = {"1": 1, "2": -1}
TIF_TO_FIX = {TIF_DAY: "0", TIF_GTC: "1", TIF_IOC: "3"}
TIF_FROM_FIX = {v: k for k, v in TIF_TO_FIX.items()}
ORD_TYPE_LIMIT = "2"  # both of ours are limit orders; an IOC is TimeInForce 3

EXEC_TYPE_FROM_FIX = {"0": EXEC_NEW, "4": EXEC_CANCELLED, "5": EXEC_REPLACED,
                      "8": EXEC_REJECTED, "C": EXEC_EXPIRED, "I": EXEC_STATUS}
# ExecType F (Trade) is a fill: partial or whole by LeavesQty
EXEC_TYPE_TO_FIX = {EXEC_NEW: "0", EXEC_PARTIAL_FILL: "F", EXEC_FILL: "F",
                    EXEC_CANCELLED: "4", EXEC_REPLACED: "5", EXEC_REJECTED: "8",
                    EXEC_EXPIRED: "C", EXEC_STATUS: "I"}
STATUS_TO_FIX = {STATUS_PENDING_NEW: "A", STATUS_NEW: "0", STATUS_PARTIALLY_FILLED: "1",
                 STATUS_FILLED: "2", STATUS_PENDING_CANCEL: "6", STATUS_CANCELED: "4",
                 STATUS_PENDING_REPLACE: "E", STATUS_REJECTED: "8", STATUS_EXPIRED: "C"}
STATUS_FROM_FIX = {v: k for k, v in STATUS_TO_FIX.items()}
# CxlRejReason (102): 0 too late to cancel, 1 unknown order
CXL_TOO_LATE, CXL_UNKNOWN_ORDER = "0", "1"
CXL_RESPONSE_CANCEL, CXL_RESPONSE_REPLACE = "1", "2"  # CxlRejResponseTo (434)

_UNIT = Decimal(1) / PRICE_SCALE
_DECIMALS = len(str(PRICE_SCALE)) - 1


class FieldError(ValueError):
    """A field we cannot read (a malformed price, an id not ours): one line."""


def price_text(units: int) -> str:
    """Our integer price as the exact decimal FIX carries: 1_005_000 -> '100.5000'."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), PRICE_SCALE)
    return f"{sign}{whole}.{frac:0{_DECIMALS}d}"


def price_units(text: str) -> int:
    """A FIX price to our integer units (half-even where it has more decimals)."""
    try:
        return int((Decimal(text) / _UNIT).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError):
        raise FieldError(f"price {text!r} is not a decimal number") from None


def qty_text(lots: int) -> str:
    return str(int(lots))


def qty_lots(text: str) -> int:
    """A FIX quantity to whole lots (ours are integers: a fraction is an error)."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise FieldError(f"quantity {text!r} is not a number") from None
    if value != value.to_integral_value():
        raise FieldError(f"quantity {text!r} is not a whole number of lots")
    return int(value)


def cl_ord_id(order_id: int, k: int = 0, prefix: str = "") -> str:
    """The k-th ClOrdID of our order `order_id` (k = 0: the new order's). `prefix` names
    the engine's run (workers/fix_venue/agent.py): order ids start again at each run, and
    a venue refuses a ClOrdID it has seen that day."""
    return f"{prefix}{int(order_id)}" if k == 0 else f"{prefix}{int(order_id)}.{k}"


def order_id_of(cl_ord: str, prefix: str = "") -> int:
    """Our order id from one of its ClOrdIDs ('N' or 'N.k' after `prefix`); FieldError
    if not ours."""
    if not cl_ord.startswith(prefix):
        raise FieldError(f"ClOrdID {cl_ord!r} is not one of ours")
    head = cl_ord[len(prefix):].split(".", 1)[0]
    if not head.isdigit():
        raise FieldError(f"ClOrdID {cl_ord!r} is not one of ours")
    return int(head)
