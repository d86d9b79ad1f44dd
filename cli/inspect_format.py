"""What `tickpipe inspect` and `tickpipe ls` print for people: fixed and sized text
tables of a snapshot (engine/snapshot.py), its orders, strategies and histograms.
No engine import here beyond plain readers; `--json` prints the snapshot itself."""

import os

from tickpipe.engine.on_error import errors_text
from tickpipe.engine.report import money_text as _money, pnl_text, refusals_text


def _table(columns, rows, indent: str = "") -> list[str]:
    """Fixed-width text table. columns: (title, width, cell(row) -> str); width < 0 aligns left."""
    def pad(text, width):
        return f"{text:<{-width}}" if width < 0 else f"{text:>{width}}"
    cells = [[str(cell(row)) for _, _, cell in columns] for row in rows]
    # a column whose cells outgrow it widens, with a space, rather than run into the next
    widths = []
    for k, (title, width, _) in enumerate(columns):
        widest = max([len(line[k]) for line in cells] + [len(title)])
        grown = widest + 1 if widest > abs(width) and abs(width) > 2 else abs(width)
        widths.append(-grown if width < 0 else grown)
    lines = [indent + "".join(pad(title, width) for (title, _, _), width
                              in zip(columns, widths)).rstrip()]
    lines += [indent + "".join(pad(text, width) for text, width in zip(line, widths)).rstrip()
              for line in cells]
    return lines


_GAP = ("", 2, lambda _: "")
LISTING_COLUMNS = (
    ("NAME", -24, lambda i: i.name), ("PID", 8, lambda i: i.owner_pid or "-"), _GAP,
    ("ALIVE", -6, lambda i: {True: "alive", False: "DEAD", None: "?"}[i.alive]),
    ("STATE", -10, lambda i: i.state or "-"), ("SIZE", 9, lambda i: _bytes(i.size)),
    _GAP, ("BACKING", -10, lambda i: i.backing), ("PAGE", 7, lambda i: _bytes(i.page_size)),
    ("AGE", 8, lambda i: _seconds(i.age_s)),
    ("  NOTE", -20, lambda i: "  " + _listing_note(i) if _listing_note(i) else ""),
)
WORKER_COLUMNS = (
    ("WORKER", -10, lambda w: w.get("name") or w["role"]), ("PID", 8, lambda w: w["pid"]),
    ("CORE", 5, lambda w: w["core"]), _GAP, ("STATE", -9, lambda w: w["state"]),
    ("ALIVE", -6, lambda w: "yes" if w["alive"] else "NO"),
    ("BEAT", 7, lambda w: _seconds(w["heartbeat_age_s"])), ("RECORDS", 13, lambda w: f"{w['records']:,}"),
    ("RATE/s", 11, lambda w: _rate(w["rate_per_s"])), ("IDLE", 6, lambda w: _percent(w["idle_share"])),
    ("RESTARTS", 9, lambda w: w["restarts"]), ("ERRORS", 7, lambda w: w["errors"]),
    ("  WAIT", -8, lambda w: "  " + w["wait"]),
)
RING_COLUMNS = (
    ("RING", -16, lambda r: r["name"]),
    ("PRODUCER -> CONSUMER", -22, lambda r: f"{r['producer']} -> {r['consumer']}"),
    ("CAPACITY", 10, lambda r: f"{r['capacity']:,}"), ("HEAD", 13, lambda r: f"{r['head']:,}"),
    ("TAIL", 13, lambda r: f"{r['tail']:,}"), ("OCC", 8, lambda r: f"{r['occupancy']:,}"),
    ("HIGH", 8, lambda r: f"{r['high_water']:,}"), ("RATE/s", 11, lambda r: _rate(r["rate_per_s"])),
)
_RUN_FIGURES = ("p50", "p90", "p99", "p999", "max")
LATENCY_COLUMNS = (
    ("LATENCY (us)", -20, lambda hop: hop[0]), ("count", 11, lambda hop: f"{hop[1]['run']['count']:,}"),
    *((name.replace("p999", "p99.9"), 10, lambda hop, k=name: _us(hop[1]["run"][k]))
      for name in _RUN_FIGURES),
    ("  | last interval:", -18, lambda hop: "  |"),
    ("count", 9, lambda hop: _dash((hop[1]["interval"] or {}).get("count"))),
    *((name, 10, lambda hop, k=name: _us((hop[1]["interval"] or {}).get(k)))
      for name in ("p50", "p99", "max")),
)
POSITION_COLUMNS = (
    ("SYMBOL", -17, lambda p: p[0]), ("ID", 6, lambda p: p[1]["symbol_id"]),
    ("POSITION", 10, lambda p: f"{p[1]['position']:,}"),
    ("REALISED PNL", 18, lambda p: _money(p[1]["realised_pnl_ccy"], p[1]["currency"])),
    ("UNREALISED", 16, lambda p: _money(p[1].get("unrealised_pnl_ccy"), p[1]["currency"])),
    ("FEES", 16, lambda p: _money(p[1].get("fees_ccy"), p[1]["currency"])),
    ("NET", 16, lambda p: _money(p[1].get("net_pnl_ccy"), p[1]["currency"])),
    ("OPEN ORD", 10, lambda p: _dash(p[1].get("open_orders"))),
    ("RESTING", 9, lambda p: _dash(p[1].get("venue_resting"))),
)
# Order tables in the text view: at most this many rows each (--json has them all).
ORDER_ROWS = 12
ORDER_COLUMNS = (
    ("ORDER ID", lambda o: str(o["order_id"])), ("SYMBOL", lambda o: o["symbol"]),
    ("SIDE", lambda o: o["side"]), ("STATUS", lambda o: o["status"]),
    ("TYPE", lambda o: o["type"]), ("TIF", lambda o: o["tif"]),
    ("QTY", lambda o: f"{o['qty']:,}"), ("CUM", lambda o: f"{o['cum_qty']:,}"),
    ("LEAVES", lambda o: f"{o['leaves_qty']:,}"), ("PRICE", lambda o: _price(o["price"])),
    ("AVG PX", lambda o: _price(o["avg_px"])),
    ("REJECT", lambda o: "-" if o["reject_reason"] == "none" else o["reject_reason"]),
)
VENUE_COLUMNS = (ORDER_COLUMNS[0], ("STRATEGY", lambda o: o["strategy"]), *ORDER_COLUMNS[1:],
                 ("QUEUE AHEAD", lambda o: f"{o['queue_ahead']:,}"))


