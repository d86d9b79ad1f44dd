"""What a run did, read from the segment: the final report and the per-second status line.

Counts come from ring positions and committed counters (ticks = the feed's
count, committed with its batches), so they stay exact across a worker's restart. Symbols are named by their
instrument, with their P&L in its currency (realised, unrealised at the book's last
mids, fees, net); strategies by their [[strategy]] name, each with its own P&L and
its orders still open; the venue's working orders at the end (all read from the
segment, as `tickpipe inspect` does).
"""

import numpy as np

from tickpipe.engine.engine_layout import role_counters, role_of, worker_label, worker_strategy
from tickpipe.engine.registry import ROLES
from tickpipe.engine.role import call, merge_sections
from tickpipe.engine.histogram_read import percentiles, percentiles_of_buckets
from tickpipe.engine.on_error import errors_data, errors_text
from tickpipe.engine.ring_layout import ring_header
from tickpipe.engine.segment_catalog import (
    book_mids, order_table_rows, orders_data, pnl_fields, pnl_totals, positions_of,
    read_instruments, read_strategies, strategy_data, strategy_position_rows,
)
from tickpipe.engine.wait_codes import WAIT_NAMES
from tickpipe.shm_layouts.control_block import CONTROL_DTYPE, TRADING_STATE_NAMES
from tickpipe.shm_layouts.histogram import (
    HISTOGRAM_DTYPE, HISTOGRAM_ROWS, HOP_TICK_TO_TRADE, HOP_TICK_TO_TRADE_OF, HOPS,
)
from tickpipe.shm_layouts.ring_directory import RING_DIRECTORY_DTYPE
from tickpipe.shm_layouts.strategy_position import STRATEGY_POSITION_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from tickpipe.shm_layouts.worker_table import WORKER_DTYPE, WORKER_STATE_NAMES


def ring_positions(segment) -> dict:
    """{section: (head, tail)} for every ring.

    Tail is read before head: while the engine runs, the consumer may move tail
    past a head read earlier, and head - tail (records in flight) would go
    negative. Head only grows, so a head read after tail is never behind it.
    """
    positions = {}
    for section in ring_sections(segment):
        header = ring_header(segment, section)
        tail = int(header["tail"])
        head = int(header["head"])
        positions[section] = (head, tail)
    return positions


def ring_sections(segment) -> list[str]:
    """Every ring of the segment, from its own ring directory (whatever its strategies)."""
    control = segment.view("control", CONTROL_DTYPE)[0]
    directory = segment.view("ring_dir", RING_DIRECTORY_DTYPE)
    return [bytes(entry["section"]).decode() for entry in directory[:int(control["n_rings"])]]


def _worker_names(segment) -> list[str]:
    """The worker name of each row of the worker table, "" for a row no worker has (a
    declared role sits in a row of its own: engine/role.py)."""
    workers = segment.view("workers", WORKER_DTYPE)
    return [bytes(row["role_name"]).decode() if int(row["role_id"]) else "" for row in workers]


def stranded_records(segment) -> dict:
    """{section: records between tail and head} for every ring that is not empty.

    After the workers stopped these records will never be read: what a drain
    that failed left behind, ring by ring."""
    return {section: head - tail for section, (head, tail) in ring_positions(segment).items()
            if head != tail}


def segment_roles(segment) -> list:
    """The roles (engine/role.py) with a worker in the segment's table, in role_id order."""
    present = {role_of(name) for name in _worker_names(segment) if name}
    return [role for name, role in ROLES.items() if name in present]


def counts(segment) -> dict:
    """The run's totals: each role's own (its `counts` hook: the feed's ticks, the
    strategies' intents, risk's orders sent and rejects, the gateway's fills ...), and
    lost: the records between head and tail of every ring."""
    totals: dict = {}
    for role in segment_roles(segment):
        if role.counts:
            merge_sections(totals, call(role.counts, segment), role.name)
    totals["lost"] = sum(head - tail for head, tail in ring_positions(segment).values())
    return totals


def histogram_snapshot(segment) -> np.ndarray:
    return np.array(segment.view("histograms", HISTOGRAM_DTYPE, HISTOGRAM_ROWS))


