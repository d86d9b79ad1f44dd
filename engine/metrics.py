"""Prometheus exposition of an engine's snapshot (`tickpipe inspect ENGINE --serve PORT`).

A custom collector takes a fresh read-only snapshot per scrape, so the figures
are the ones `tickpipe inspect --json` shows, in Prometheus conventions: base
units (seconds), counters for everything that only grows (PromQL's rate() makes
the rates), gauges for levels, and each hop's latency histogram re-bucketed at
power-of-two nanosecond edges so histogram_quantile() works over any window.
Every series carries an `engine` label.

prometheus_client is the optional extra `metrics`; import this module only
when it is installed (MetricsUnavailable says how to get it).
"""

import socket
import threading

import numpy as np

try:
    from prometheus_client.core import (
        CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, StateSetMetricFamily,
    )
    from prometheus_client.registry import CollectorRegistry
except ImportError:  # pragma: no cover - depends on the environment
    CollectorRegistry = None

from tickpipe.engine.histogram_read import BUCKET_LOW_EDGES
from tickpipe.engine.snapshot import Inspector
from tickpipe.shm_layouts.control_block import ENGINE_STATE_NAMES, TRADING_STATE_NAMES
from tickpipe.shm_layouts.histogram import HOPS

NS = 1e-9
METRICS_PATH = "/metrics"
QUANTILES = {"p50": "0.5", "p90": "0.9", "p99": "0.99", "p999": "0.999", "max": "1"}
# Histogram edges: 64 ns .. 2^36 ns (~69 s), each a bucket low edge of the segment's histogram.
EDGE_EXPONENTS = range(6, 37)


class MetricsUnavailable(Exception):
    pass


def require_prometheus_client() -> None:
    if CollectorRegistry is None:
        raise MetricsUnavailable("--serve needs prometheus_client: "
                                 "pip install 'tickpipe[metrics]'")


class EngineCollector:
    """A prometheus_client collector: one snapshot of `inspector` per scrape."""

    def __init__(self, inspector: Inspector):
        self.inspector = inspector
        self._lock = threading.Lock()  # the HTTP server scrapes from several threads

    def collect(self):
        with self._lock:
            snapshot = self.inspector.snapshot()
        yield from families(snapshot.data, snapshot.histograms)


def registry_for(inspector: Inspector):
    require_prometheus_client()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(inspector))
    return registry