def _listing_note(info) -> str:
    """What the STATE column leaves out: a dead engine's last recorded state, and what a
    file that is no segment is and whose (another user's file blocks the name)."""
    if info.kind == "segment":
        return f"last state {info.recorded_state}" if info.alive is False and info.recorded_state \
            else ""
    note = info.kind if info.file_type == "file" else f"{info.kind} ({info.file_type})"
    return note if info.file_uid == os.geteuid() else f"{note} of user {info.file_user}"


def format_listing(infos) -> str:
    if not infos:
        return "no tickpipe segments on this host"
    return "\n".join(_table(LISTING_COLUMNS, infos))


def format_snapshot(data: dict) -> str:
    engine, risk = data["engine"], data["risk"]
    owner = engine["owner"]
    locked = engine["locked"] or engine["workers_mem_locked"]
    # The segment keeps the last state its owner wrote: a dead engine says so first.
    state = engine["state"] if engine["alive"] else f"dead (last state {engine['state']})"
    lines = [
        f"engine {engine['name']}: {state}, trading {engine['trading_state']}, "
        f"owner pid {owner['pid']} uid {owner['uid']} "
        f"{'alive' if engine['alive'] else 'DEAD'}, up {_seconds(engine['uptime_s'])}",
        f"  segment {engine['path']}: {_bytes(engine['size'])}, {engine['backing']}, "
        f"{_bytes(engine['page_size'])} pages, {'locked' if locked else 'not locked'}, "
        + _rate_basis_text(engine),
    ]
    if not engine["alive"]:
        lines.append(f"  POST-MORTEM: the owner (pid {owner['pid']}) is dead; these are the last "
                     f"figures it left, {_seconds(engine['age_s'])} after it made the segment")
    rejects = ", ".join(f"{k} {v:,}" for k, v in risk["rejects"].items() if v) or "none"
    venue_rejects = ", ".join(f"{k} {v:,}" for k, v in risk.get("venue_rejects", {}).items()
                              if v) or "none"
    return "\n".join([
        *lines, "", *_table(WORKER_COLUMNS, data["workers"]),
        "", *_table(RING_COLUMNS, data["rings"]),
        "", *_table(LATENCY_COLUMNS, data["latency_ns"].items()),
        "", f"risk: trading {risk['trading_state']} (set {risk['trading_state_changes']} times), "
            f"intents {risk['intents_read']:,}, orders sent {risk['orders_sent']:,}, "
            f"fills {risk['fills']:,}, exchange rejects {risk['exchange_rejects']:,}, "
            f"open orders {risk.get('open_orders', 0):,}",
        f"  PnL: {pnl_text(risk, ', ')}",
        f"  rejected by risk: {rejects}; by the venue: {venue_rejects}",
        f"  refused by the strategy API (nothing sent): {refusals_text(risk.get('refused', {}))}",
        *_table(POSITION_COLUMNS, risk["positions"].items(), indent="  "),
        *(line for name, strategy in data.get("strategies", {}).items()
          for line in ("", *format_strategy(name, strategy))),
        *(("", *format_venue(data["venue"])) if "venue" in data else ()),
        *(("", *format_depth(data["depth"])) if "depth" in data else ()),
        # a declared role's section (engine/role.py: the journal's) says its own line
        *(line for section in data.values() if isinstance(section, dict)
          and isinstance(section.get("summary"), str) for line in ("", section["summary"])),
    ])