def hop_percentiles(histograms) -> dict:
    return {hop: percentiles(histograms[index]) for index, hop in enumerate(HOPS)}


def worker_rows(segment, placement=None) -> list[dict]:
    """Each worker: "role" its worker name (strategy, strategy2, ...: the key), "name" as
    people read it (`strategy <name>` for a strategy's), "strategy" its [[strategy]] name."""
    rows = []
    strategy_names = {table.index: table.name for table in read_strategies(segment)}
    for index, role in enumerate(_worker_names(segment)):
        if not role:
            continue
        row = segment.view("workers", WORKER_DTYPE)[index]
        counters = {name: int(row["counters"][slot]) for name, slot in
                    role_counters(role).items()}
        rows.append({
            "role": role, "name": worker_label(role, strategy_names),
            "strategy": worker_strategy(role, strategy_names),
            "pid": int(row["pid"]), "core": int(row["core"]),
            "wait": WAIT_NAMES.get(int(row["wait"]), "?"), "restarts": int(row["restarts"]),
            "state": WORKER_STATE_NAMES.get(int(row["state"]), "?"),
            "processed": int(row["processed"]), "published": int(row["published"]),
            "errors": int(row["errors"]), "sleeps": int(row["sleeps"]),
            "sched_fifo": bool(row["sched_fifo"]), "mem_locked": bool(row["mem_locked"]),
            "counters": counters,
        })
    return rows


def positions(segment, mids: list | None = None) -> dict:
    """{instrument name: position and P&L} per symbol, each with its "symbol_id"; the
    realised and unrealised P&L (marked to `mids`, the book's by default) and the fees in
    price units x lots and, "_ccy", in the instrument's "currency"; its orders open at
    risk and working at the venue. One copy of the rows, so that a symbol's figures are
    of one read."""
    stats = np.array(segment.view("symbols", SYMBOL_STATS_DTYPE))
    instruments = read_instruments(segment, len(stats))
    mids = book_mids(segment, len(stats)) if mids is None else mids
    n_strategies = len(read_strategies(segment))
    # each strategy's own position (from its reports), summed over the strategies
    held = np.array(segment.view("strat_pos", STRATEGY_POSITION_DTYPE, n_strategies * len(stats))
                    ["position"]).reshape(n_strategies, len(stats)).sum(axis=0)
    out = {}
    for symbol, row in enumerate(stats):
        instrument = instruments[symbol]
        position = int(row["position"])
        out[instrument.name] = {"symbol_id": symbol, "position": position,
                                **pnl_fields(instrument, position, int(row["cost_basis"]),
                                             int(row["realised_pnl"]), int(row["fees"]),
                                             mids[symbol]),
                                "cash": int(row["cash"]), "venue_cash": int(row["venue_cash"]),
                                "open_orders": int(row["open_orders"]),
                                "venue_resting": int(row["venue_resting"]),
                                "venue_net_qty": int(row["venue_net_qty"]),
                                "strategy_position": int(held[symbol])}
    return out


def strategies(segment, histograms=None) -> dict:
    """{strategy name: what it ran, the tick-to-trade of its own orders, and its state at
    the end ({symbol: {field: value}}, as `tickpipe inspect` shows it live)} from the
    segment's strategy table and histograms."""
    histograms = histogram_snapshot(segment) if histograms is None else histograms
    instruments = read_instruments(segment, len(segment.view("symbols", SYMBOL_STATS_DTYPE)))
    out = {}
    for table in read_strategies(segment):
        meta = table.meta
        entry = {"index": table.index, "source": meta.get("source"), "params": meta.get("params"),
                 "symbols": meta.get("symbols"), "timer_ms": meta.get("timer_ms"),
                 "tick_to_trade_ns": percentiles(histograms[HOP_TICK_TO_TRADE_OF + table.index])
                 if table.index < HISTOGRAM_ROWS - HOP_TICK_TO_TRADE_OF else None}
        if table.error is not None:
            entry["error"] = table.error
        entry["on_error"] = errors_data(segment, table.index, meta.get("on_error"))
        entry["state"] = strategy_data(table, instruments)["state"]
        out[table.name if table.name not in out else f"{table.name}#{table.index}"] = entry
    return out


