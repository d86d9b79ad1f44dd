"""A backtest's latency model: constants or samples of a recorded distribution, in ns,
as engine/backtest.py hands them to the kernels (engine/clock.py latency_sample draws
one per record), what the report says of them, and the latency file they come from."""

import numpy as np


class BacktestError(Exception):
    """A backtest that cannot run as configured; str() is one line."""


def latency_ns(samples) -> np.ndarray:
    """Latency samples in microseconds as int64 ns; BacktestError for a bad one."""
    try:
        values = np.array([float(v) for v in samples], dtype=np.float64)
    except (TypeError, ValueError):
        raise BacktestError(f"a latency must be a number of microseconds, got {samples!r}") \
            from None
    if len(values) == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise BacktestError("latencies must be finite and >= 0, at least one")
    return np.round(values * 1000).astype(np.int64)


def latency_model(samples: dict, file: str | None) -> dict:
    """What the report says of the latencies: a constant each, or a distribution's
    percentiles (us) and where it came from."""
    model = {"kind": "distribution" if file else "constant"}
    for name, values in samples.items():
        us = values / 1000
        model[f"{name}_us"] = float(us[0]) if len(us) == 1 else {
            "samples": len(us), "p50": float(np.percentile(us, 50)),
            "p99": float(np.percentile(us, 99)), "max": float(us.max())}
    if file:
        model["file"] = file
    return model


def read_latency_file(path: str) -> dict:
    """A recorded latency distribution: JSON {"market_data_us": [...], "order_entry_us":
    [...], "reports_us": [...]} (any of them; samples in microseconds), or a live run's
    `tickpipe run --json` report, whose hops' percentiles become a piecewise
    distribution (100 samples: 50 at p50, 40 at p90, 9 at p99, 1 at max; feed_to_strategy
    the market data's, strategy_to_risk + risk_to_gateway the order entry's,
    gateway_to_strategy the reports'). BacktestError (one line) when it does not parse."""
    import json
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as exc:
        raise BacktestError(f"latency file {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise BacktestError(f"latency file {path!r}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BacktestError(f"latency file {path!r}: expected a JSON object")
    if "hops_ns" in data:  # a live run's report
        hops = data["hops_ns"]

        def piecewise(*names):
            try:
                cells = [hops[name] for name in names]
                picks = [("p50", 50), ("p90", 40), ("p99", 9), ("max", 1)]
                return [sum(cell[key] or 0 for cell in cells) / 1000 for key, n in picks
                        for _ in range(n)]
            except (KeyError, TypeError):
                raise BacktestError(f"latency file {path!r}: a report without the hops "
                                    f"{', '.join(names)}") from None
        data = {"market_data_us": piecewise("feed_to_strategy"),
                "order_entry_us": piecewise("strategy_to_risk", "risk_to_gateway"),
                "reports_us": piecewise("gateway_to_strategy")}
    known = {"market_data_us", "order_entry_us", "reports_us"}
    unknown = sorted(set(data) - known)
    if unknown or not data:
        raise BacktestError(f"latency file {path!r}: keys must be among {', '.join(sorted(known))}"
                            + (f", not {', '.join(unknown)}" if unknown else ""))
    for key, values in data.items():
        if not isinstance(values, list):
            raise BacktestError(f"latency file {path!r}: {key} must be a list of microseconds")
        latency_ns(values)
    return {**data, "file": path}