def _by_status_text(by_status: dict) -> str:
    return ", ".join(f"{status} {n:,}" for status, n in by_status.items()) or "none"


def format_orders(orders: list[dict], columns, indent: str = "  ") -> list[str]:
    """Up to ORDER_ROWS orders as a table, then how many more there are."""
    shown = orders[:ORDER_ROWS]
    lines = _auto_table([title for title, _ in columns],
                        [[cell(o) for _, cell in columns] for o in shown], indent=indent)
    if len(orders) > len(shown):
        lines.append(f"{indent}... and {len(orders) - len(shown):,} more orders; "
                     f"--json has them all")
    return lines


DEPTH_SYMBOLS = 8  # symbols shown in the text; --json has them all


def format_depth(depth: dict) -> list[str]:
    """The L2 book, a line per symbol: bids from the best, then asks, 'qty@price'."""
    lines = [f"book, {depth['levels']} levels (bids best first | asks best first):"]
    for name, book in list(depth["symbols"].items())[:DEPTH_SYMBOLS]:
        bids = " ".join(f"{qty:,}@{_price(px)}" for px, qty in book["bids"]) or "-"
        asks = " ".join(f"{qty:,}@{_price(px)}" for px, qty in book["asks"]) or "-"
        lines.append(f"  {name}: {bids} | {asks}")
    if len(depth["symbols"]) > DEPTH_SYMBOLS:
        lines.append(f"  ... and {len(depth['symbols']) - DEPTH_SYMBOLS:,} more symbols; "
                     f"--json has them all")
    return lines


def format_venue(venue: dict) -> list[str]:
    """The venue's working orders, every strategy's, with their place in the queue."""
    lines = [f"venue: {orders_text(venue['working'])} working; its table: "
             f"{_by_status_text(venue['by_status'])}; kill switch cancelled "
             f"{venue['kill_switch_cancels']:,}"]
    if venue["resting"]:
        lines += format_orders(venue["resting"], VENUE_COLUMNS)
    return lines


# A state's array field shows in the table as its shape and its last few values
# (`--json` has them in full).
ARRAY_TAIL = 3


def _symbols_text(symbols) -> str:
    if not isinstance(symbols, list):
        return "? symbols"
    return f"{len(symbols)} symbol{'' if len(symbols) == 1 else 's'}"


def format_strategy(name: str, strategy: dict) -> list[str]:
    """One strategy: what it is, then its per-symbol state, one column per field."""
    symbols = strategy.get("symbols")
    timer = strategy.get("timer_ms")
    lines = [f"strategy {name}: {strategy.get('source') or '?'}, "
             f"{_symbols_text(symbols)}, "
             f"timer {f'{timer:g} ms' if isinstance(timer, (int, float)) and timer else 'off'}"]
    params = strategy.get("params")
    if isinstance(params, dict):
        lines.append("  params: " + (", ".join(f"{k} {_cell(v)}" for k, v in params.items())
                                     or "none"))
    errors = errors_text(strategy.get("on_error"))  # retired, records skipped
    if errors:
        lines.append(f"  {errors}")
    if strategy.get("error"):
        lines.append(f"  state not shown: {strategy['error']}")
    elif strategy.get("note"):
        lines.append(f"  state not shown: {strategy['note']}")
    for field_ in strategy.get("fields", []):
        if field_.get("unreadable"):
            lines.append(f"  field {field_['name']} not shown: {field_['unreadable']}")
    state = strategy.get("state")
    if not state:
        return lines + _strategy_trading_lines(strategy)
    fields = list(next(iter(state.values())))
    ids = strategy.get("symbol_ids", {})
    held = strategy.get("positions") or {}  # its own rows of strat_pos, where the engine has them

    def own(symbol):
        p = held.get(symbol)
        currency = p.get("currency", "") if p else ""
        return ([f"{p['position']:,}", *(_money(p.get(key), currency) for key in
                                         ("realised_pnl_ccy", "unrealised_pnl_ccy", "fees_ccy"))]
                if p else ["-"] * 4) if held else []
    rows = [[symbol, str(ids.get(symbol, "")), *own(symbol), *(_cell(row[f]) for f in fields)]
            for symbol, row in state.items()]
    lines += _auto_table(["SYMBOL", "ID", *(["POSITION", "REALISED PNL", "UNREALISED", "FEES"]
                                            if held else []),
                          *fields], rows, indent="  ")
    if any(isinstance(value, list) for row in state.values() for value in row.values()):
        lines.append(f"  (an array field shows [its shape] and its last {ARRAY_TAIL} values; "
                     f"--json has them all)")
    return lines + _strategy_trading_lines(strategy)


