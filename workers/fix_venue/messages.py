"""The FIX 4.4 application messages we send (D, F, G, H) and read (8, 9), as quickfix
Messages and plain dicts. Every message built here is checked against QuickFIX's own
FIX44 dictionary by the tests (tests/test_fix_venue.py), and by both ends of a session
that runs with UseDataDictionary=Y (workers/fix_venue/settings.py).
"""

import quickfix as fix

from tickpipe.workers.fix_venue.fields import (
    EXEC_TYPE_FROM_FIX, ORD_TYPE_LIMIT, SIDE_FROM_FIX, SIDE_TO_FIX, STATUS_FROM_FIX, TAG,
    TIF_FROM_FIX, TIF_TO_FIX, UNKNOWN, price_text, price_units, qty_lots, qty_text,
)
from tickpipe.shm_layouts.fill import EXEC_FILL, EXEC_PARTIAL_FILL
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, TIF_IOC


def _message(msg_type: str) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(fix.MsgType(msg_type))
    return message


def _set(message, **fields) -> fix.Message:
    for name, value in fields.items():
        if value is not None:
            message.setField(TAG[name], str(value))
    return message


def _order_fields(message, symbol, side, qty, px):
    message.setField(fix.TransactTime())
    return _set(message, Symbol=symbol, Side=SIDE_TO_FIX[side], OrderQty=qty_text(qty),
                OrdType=ORD_TYPE_LIMIT, Price=price_text(px))


def new_order(cl_ord: str, symbol: str, side: int, qty: int, px: int, order_type: int,
              tif: int) -> fix.Message:
    """NewOrderSingle (D): a limit order; our IOC order type is TimeInForce 3."""
    if order_type == ORDER_TYPE_IOC:
        tif = TIF_IOC
    message = _set(_message(fix.MsgType_NewOrderSingle), ClOrdID=cl_ord,
                   TimeInForce=TIF_TO_FIX[tif])
    return _order_fields(message, symbol, side, qty, px)


def cancel_request(cl_ord: str, orig: str, symbol: str, side: int, qty: int) -> fix.Message:
    """OrderCancelRequest (F)."""
    message = _set(_message(fix.MsgType_OrderCancelRequest), ClOrdID=cl_ord, OrigClOrdID=orig,
                   Symbol=symbol, Side=SIDE_TO_FIX[side], OrderQty=qty_text(qty))
    message.setField(fix.TransactTime())
    return message


def replace_request(cl_ord: str, orig: str, symbol: str, side: int, qty: int, px: int,
                    tif: int) -> fix.Message:
    """OrderCancelReplaceRequest (G): the order's new total qty and price."""
    message = _set(_message(fix.MsgType_OrderCancelReplaceRequest), ClOrdID=cl_ord,
                   OrigClOrdID=orig, TimeInForce=TIF_TO_FIX[tif])
    return _order_fields(message, symbol, side, qty, px)


def status_request(cl_ord: str, symbol: str, side: int) -> fix.Message:
    """OrderStatusRequest (H), for the order whose current ClOrdID is cl_ord."""
    return _set(_message(fix.MsgType_OrderStatusRequest), ClOrdID=cl_ord, Symbol=symbol,
                Side=SIDE_TO_FIX[side])


def msg_type(message) -> str:
    return message.getHeader().getField(TAG["MsgType"])


def get(message, name: str, default=None):
    tag = TAG[name]
    return message.getField(tag) if message.isSetField(tag) else default


def poss_dup(message) -> bool:
    header = message.getHeader()
    return header.isSetField(TAG["PossDupFlag"]) and header.getField(TAG["PossDupFlag"]) == "Y"


def read_execution_report(message) -> dict:
    """An ExecutionReport (8) as a dict of our units (FieldError for one we cannot read)."""
    exec_type = EXEC_TYPE_FROM_FIX.get(get(message, "ExecType"), UNKNOWN)
    leaves = qty_lots(get(message, "LeavesQty", "0"))
    if get(message, "ExecType") == "F":  # a trade: partial or whole by what is left
        exec_type = EXEC_FILL if leaves == 0 else EXEC_PARTIAL_FILL
    return {
        "kind": "execution_report",
        "cl_ord_id": get(message, "ClOrdID"),
        "orig_cl_ord_id": get(message, "OrigClOrdID"),
        "venue_order_id": get(message, "OrderID"),
        "exec_id": get(message, "ExecID"),
        "exec_type": exec_type,
        "ord_status": STATUS_FROM_FIX.get(get(message, "OrdStatus"), UNKNOWN),
        "symbol": get(message, "Symbol"),
        "side": SIDE_FROM_FIX.get(get(message, "Side"), 0),
        "last_qty": qty_lots(get(message, "LastQty", "0")),
        "last_px": price_units(get(message, "LastPx", "0")),
        "cum_qty": qty_lots(get(message, "CumQty", "0")),
        "leaves_qty": leaves,
        "avg_px": price_units(get(message, "AvgPx", "0")),
        "order_qty": qty_lots(get(message, "OrderQty", "0")),
        "order_px": price_units(get(message, "Price", "0")),
        "time_in_force": TIF_FROM_FIX.get(get(message, "TimeInForce", "1"), UNKNOWN),
        "text": get(message, "Text", ""),
        "poss_dup": poss_dup(message),
    }


def read_cancel_reject(message) -> dict:
    """An OrderCancelReject (9) as a dict."""
    return {
        "kind": "cancel_reject",
        "cl_ord_id": get(message, "ClOrdID"),
        "orig_cl_ord_id": get(message, "OrigClOrdID"),
        "venue_order_id": get(message, "OrderID"),
        "ord_status": STATUS_FROM_FIX.get(get(message, "OrdStatus"), UNKNOWN),
        "reason": get(message, "CxlRejReason"),
        "response_to": get(message, "CxlRejResponseTo"),
        "text": get(message, "Text", ""),
        "poss_dup": poss_dup(message),
    }
