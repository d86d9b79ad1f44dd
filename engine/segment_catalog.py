"""Instruments and strategies as the segment describes them: names, currencies, each
strategy's params and per-symbol state by field name, its positions and P&L, its
order table and the venue's, read from the segment alone (a strategy's code is
never imported; nothing here imports numba). Used by the inspector
(engine/snapshot.py), the final report (engine/report.py) and the kill switch
(engine/control.py).

P&L, per symbol, in price units x lots and in the instrument's currency:
realised (risk's, average-cost method), unrealised = position x (mid - average
cost), with the mid of the book as risk marks it ((bid + ask) // 2), and fees
([risk] fee_bps of each fill). net = realised + unrealised - fees.
"""

import json
import math
from dataclasses import dataclass

import numpy as np

from tickpipe.engine.atomics_lib import lib
from tickpipe.engine.segment import SegmentError
from tickpipe.shm_layouts.book import BOOK_DTYPE, BOOK_ROW_SIZE
from tickpipe.shm_layouts.depth import DEPTH_DTYPE, DEPTH_ROW_SIZE
from tickpipe.shm_layouts.fill import reason_name
from tickpipe.shm_layouts.instrument import INSTRUMENT_DTYPE, instrument_value
from tickpipe.shm_layouts.market_data import PRICE_SCALE
from tickpipe.shm_layouts.open_order import (
    OPEN_ORDER_DTYPE, ORDER_SLOTS, STATUS_CANCELED, STATUS_EXPIRED, STATUS_FILLED, STATUS_NAMES,
    STATUS_NONE, STATUS_REJECTED,
)
from tickpipe.shm_layouts.order_intent import ORDER_TYPE_IOC, ORDER_TYPE_LIMIT, TIF_NAMES
from tickpipe.shm_layouts.strategy_position import (
    ORDER_ID_STRATEGY_SHIFT, STRATEGY_POSITION_DTYPE,
)
from tickpipe.shm_layouts.strategy_table import META_BYTES, STRATEGY_ROW_DTYPE


def strategy_position_rows(segment, n_strategies: int, n_symbols: int) -> np.ndarray | None:
    """The "strat_pos" rows, (strategy, symbol), live; None if the section is short."""
    try:
        return segment.view("strat_pos", STRATEGY_POSITION_DTYPE, n_strategies * n_symbols) \
            .reshape(n_strategies, n_symbols)
    except SegmentError:
        return None



def _text(raw) -> str:
    """An ASCII/UTF-8 field of a row (numpy drops the trailing zero padding)."""
    return bytes(raw).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Instrument:
    """One row of the "instruments" section as Python values (fixed once a segment is ready)."""
    symbol_id: int
    name: str         # the [[instrument]] name; "#<symbol_id>" for a row without a usable one
    currency: str
    tick_size: int
    lot_size: int
    multiplier: float

    def money(self, lots_times_price: int) -> float | None:
        """Currency amount of (lots x price units), e.g. a realised P&L; None for a row that
        gives no valid lot size and multiplier."""
        if self.lot_size <= 0 or not self.multiplier > 0 or not math.isfinite(self.multiplier):
            return None
        value = instrument_value({"lot_size": self.lot_size, "multiplier": self.multiplier},
                                 lots_times_price)
        return round(value, 8)  # drop the binary noise of / PRICE_SCALE, keep every digit


def read_instruments(segment, n_symbols: int) -> list[Instrument]:
    """One Instrument per symbol id 0 .. n_symbols - 1, from the "instruments" section.

    Names key the per-symbol figures, so they must be unique: a row whose name is
    empty, or repeats an earlier one, is named "#<symbol_id>" (no [[instrument]] name
    can hold a '#'), as is a symbol beyond the section's rows."""
    rows = np.array(segment.view("instruments", INSTRUMENT_DTYPE))[:n_symbols]
    instruments, seen = [], set()
    for index in range(n_symbols):
        if index >= len(rows):
            instruments.append(Instrument(index, f"#{index}", "", 0, 0, 0.0))
            continue
        row = rows[index]
        name = _text(row["name"])
        if not name or name in seen:
            name = f"#{index}"
        seen.add(name)
        instruments.append(Instrument(index, name, _text(row["currency"]), int(row["tick_size"]),
                                      int(row["lot_size"]), float(row["multiplier"])))
    return instruments