def _strategy_trading_lines(strategy: dict) -> list[str]:
    """Its P&L over its symbols and its open orders (those neither free nor final)."""
    lines = []
    if "realised_pnl_ccy" in strategy:
        lines.append(f"  PnL: {pnl_text(strategy, ', ')}")
    orders = strategy.get("orders")
    if orders:
        reasons = orders.get("reject_reasons")
        lines.append(f"  orders: {orders['open_count']:,} open; its table: "
                     f"{_by_status_text(orders['by_status'])}"
                     + (f"; rejected: {_by_status_text(reasons)}" if reasons else ""))
        if orders["open"]:
            lines += format_orders(orders["open"], ORDER_COLUMNS)
    return lines


def _auto_table(titles: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    """A text table sized to its cells: the first column aligned left, the others right."""
    widths = [max(len(cell) for cell in column) for column in zip(titles, *rows)]

    def line(cells):
        first, *rest = cells
        return (indent + f"{first:<{widths[0]}}"
                + "".join(f"  {cell:>{width}}" for cell, width in zip(rest, widths[1:]))).rstrip()
    return [line(titles), *(line(row) for row in rows)]


def _cell(value) -> str:
    """A state or param value for people: numbers with separators, arrays compact."""
    if isinstance(value, list):
        shape, flat = _shape(value), list(_flatten(value))
        head = "..., " if len(flat) > ARRAY_TAIL else ""
        return f"[{'x'.join(map(str, shape))}] {head}" + ", ".join(
            _cell(v) for v in flat[-ARRAY_TAIL:])
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and not 1e-4 <= abs(value) < 1e12:
            return f"{value:.6g}"
        text = f"{value:,.4f}".rstrip("0")
        return text + "0" if text.endswith(".") else text  # 2.0, not 2: a float stays one
    return str(value)


def _shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _flatten(value):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _rate_basis_text(engine: dict) -> str:
    if engine.get("rate_basis") == "window":
        return f"rates over the last {engine['rate_window_s']} s"
    if engine.get("rate_basis") == "since_feed_start":
        return "rates averaged since the feed started"
    return "no rates (engine not running)"


def format_histogram(hop: str, histogram, width: int = 50) -> str:
    """One bar per power-of-two range of latency, from the first to the last non-empty one."""
    from tickpipe.shm_layouts.histogram import LINEAR_LIMIT, bucket_low_value

    buckets = [int(v) for v in histogram["buckets"]]
    total = sum(buckets)
    if total == 0:
        return f"{hop}: no values recorded yet"
    rows = {}  # power of two (the range's low edge) -> count
    for index, value in enumerate(buckets):
        if value:
            low = bucket_low_value(index)
            edge = 0 if low < LINEAR_LIMIT else 1 << (low.bit_length() - 1)
            rows[edge] = rows.get(edge, 0) + value
    edges = sorted(rows)
    peak = max(rows.values())
    lines = [f"{hop}: {total:,} values, max {_us(int(histogram['max_ns']))} us",
             f"  {'from (us)':>12} {'to (us)':>12} {'count':>12}  {'cum %':>7}"]
    cumulative = 0
    for edge in edges:
        count = rows[edge]
        cumulative += count
        upper = LINEAR_LIMIT if edge == 0 else edge * 2
        bar = "#" * max(1, round(width * count / peak))
        lines.append(f"  {_us(edge):>12} {_us(upper):>12} {count:>12,}  {100 * cumulative / total:>6.2f}%"
                     f"  {bar}")
    return "\n".join(lines)


def _us(ns) -> str:
    return "-" if ns is None else f"{ns / 1000:,.1f}"


def _price(value) -> str:
    """A price in currency units, with the 4 decimals of a price unit when it has them."""
    if value is None:
        return "-"
    text = f"{value:,.4f}"
    return text[:-2] + text[-2:].rstrip("0")


def _rate(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _percent(share) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def _dash(value) -> str:
    return "-" if value is None else f"{value:,}"


def _seconds(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _bytes(size) -> str:
    if size is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}{unit}" if size % scale else f"{size // scale}{unit}"
    return f"{size}B"


def orders_text(n: int) -> str:
    return f"{n:,} order" if n == 1 else f"{n:,} orders"