def serve(inspector: Inspector, port: int, bind: str = "127.0.0.1"):
    """Start the /metrics HTTP server in a daemon thread; returns (host, port) it listens on.
    Raises MetricsUnavailable without prometheus_client, OSError when it cannot listen."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):  # a scrape per second must not fill the terminal
            pass

    class Server(ThreadingWSGIServer):
        # IPv4 or IPv6, as `bind` resolves; the class attribute is what socketserver reads.
        address_family = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM,
                                            flags=socket.AI_PASSIVE)[0][0]

    app = metrics_only(make_wsgi_app(registry_for(inspector)))
    server = make_server(bind, port, app, Server, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return (bind, server.server_address[1])


def metrics_only(metrics_app):
    """prometheus_client answers every path with the metrics; a typo'd scrape path should
    fail loudly (404), not look healthy. / gets a pointer to /metrics."""
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == METRICS_PATH:
            return metrics_app(environ, start_response)
        if path == "/":
            return _plain(start_response, "200 OK", f"tickpipe metrics: see {METRICS_PATH}\n")
        return _plain(start_response, "404 Not Found",
                      f"404 not found: {path}; tickpipe metrics are at {METRICS_PATH}\n")
    return app


def _plain(start_response, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


def families(data: dict, histograms: np.ndarray) -> list:
    engine = data["engine"]["name"]
    out = _engine_families(engine, data["engine"])
    out += _worker_families(engine, data["workers"])
    out += _ring_families(engine, data["rings"])
    out += _latency_families(engine, data["latency_ns"], histograms)
    out += _risk_families(engine, data["risk"])
    out += _strategy_families(engine, data.get("strategies", {}))
    out += _venue_families(engine, data.get("venue"))
    out += venue_session_families(engine, data.get("fix_venue"))
    out += bridge_families(engine, data.get("bridge_out"), data.get("bridge_in"))
    return out


def _gauge(name, doc, labels=()):
    return GaugeMetricFamily(name, doc, labels=["engine", *labels])


def _counter(name, doc, labels=()):
    return CounterMetricFamily(name, doc, labels=["engine", *labels])


def _state_set(name, doc, engine, names, current):
    family = StateSetMetricFamily(name, doc, labels=["engine"])
    family.add_metric([engine], {state: state == current for state in names})
    return family


def _engine_families(engine: str, info: dict) -> list:
    up = _gauge("tickpipe_engine_up", "1 while the segment's owner process runs")
    up.add_metric([engine], 1 if info["alive"] else 0)
    uptime = _gauge("tickpipe_engine_uptime_seconds", "Time since the engine started")
    if info["uptime_s"] is not None:
        uptime.add_metric([engine], info["uptime_s"])
    segment = _gauge("tickpipe_segment_info", "The segment's backing, page size and lock",
                     ("backing", "page_size", "locked"))
    segment.add_metric([engine, info["backing"], str(info["page_size"]), str(info["locked"]).lower()], 1)
    size = _gauge("tickpipe_segment_size_bytes", "Size of the shared-memory segment")
    size.add_metric([engine], info["size"])
    return [up, uptime, segment, size,
            _state_set("tickpipe_engine_state", "The supervisor's lifecycle state", engine,
                       ENGINE_STATE_NAMES.values(), info["state"])]


WORKER_COUNTERS = {
    "records": ("tickpipe_worker_records", "Records processed (published, for the feed)"),
    "published": ("tickpipe_worker_published_records", "Records published"),
    "errors": ("tickpipe_worker_errors", "Errors counted by the worker"),
    "restarts": ("tickpipe_worker_restarts", "Times the supervisor restarted the worker"),
    "sleeps": ("tickpipe_worker_sleeps",
               "Futex sleeps of the worker's wait strategy (the feed's include rate pacing)"),
}


def _worker_families(engine: str, workers: list[dict]) -> list:
    labels = ("role", "strategy", "core", "wait")  # strategy: its [[strategy]] name, or ""
    counters = {key: _counter(name, doc, labels) for key, (name, doc) in WORKER_COUNTERS.items()}
    up = _gauge("tickpipe_worker_up", "1 while the worker process runs", labels)
    heartbeat = _gauge("tickpipe_worker_heartbeat_age_seconds", "Time since the last heartbeat",
                       labels)
    idle = _gauge("tickpipe_worker_idle_share", "Share of loop passes without work over the "
                  "last 3 s of scrapes (at least since the previous one)", labels)
    for worker in workers:
        values = [engine, worker["role"], worker.get("strategy") or "", str(worker["core"]),
                  worker["wait"]]
        for key, family in counters.items():
            family.add_metric(values, worker[key])
        up.add_metric(values, 1 if worker["alive"] else 0)
        if worker["heartbeat_age_s"] is not None:
            heartbeat.add_metric(values, worker["heartbeat_age_s"])
        if worker["idle_share"] is not None:
            idle.add_metric(values, worker["idle_share"])
    return [*counters.values(), up, heartbeat, idle]


RING_FIGURES = {
    "head": (_counter, "tickpipe_ring_published_records", "Records published (the head index)"),
    "tail": (_counter, "tickpipe_ring_consumed_records", "Records consumed (the tail index)"),
    "full_waits": (_counter, "tickpipe_ring_full_waits", "Producer claims that found the ring full"),
    "occupancy": (_gauge, "tickpipe_ring_occupancy_records", "Records in flight (head - tail)"),
    "high_water": (_gauge, "tickpipe_ring_high_water_records", "Largest occupancy seen"),
    "capacity": (_gauge, "tickpipe_ring_capacity_records", "Ring capacity"),
}


def _ring_families(engine: str, rings: list[dict]) -> list:
    labels = ("ring", "producer", "consumer")
    families_by_key = {key: make(name, doc, labels) for key, (make, name, doc) in RING_FIGURES.items()}
    for ring in rings:
        values = [engine, ring["name"], ring["producer"], ring["consumer"]]
        for key, family in families_by_key.items():
            family.add_metric(values, ring[key])
    return list(families_by_key.values())


def _latency_families(engine: str, latency: dict, histograms: np.ndarray) -> list:
    histogram = HistogramMetricFamily("tickpipe_latency_seconds", "Per-hop latency over the run",
                                      labels=["engine", "hop"])
    quantiles = _gauge("tickpipe_latency_run_quantile_seconds",
                       "Per-hop latency percentiles over the whole run (bucket low edge; "
                       "1 = exact max)", ("hop", "quantile"))
    for index, hop in enumerate(HOPS):
        buckets = histograms[index]["buckets"].astype(np.int64)
        cumulative = np.cumsum(buckets)
        edges = [(f"{(1 << k) * NS:.9g}", float(_count_below(cumulative, 1 << k)))
                 for k in EDGE_EXPONENTS]
        edges.append(("+Inf", float(cumulative[-1])))
        histogram.add_metric([engine, hop], edges, float(histograms[index]["sum_ns"]) * NS)
        for key, quantile in QUANTILES.items():
            value = latency[hop]["run"][key]
            if value is not None:
                quantiles.add_metric([engine, hop, quantile], value * NS)
    return [histogram, quantiles]


def _count_below(cumulative: np.ndarray, edge_ns: int) -> int:
    """Values recorded below `edge_ns` (an edge of the segment's buckets)."""
    last = int(np.searchsorted(BUCKET_LOW_EDGES, edge_ns)) - 1  # the last bucket starting below it
    return int(cumulative[last]) if last >= 0 else 0


def _risk_families(engine: str, risk: dict) -> list:
    rejects = _counter("tickpipe_risk_rejects", "Orders pre-trade risk refused", ("reason",))
    for reason, count in risk["rejects"].items():
        rejects.add_metric([engine, reason], count)
    refused = _counter("tickpipe_strategy_refusals",
                       "Sends the strategy API refused (nothing sent), per strategy and code",
                       ("strategy", "reason"))
    for strategy, counts in risk.get("refused", {}).items():
        for reason, count in counts.items():
            refused.add_metric([engine, strategy, reason], count)
    totals = []
    for key, name, doc in (
            ("intents_read", "tickpipe_risk_intents", "Order intents risk has read"),
            ("orders_sent", "tickpipe_risk_orders_sent", "Orders risk let through"),
            ("exchange_rejects", "tickpipe_exchange_rejects", "Orders the venue rejected"),
            ("fills", "tickpipe_fills", "Fills and partial fills from the venue"),
            ("trading_state_changes", "tickpipe_trading_state_changes",
             "Times the trading state was set")):
        family = _counter(name, doc)
        family.add_metric([engine], risk[key])
        totals.append(family)
    position = _gauge("tickpipe_position_lots", "Position per symbol, lots", ("symbol",))
    pnl = _gauge("tickpipe_realised_pnl_price_units", "Realised PnL per symbol, price units x lots",
                 ("symbol",))
    money = {key: _gauge(name, doc, ("symbol", "currency")) for key, name, doc in (
        ("realised_pnl_ccy", "tickpipe_realised_pnl", "Realised PnL per symbol in its currency "
         "(lot size and multiplier applied)"),
        ("unrealised_pnl_ccy", "tickpipe_unrealised_pnl", "Unrealised PnL per symbol in its "
         "currency: position x the book's mid - the exact cost basis"),
        ("fees_ccy", "tickpipe_fees", "Fees paid per symbol in its currency ([risk] fee_bps)"))}
    orders = {key: _gauge(name, doc, ("symbol",)) for key, name, doc in (
        ("open_orders", "tickpipe_open_orders", "Orders risk passed that are not yet final"),
        ("venue_resting", "tickpipe_venue_resting_orders", "Orders working at the venue"))}
    for symbol, row in risk["positions"].items():
        position.add_metric([engine, symbol], row["position"])
        pnl.add_metric([engine, symbol], row["realised_pnl"])
        _add_money(money, row, [engine, symbol, row["currency"]])
        for key, family in orders.items():
            if row.get(key) is not None:
                family.add_metric([engine, symbol], row[key])
    trading = _state_set("tickpipe_trading_state", "The kill switch: ACTIVE, REDUCING or HALTED",
                         engine, TRADING_STATE_NAMES.values(), risk["trading_state"])
    return [rejects, refused, *totals, position, pnl, *money.values(), *orders.values(), trading]


def _add_money(families: dict, row: dict, labels: list) -> None:
    """One sample per money family ({row key: family}) the row has a value for."""
    for key, family in families.items():
        if row.get(key) is not None:
            family.add_metric(labels, row[key])


def _venue_families(engine: str, venue: dict | None) -> list:
    working = _gauge("tickpipe_venue_working_orders", "Orders working at the venue, all symbols")
    cancels = _counter("tickpipe_kill_switch_cancels",
                       "Orders the venue cancelled because trading was HALTED (or at the close)")
    if venue is not None:
        working.add_metric([engine], venue["working"])
        cancels.add_metric([engine], venue["kill_switch_cancels"])
    return [working, cancels]


VENUE_SESSION_STATES = ("up", "reconciling", "down", "stopped")


def venue_session_families(engine: str, session: dict | None) -> list:
    """A venue behind a session of its own ([venue] kind = "fix"): whether trading at it
    is open (its session up) or halted, and the session's state."""
    if session is None:
        return []
    up = _gauge("tickpipe_venue_session_up",
                "1 while the venue's session is up and trading at it open; 0: halted "
                "(down, or reconciling after a reconnect)", ("venue",))
    up.add_metric([engine, "fix"], 1 if session["state"] == "up" else 0)
    state = StateSetMetricFamily("tickpipe_venue_session_state", "The venue session's state",
                                 labels=["engine", "venue"])
    state.add_metric([engine, "fix"], {name: name == session["state"]
                                       for name in VENUE_SESSION_STATES})
    disconnects = _counter("tickpipe_venue_session_disconnects",
                           "Times the venue's session was lost", ("venue",))
    disconnects.add_metric([engine, "fix"], session["disconnects"])
    return [up, state, disconnects]


def bridge_families(engine: str, sent: dict | None, received: dict | None) -> list:
    """The bridges to and from other engines (docs/bridges.md): whether a peer is
    connected, records carried, and what did not arrive: dropped by the out bridge's
    drop-oldest, missing at the in bridge (gaps), received twice (duplicates, dropped);
    and what was repaired: asked for again by the in bridge, sent again by the out."""
    if sent is None and received is None:
        return []
    connected = _gauge("tickpipe_bridge_connected", "1 while a peer is connected",
                       ("direction",))
    records = _counter("tickpipe_bridge_records", "Records sent (out) or put on the ring (in)",
                       ("direction",))
    out = [connected, records]
    if sent is not None:
        connected.add_metric([engine, "out"], 1 if sent["connected"] else 0)
        records.add_metric([engine, "out"], sent["records"])
        peers = _gauge("tickpipe_bridge_peers", "In bridges the out bridge sends to (said "
                       "HELLO, not yet BYE)")
        peers.add_metric([engine], sent.get("peers", 0))
        out.append(peers)
        for key, name, doc in (
                ("dropped", "dropped_records", "Records the out bridge passed over (drop-oldest)"),
                ("resent", "resent_records", "Records the out bridge sent again (asked for "
                 "again, or to a new connection)")):
            family = _counter(f"tickpipe_bridge_{name}", doc)
            family.add_metric([engine], sent[key])
            out.append(family)
    if received is not None:
        connected.add_metric([engine, "in"], 1 if received["connected"] else 0)
        records.add_metric([engine, "in"], received["records"])
        for key, doc in (("gap_records", "Records the in bridge never received (gaps)"),
                         ("duplicates", "Records the in bridge received twice and dropped"),
                         ("resends", "Times the in bridge asked for records lost on the "
                          "way again")):
            family = _counter(f"tickpipe_bridge_{key}", doc)
            family.add_metric([engine], received[key])
            out.append(family)
    return out


def _strategy_families(engine: str, strategies: dict) -> list:
    """Per strategy and symbol: its position as risk keeps it, its orders, and its
    realised and unrealised PnL and fees in the symbol's currency; per strategy, its
    open orders by status."""
    position = _gauge("tickpipe_strategy_position_lots", "A strategy's position per symbol, lots",
                      ("strategy", "symbol"))
    orders = _counter("tickpipe_strategy_orders", "Orders risk let through for a strategy",
                      ("strategy", "symbol"))
    money = {key: _gauge(name, doc, ("strategy", "symbol", "currency")) for key, name, doc in (
        ("realised_pnl_ccy", "tickpipe_strategy_realised_pnl",
         "A strategy's realised PnL per symbol in its currency"),
        ("unrealised_pnl_ccy", "tickpipe_strategy_unrealised_pnl",
         "A strategy's unrealised PnL per symbol in its currency (its position at the mid)"),
        ("fees_ccy", "tickpipe_strategy_fees", "A strategy's fees per symbol in its currency"))}
    open_orders = _gauge("tickpipe_strategy_open_orders", "A strategy's orders not yet final, "
                         "by status", ("strategy", "status"))
    for name, strategy in strategies.items():
        for symbol, row in (strategy.get("positions") or {}).items():
            position.add_metric([engine, name, symbol], row["risk_position"])
            orders.add_metric([engine, name, symbol], row["orders_sent"])
            _add_money(money, row, [engine, name, symbol, row["currency"]])
        by_status: dict = {}
        for order in (strategy.get("orders") or {}).get("open", []):
            by_status[order["status"]] = by_status.get(order["status"], 0) + 1
        for status, n in by_status.items():
            open_orders.add_metric([engine, name, status], n)
    return [position, orders, *money.values(), open_orders]