def pnl_by_currency(positions, key: str = "realised_pnl_ccy") -> dict:
    """{currency: sum of `key` in it} over per-symbol rows (a symbol without one is left out):
    realised_pnl_ccy, unrealised_pnl_ccy, fees_ccy or net_pnl_ccy."""
    totals: dict = {}
    for p in positions:
        if p.get(key) is not None:
            totals[p["currency"]] = totals.get(p["currency"], 0.0) + p[key]
    return {currency: round(value, 8) for currency, value in totals.items()}


PNL_TOTALS = ("realised_pnl_ccy", "unrealised_pnl_ccy", "fees_ccy", "net_pnl_ccy")


def pnl_totals(positions) -> dict:
    """{realised_pnl_ccy, unrealised_pnl_ccy, fees_ccy, net_pnl_ccy: {currency: amount}}."""
    positions = list(positions)
    return {key: pnl_by_currency(positions, key) for key in PNL_TOTALS}


# ---- the book's mids and P&L ---------------------------------------------------------

BOOK_READ_TRIES = 1_000  # as engine/book.py: far past any live write


def seqlock_copy(address: int, copy):
    """copy() taken between two reads of one even version at `address` (the seqlock read
    of engine/book.py and engine/depth.py, without numba); None when the row was never
    written (version 0) or stayed mid-write for BOOK_READ_TRIES reads (a writer killed
    while writing it)."""
    for _ in range(BOOK_READ_TRIES):
        before = lib.tp_load_acquire_u64(address)
        if before == 0:
            return None
        if before & 1:
            continue
        value = copy()
        lib.tp_fence_seqcst()  # the field loads complete before the version is re-read
        if lib.tp_load_acquire_u64(address) == before:
            return value
    return None