def count_text(n: int, noun: str) -> str:
    """'1 order', '2 orders' (report lines and the roles' sections)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _strategy_positions(segment, strategies: dict, mids: list) -> None:
    """Each strategy's positions per symbol it trades (as inspect shows them: its own
    and risk's for it), its P&L per currency (realised, unrealised, fees, net) and its
    orders still open (how many, and its order table's rows by status)."""
    n_symbols = len(segment.view("symbols", SYMBOL_STATS_DTYPE))
    instruments = read_instruments(segment, n_symbols)
    rows = strategy_position_rows(segment, len(strategies), n_symbols)
    for entry in strategies.values():
        if rows is not None and entry["index"] < len(rows):
            entry["positions"] = positions_of(rows[entry["index"]], entry.get("symbols"),
                                              instruments, mids)
            entry.update(pnl_totals(entry["positions"].values()))
        orders = orders_data(order_table_rows(segment, "strat_orders", entry["index"]),
                             instruments)
        entry["open_orders"] = orders["open_count"]
        entry["orders_by_status"] = orders["by_status"]


def final_report(segment, *, state: str, seconds: float, notes: list[str],
                 config: dict | None = None) -> dict:
    """What the run did, for `tickpipe run`'s last lines and --json: the engine's figures,
    then each role's sections (`config`: the run's, which a role's section may name)."""
    control = segment.view("control", CONTROL_DTYPE)[0]
    histograms = histogram_snapshot(segment)
    hops = hop_percentiles(histograms)
    report = {"engine": segment.name, "state": state, "seconds": round(seconds, 3)}
    report.update(counts(segment))
    report["stranded"] = stranded_records(segment)
    report["tick_to_trade_ns"] = hops[HOPS[HOP_TICK_TO_TRADE]]
    report["hops_ns"] = {hop: value for hop, value in hops.items() if hop != HOPS[HOP_TICK_TO_TRADE]}
    report["trading_state"] = TRADING_STATE_NAMES.get(int(control["trading_state"]), "?")
    report["workers"] = worker_rows(segment)
    report["strategies"] = strategies(segment, histograms)
    mids = book_mids(segment, len(segment.view("symbols", SYMBOL_STATS_DTYPE)))
    report["positions"] = positions(segment, mids)
    _strategy_positions(segment, report["strategies"], mids)
    report.update(pnl_totals(report["positions"].values()))
    report["memory"] = {"backing": segment.backing, "page_size": segment.page_size,
                        "locked": segment.locked or all(w["mem_locked"] for w in report["workers"])}
    if seconds > 0:
        report["rates"] = {"ticks_per_s": round(report["ticks"] / seconds),
                           "orders_per_s": round(report["orders_sent"] / seconds)}
    report["notes"] = notes
    role_sections(report, segment, config or {})
    return report


def role_sections(report: dict, segment, config: dict) -> None:
    """Each role's own sections of the final report (its `report` hook: the venue's
    working orders, the strategies' refusals, the journal's files ...)."""
    for role in segment_roles(segment):
        if role.report:
            merge_sections(report, call(role.report, segment, config), role.name)


def status_line(elapsed: float, previous: dict, current: dict, dt: float,
                previous_hist: np.ndarray, current_hist: np.ndarray) -> str:
    """One line: rates over the last interval and tick-to-trade percentiles over it."""
    ticks_rate = (current["ticks"] - previous["ticks"]) / dt
    orders_rate = (current["orders_sent"] - previous["orders_sent"]) / dt
    interval = (current_hist[HOP_TICK_TO_TRADE]["buckets"].astype(np.int64)
                - previous_hist[HOP_TICK_TO_TRADE]["buckets"].astype(np.int64))
    t2t = percentiles_of_buckets(np.clip(interval, 0, None))
    latency = (f"t2t p50 {_us(t2t['p50'])} p99 {_us(t2t['p99'])}" if t2t["count"]
               else "t2t -")
    return (f"[{elapsed:6.1f}s] ticks/s {ticks_rate:>10,.0f}  orders/s {orders_rate:>8,.0f}  "
            f"{latency}  in-flight {current['lost']:,}")  # records between head and tail now


def _us(ns) -> str:
    return "-" if ns is None else f"{ns / 1000:.1f}us"


def format_report(report: dict) -> str:
    """The final report for people."""
    t2t = report["tick_to_trade_ns"]
    lines = [
        f"engine {report['engine']}: {report['state']} after {report['seconds']} s"
        f"{', ended by ' + report['ended_by'] if report.get('ended_by') else ''} "
        f"({report['memory']['backing']}, {report['memory']['page_size'] // 1024} KiB pages"
        f"{', locked' if report['memory']['locked'] else ''})",
        f"  ticks {report['ticks']:,}  intents {report['intents']:,}  orders sent "
        f"{report['orders_sent']:,}  fills {report['fills']:,}  lost {report['lost']:,}",
        "  rejected by risk: " + (", ".join(f"{k} {v:,}" for k, v in report["rejected"].items()
                                            if v) or "none")
        + "; by the venue: " + (", ".join(f"{k} {v:,}" for k, v in report["venue_rejected"].items()
                                          if v) or "none"),
        "  refused by the strategy API (nothing sent): " + refusals_text(report.get("refused", {})),
        f"  {'latency (ns)':<22}{'count':>12}{'p50':>14}{'p90':>14}{'p99':>14}{'p99.9':>14}{'max':>15}",
    ]
    for name, value in [("tick_to_trade", t2t)] + list(report["hops_ns"].items()):
        # a leading space in each cell: a value wider than its column (a worker stopped
        # for seconds) still stands apart from its neighbour
        cells = "".join(f" {_fmt(value[k]):>13}" for k in ("p50", "p90", "p99", "p999"))
        lines.append(f"  {name:<22}{value['count']:>12,}{cells} {_fmt(value['max']):>14}")
    lines.append("  workers: " + ", ".join(
        f"{w.get('name') or w['role']}@{w['core']} {w['wait']} pid {w['pid']} "
        f"restarts {w['restarts']}"
        for w in report["workers"]))
    lines += _strategy_lines(report.get("strategies") or {})
    lines += _position_lines(report.get("positions") or {}, report)
    venue = report.get("venue")
    if venue:
        lines.append(f"  venue: {count_text(venue['working'], 'order')} still working at the end; "
                     f"{venue['kill_switch_cancels']:,} cancelled by the kill switch (or at the "
                     f"close)")
    for section in report.values():  # a declared role's section (engine/role.py) says its line
        if isinstance(section, dict) and isinstance(section.get("summary"), str):
            lines.append(f"  {section['summary']}")
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


# Per-symbol lines in the report for people: every symbol up to this many, else the
# ones that traded (up to this many); --json has every symbol.
REPORT_SYMBOLS = 16


def _strategy_lines(strategies: dict) -> list[str]:
    if not strategies:
        return []
    lines = ["  strategies: " + ", ".join(
        f"{name} ({entry.get('source') or '?'}"
        + (f", {count_text(len(entry['symbols']), 'symbol')}"
           if isinstance(entry.get("symbols"), list) else "")
        + ")" for name, entry in strategies.items())]
    for name, entry in strategies.items():
        errors = errors_text(entry.get("on_error"))
        if errors:
            lines.append(f"  {name:<26} {errors}")
        if len(strategies) > 1 and "realised_pnl_ccy" in entry:
            lines.append(f"  PnL {name:<15} {pnl_text(entry)}")
        lines += _state_lines(name, entry.get("state"))
        if entry.get("open_orders"):
            table = ", ".join(f"{status} {n:,}" for status, n in
                              (entry.get("orders_by_status") or {}).items())
            lines.append(f"  open orders {name:<15} {entry['open_orders']:,} ({table} in its "
                         f"table)")
    if len(strategies) > 1:  # each one's own orders: who is slow
        for name, entry in strategies.items():
            t2t = entry.get("tick_to_trade_ns") or {}
            if t2t.get("count"):
                lines.append(f"  tick_to_trade {name:<14} {t2t['count']:>10,} "
                             f"p50 {t2t['p50']:>9,} p99 {t2t['p99']:>11,} ns")
    return lines


STATE_LINES = 4   # symbols of a strategy's state in the text report (--json has them all)
STATE_FIELDS = 6  # fields of a symbol's state line


def _state_lines(name: str, state) -> list[str]:
    """The strategy's state at the end, a line per symbol: its number fields (an array
    field is left to --json)."""
    if not state:
        return []
    lines = []
    for symbol, row in list(state.items())[:STATE_LINES]:
        cells = [f"{field} {value:,}" if isinstance(value, int) else f"{field} {value:.6g}"
                 if isinstance(value, float) else f"{field} {value}"
                 for field, value in row.items() if not isinstance(value, list)]
        more = len(cells) > STATE_FIELDS
        lines.append(f"  state {name} {symbol}: " + ", ".join(cells[:STATE_FIELDS])
                     + (", ..." if more else ""))
    if len(state) > STATE_LINES:
        lines.append(f"  state {name}: {len(state) - STATE_LINES} more symbols in --json")
    return lines


def pnl_text(figures: dict, between: str = "; ") -> str:
    """realised, unrealised, fees and net, each by currency (a label's currencies
    joined by ", "; the labels by `between`: inspect's table line uses ", ")."""
    def by_currency(key):
        return ", ".join(money_text(amount, currency) for currency, amount in
                         sorted((figures.get(key) or {}).items())) or "-"
    return between.join(f"{label} {by_currency(key)}" for label, key in (
        ("realised", "realised_pnl_ccy"), ("unrealised", "unrealised_pnl_ccy"),
        ("fees", "fees_ccy"), ("net", "net_pnl_ccy")))


def _position_lines(positions: dict, totals: dict) -> list[str]:
    """The P&L totals, then one line per symbol (the ones that traded when there are many)."""
    if not positions:
        return []
    rows = list(positions.items())
    if len(rows) > REPORT_SYMBOLS:
        rows = [(name, p) for name, p in rows
                if p["position"] or p["realised_pnl"] or p.get("fees")]
    shown = rows[:REPORT_SYMBOLS]
    lines = [f"  {pnl_text(totals).replace('realised', 'realised PnL', 1)}",
             f"  {'symbol':<17}{'position':>12}{'realised PnL':>22}{'unrealised':>18}"
             f"{'fees':>18}"]
    lines += [f"  {name:<17}{p['position']:>12,}{money_text(p['realised_pnl_ccy'], p['currency']):>22}"
              f"{money_text(p.get('unrealised_pnl_ccy'), p['currency']):>18}"
              f"{money_text(p.get('fees_ccy'), p['currency']):>18}"
              for name, p in shown]
    left = len(positions) - len(shown)
    if left:
        lines.append(f"  ... and {left:,} more symbols"
                     f"{' (flat, no P&L)' if len(rows) == len(shown) else ''}; --json has them all")
    return lines


def refusals_text(refused: dict) -> str:
    """'momentum: bad_order 3, no_room 1; obi: pending 2', or 'none'."""
    return "; ".join(f"{name}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                     for name, counts in refused.items() if counts) or "none"


def money_text(amount, currency: str) -> str:
    """A currency amount: at least 2 decimals, up to the 4 a price unit has."""
    if amount is None:
        return "-"
    text = f"{amount:,.4f}"
    return f"{text[:-2] + text[-2:].rstrip('0')} {currency}".rstrip()


def failure_line(report: dict) -> str | None:
    """One line saying why a run did not end `stopped`; None when it did.

    `failures` (set by the supervisor) holds what went wrong, in order: a worker
    given up, then what the drain left stranded."""
    if report["state"] == "stopped":
        return None
    reasons = report.get("failures") or ["see the notes in the report"]
    return f"engine {report['engine']} ended {report['state']}: {'; '.join(reasons)}"


def _fmt(value) -> str:
    return "-" if value is None else f"{value:,}"