def book_mids(segment, n_symbols: int) -> list:
    """The mid of each symbol's top of book, (bid + ask) // 2 in price units, as risk marks
    its P&L; None for a symbol with no market (never written, or withdrawn: no_market),
    or whose row stayed mid-write (seqlock_copy)."""
    try:
        rows = segment.view("book", BOOK_DTYPE)[:n_symbols]
    except SegmentError:
        return [None] * n_symbols
    base = rows.ctypes.data
    mids = []
    for symbol in range(len(rows)):
        row = rows[symbol]
        top = seqlock_copy(base + symbol * BOOK_ROW_SIZE, lambda row=row: (
            int(row["bid_px"]), int(row["ask_px"]), int(row["no_market"])))
        bid, ask, withdrawn = top if top is not None else (0, 0, 1)
        mids.append((bid + ask) // 2 if bid > 0 and ask > 0 and not withdrawn else None)
    return mids + [None] * (n_symbols - len(mids))


def book_depth(segment, instruments: list) -> dict | None:
    """The L2 book ([feed] depth > 1), as inspect shows it: {"levels": L, "symbols":
    {name: {"bids": [[px, qty], ...], "asks": [...]}}}, prices in currency units, levels
    from the best, empty levels left out; a symbol whose row was never written, or stayed
    mid-write (seqlock_copy), is left out. None when the engine keeps the top only (or
    the segment has no L2 book: an older layout)."""
    try:
        rows = segment.view("depth", DEPTH_DTYPE)
    except SegmentError:
        return None
    if len(rows) == 0 or int(rows[0]["levels"]) <= 1 or len(rows) < len(instruments):
        return None
    levels = int(rows[0]["levels"])
    symbols = {}
    for instrument in instruments:
        row = rows[instrument.symbol_id]
        fields = seqlock_copy(rows.ctypes.data + instrument.symbol_id * DEPTH_ROW_SIZE,
                              lambda row=row: [row[name][:levels].tolist() for name in
                                               ("bid_px", "bid_qty", "ask_px", "ask_qty")])
        if fields is not None:
            bid_px, bid_qty, ask_px, ask_qty = fields
            symbols[instrument.name] = {
                "bids": [[px / PRICE_SCALE, qty] for px, qty in zip(bid_px, bid_qty) if px],
                "asks": [[px / PRICE_SCALE, qty] for px, qty in zip(ask_px, ask_qty) if px]}
    return {"levels": levels, "symbols": symbols}


def pnl_fields(instrument: "Instrument | None", position: int, cost_basis: int, realised: int,
               fees: int, mid: int | None) -> dict:
    """One book's P&L: realised, unrealised (position x mid - the exact cost basis),
    fees and net = realised + unrealised - fees, as integers in price units x lots and,
    "_ccy", each converted once from its integer into the instrument's currency (so
    every tool shows the same amounts). "avg_cost_px" is the basis over the position,
    shown, never kept. A flat position has no unrealised P&L; an open one without a
    market has None (and so has its net)."""
    if position == 0:
        unrealised = 0
    else:
        unrealised = None if mid is None else position * mid - cost_basis
    net = None if unrealised is None else realised + unrealised - fees

    def money(amount):
        return None if amount is None or instrument is None else instrument.money(amount)
    return {"realised_pnl": realised, "realised_pnl_ccy": money(realised),
            "unrealised_pnl": unrealised, "unrealised_pnl_ccy": money(unrealised),
            "fees": fees, "fees_ccy": money(fees), "net_pnl": net, "net_pnl_ccy": money(net),
            "cost_basis": cost_basis,
            "avg_cost_px": round(cost_basis / position, 4) if position else None,
            "currency": instrument.currency if instrument is not None else "",
            "mid_px": mid}


# ---- order tables ------------------------------------------------------------------

FINAL_STATUSES = (STATUS_FILLED, STATUS_CANCELED, STATUS_REJECTED, STATUS_EXPIRED)
ORDER_TYPE_NAMES = {ORDER_TYPE_LIMIT: "LIMIT", ORDER_TYPE_IOC: "IOC"}
SIDE_NAMES = {1: "buy", -1: "sell"}


def order_table_rows(segment, section: str, k: int | None = None) -> np.ndarray | None:
    """A copy of strategy k's order table (section "strat_orders") or of the venue's
    ("venue_orders", k None); None if the segment has no such rows. One memcpy: the
    writers keep changing the live rows, a row changing during the copy may be shown
    half old, half new (tools only; the engine never reads this copy)."""
    try:
        if k is None:
            return np.array(segment.view(section, OPEN_ORDER_DTYPE))
        return np.array(segment.view(section, OPEN_ORDER_DTYPE, ORDER_SLOTS,
                                     k * ORDER_SLOTS * OPEN_ORDER_DTYPE.itemsize))
    except SegmentError:
        return None


def open_mask(rows: np.ndarray) -> np.ndarray:
    """The rows that are not free: neither STATUS_NONE nor final (pending or working)."""
    status = rows["status"]
    return (status != STATUS_NONE) & ~np.isin(status, FINAL_STATUSES)


def orders_data(rows: np.ndarray | None, instruments: list[Instrument],
                strategy_names: dict | None = None, venue: bool = False) -> dict:
    """An order table for people and scripts: "open" (every row neither free nor final,
    by symbol, then buys before sells, best price first), "open_count", "by_status"
    (how many rows of the table have each status: the final ones stay until their row
    is taken again, so those are of the recent orders only) and "reject_reasons" (the
    rows whose last request was rejected, by reason). A venue row also names its
    strategy (the order id's bits from ORDER_ID_STRATEGY_SHIFT up) and has its queue_ahead."""
    if rows is None:
        return {"open_count": 0, "by_status": {}, "reject_reasons": {}, "open": [],
                "note": "no order table"}
    statuses = rows["status"]
    by_status = {STATUS_NAMES.get(int(code), f"#{int(code)}"): int(n)
                 for code, n in zip(*np.unique(statuses[statuses != STATUS_NONE],
                                               return_counts=True))}
    reasons = rows["reject_reason"][statuses != STATUS_NONE]
    reject_reasons = {reason_name(int(code)): int(n)
                      for code, n in zip(*np.unique(reasons[reasons != 0], return_counts=True))}
    picked = rows[open_mask(rows)]
    side = picked["side"].astype(np.int64)
    order = np.lexsort((-side * picked["limit_px"], -side, picked["symbol_id"]))
    shown = [order_data(row, instruments, strategy_names, venue) for row in picked[order]]
    return {"open_count": len(shown), "by_status": by_status, "reject_reasons": reject_reasons,
            "open": shown}


def order_data(row, instruments: list[Instrument], strategy_names: dict | None = None,
               venue: bool = False) -> dict:
    """One order row: ids and names spelled, prices in currency units (limit_px and avg_px
    in price units kept beside), its last reject reason by name."""
    symbol_id = int(row["symbol_id"])
    order_id = int(row["order_id"])
    cum = int(row["cum_qty"])
    data = {"order_id": order_id}
    if venue:
        k = order_id >> ORDER_ID_STRATEGY_SHIFT
        data["strategy"] = (strategy_names or {}).get(k, f"#{k}")
    data.update({
        "symbol": _name_of(instruments, symbol_id), "symbol_id": symbol_id,
        "side": SIDE_NAMES.get(int(row["side"]), str(int(row["side"]))),
        "status": STATUS_NAMES.get(int(row["status"]), f"#{int(row['status'])}"),
        "type": ORDER_TYPE_NAMES.get(int(row["order_type"]), f"#{int(row['order_type'])}"),
        "tif": TIF_NAMES.get(int(row["time_in_force"]), f"#{int(row['time_in_force'])}"),
        "qty": int(row["qty"]), "cum_qty": cum, "leaves_qty": int(row["leaves_qty"]),
        "price": int(row["limit_px"]) / PRICE_SCALE, "limit_px": int(row["limit_px"]),
        "avg_px": int(row["avg_px"]) / PRICE_SCALE if cum else None,
        "reject_reason": reason_name(int(row["reject_reason"])),
    })
    if venue:
        data["queue_ahead"] = int(row["queue_ahead"])
    return data


class _Malformed(ValueError):
    """A strategy row that cannot be read as its writer describes (the message says why)."""


@dataclass(frozen=True)
class StateField:
    """One field of a strategy's state row as the meta describes it."""
    name: str
    dtype: str                 # the element type, e.g. "<f8" (numpy dtype.str)
    shape: tuple               # () for a scalar
    offset: int                # bytes from the row's start
    unreadable: str | None     # why its values cannot be shown, else None


@dataclass(frozen=True)
class StrategyTable:
    """One strategy of the segment's strategy table: its meta parsed and its per-symbol
    state rows viewed, live and read-only, as the dtype the meta describes.

    `rows` change while the engine runs: `strategy_data` copies them (one memcpy)
    before it reads a field, so each row is shown as of one read."""
    index: int
    name: str
    meta: dict                 # source, params, symbols, timer_ms, fields (as written)
    row_size: int
    fields: tuple = ()         # StateField per meta field, in meta order
    dtype: np.dtype | None = None   # the readable fields at their offsets, itemsize row_size
    rows: np.ndarray | None = None  # n_symbols rows of `dtype`, by symbol id
    error: str | None = None   # why no state can be shown


def read_strategies(segment) -> list[StrategyTable]:
    """The strategies of the segment's table (rows with a name), in table order.

    Nothing of the strategy's code is imported: the state dtype is rebuilt from the
    meta's "fields" ([name, dtype str, shape, offset], itemsize = row_size). A row that
    does not hold together (bad meta, a field outside the row, rows outside the
    "strat_state" section) is kept with its `error`, so inspect still shows the rest."""
    table = np.array(segment.view("strategies", STRATEGY_ROW_DTYPE))
    strategies = []
    for index, row in enumerate(table):
        name = _text(row["name"])
        if name:
            strategies.append(_strategy_table(segment, index, name, row))
    return strategies


def _strategy_table(segment, index: int, name: str, row) -> StrategyTable:
    row_size = int(row["row_size"])
    meta: dict = {}
    try:
        meta = _strategy_meta(row)
        fields = _state_fields(meta.get("fields"), row_size)
        readable = [f for f in fields if f.unreadable is None]
        if not readable:
            return StrategyTable(index, name, meta, row_size, fields)
        dtype = np.dtype({"names": [f.name for f in readable],
                          "formats": [(np.dtype(f.dtype), f.shape) if f.shape else f.dtype
                                      for f in readable],
                          "offsets": [f.offset for f in readable], "itemsize": row_size})
        start = int(row["state_offset"]) - segment.section("strat_state")[0]
        rows = segment.view("strat_state", dtype, int(row["n_symbols"]), start)
    except (_Malformed, SegmentError, TypeError, ValueError) as exc:
        return StrategyTable(index, name, meta, row_size, error=f"{exc}")
    return StrategyTable(index, name, meta, row_size, fields, dtype, rows)


def _strategy_meta(row) -> dict:
    length = int(row["meta_len"])
    if not 0 < length <= META_BYTES:
        raise _Malformed(f"meta_len {length} is not within 1..{META_BYTES}")
    try:
        meta = json.loads(bytes(row["meta"])[:length].decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError both are
        raise _Malformed(f"meta is not UTF-8 JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise _Malformed(f"meta is not a JSON object: {type(meta).__name__}")
    return meta


def _state_fields(fields, row_size: int) -> tuple:
    """The meta's [name, dtype, shape, offset] lists as StateFields, checked against the row.

    An array field's dtype is its element type ("<f8" with shape [64]). Written as the
    whole field's type instead ("|V512" with shape [64]), the element type is not in
    the segment: that field is kept, marked unreadable, and the others are shown."""
    if fields is None or fields == []:
        return ()
    if not isinstance(fields, list):
        raise _Malformed(f"meta fields is not a list: {fields!r}")
    if row_size <= 0 or row_size % 64:
        raise _Malformed(f"row_size {row_size} is not a positive multiple of 64")
    out = []
    for field_ in fields:
        if not (isinstance(field_, list) and len(field_) == 4):
            raise _Malformed(f"field {field_!r} is not [name, dtype, shape, offset]")
        name, descr, shape, offset = field_
        if not isinstance(name, str) or not name or not isinstance(descr, str) or \
                not isinstance(shape, list) or \
                not all(type(n) is int and n >= 0 for n in shape) or \
                type(offset) is not int or offset < 0:
            raise _Malformed(f"field {field_!r} is not [name, dtype, shape, offset]")
        base = np.dtype(descr)
        count = math.prod(shape)
        if base.kind == "V" and base.names is None and base.subdtype is None and shape and \
                base.itemsize % max(count, 1) == 0:
            size, unreadable = base.itemsize, (
                f"the segment records its type as {descr} x {shape}, not its element type")
        elif base.names is None and base.subdtype is None and base.kind in "biuf":
            size, unreadable = base.itemsize * count, None
        else:
            raise _Malformed(f"field {name!r}: {descr!r} is not a plain number type")
        if offset + size > row_size:
            raise _Malformed(f"field {name!r} ({size} B at +{offset}) does not fit the "
                             f"{row_size} B row")
        out.append(StateField(name, descr, tuple(shape), offset, unreadable))
    return tuple(out)


def strategies_data(strategies: list[StrategyTable], instruments: list[Instrument],
                    strategy_positions: np.ndarray | None = None, mids: list | None = None,
                    order_tables: dict | None = None) -> dict:
    """{strategy name: strategy_data} for the snapshot's "strategies" key, each with its
    "positions" and P&L totals (from strat_pos, marked to `mids`) and its "orders" (from
    its rows of strat_orders, `order_tables` {strategy index: rows}) where given."""
    out = {}
    for table in strategies:
        key = table.name if table.name not in out else f"{table.name}#{table.index}"
        out[key] = strategy_data(table, instruments)
        if strategy_positions is not None and table.index < len(strategy_positions):
            positions = positions_of(strategy_positions[table.index], table.meta.get("symbols"),
                                     instruments, mids)
            out[key]["positions"] = positions
            out[key].update(pnl_totals(positions.values()))
        if order_tables is not None:
            out[key]["orders"] = orders_data(order_tables.get(table.index), instruments)
    return out


def strategy_names(strategies: list[StrategyTable]) -> dict:
    """{strategy index: name}, for the strategy index in each order id."""
    return {table.index: table.name for table in strategies}


def positions_of(rows: np.ndarray, symbols, instruments: list[Instrument],
                 mids: list | None = None) -> dict:
    """One strategy's rows of strat_pos, by instrument name, for the symbols it trades:
    what it holds by its own reports and what risk holds for it, and its P&L (pnl_fields:
    risk's position for it marked to `mids`; without mids, unrealised is None unless flat)."""
    rows = np.array(rows)  # one copy: the workers keep writing
    ids = _state_symbols(symbols, instruments, len(rows))
    out = {}
    for i in ids:
        row = rows[i]
        instrument = instruments[i] if i < len(instruments) else None
        mid = mids[i] if mids is not None and i < len(mids) else None
        out[_name_of(instruments, i)] = {
            "position": int(row["position"]), "intents_sent": int(row["intents_sent"]),
            "risk_position": int(row["risk_position"]), "open_buy_qty": int(row["open_buy_qty"]),
            "open_sell_qty": int(row["open_sell_qty"]), "orders_sent": int(row["orders_sent"]),
            "filled_qty": int(row["filled_qty"]), "in_flight": int(row["in_flight"]),
            "cash": int(row["cash"]),
            **pnl_fields(instrument, int(row["risk_position"]), int(row["cost_basis"]),
                         int(row["realised_pnl"]), int(row["fees"]), mid)}
    return out


def strategy_data(table: StrategyTable, instruments: list[Instrument]) -> dict:
    """One strategy for people and scripts: what it is (name, source, params, symbols,
    timer, fields) and its state, {instrument name: {field: value}} for the symbols it
    trades; an array field's value is a (nested) list. Floats that are not finite are
    the strings "nan", "inf", "-inf", so that the JSON stays JSON. A field whose values
    cannot be read is left out of the state, with its reason in "fields"."""
    meta = table.meta
    data = {"index": table.index, "name": table.name, "source": meta.get("source"),
            "params": meta.get("params"), "symbols": meta.get("symbols"),
            "timer_ms": meta.get("timer_ms"), "row_size": table.row_size}
    if meta.get("truncated"):
        data["truncated"] = True
    if table.error is not None:
        data["error"] = table.error
    data["fields"] = [{"name": f.name, "dtype": f.dtype, "shape": list(f.shape),
                       "offset": f.offset, **({"unreadable": f.unreadable} if f.unreadable else {})}
                      for f in table.fields]
    dtype = table.dtype
    if dtype is None or table.rows is None:
        data["state"] = None
        if table.error is None and not table.fields:
            data["note"] = "its state fields are not described in the segment (meta truncated)"
        return data
    ids = _state_symbols(meta.get("symbols"), instruments, len(table.rows))
    rows = np.array(table.rows)  # one copy: the engine keeps writing the live rows
    columns = {}
    for name in dtype.names:
        values = rows[name][ids].tolist() if ids else []
        columns[name] = _finite(values) if dtype.fields[name][0].base.kind == "f" else values
    data["symbol_ids"] = {_name_of(instruments, i): i for i in ids}
    data["state"] = {_name_of(instruments, i): {name: columns[name][n] for name in dtype.names}
                     for n, i in enumerate(ids)}
    return data


def _state_symbols(symbols, instruments: list[Instrument], n_rows: int) -> list[int]:
    """Symbol ids of the state rows to show: the symbols the strategy trades (only theirs
    ever change), else every row."""
    if isinstance(symbols, list):
        by_name = {instrument.name: instrument.symbol_id for instrument in instruments}
        ids = [by_name[s] for s in symbols if isinstance(s, str) and s in by_name]
        return [i for i in ids if i < n_rows]
    return list(range(n_rows))


def _name_of(instruments: list[Instrument], symbol_id: int) -> str:
    return instruments[symbol_id].name if symbol_id < len(instruments) else f"#{symbol_id}"


def _finite(value):
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
