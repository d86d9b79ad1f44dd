"""Engine configuration: TOML in (stdlib tomllib), validated, with an embedded default.

The default needs no file and no external service: a synthetic feed, a
mean-reversion strategy, pre-trade risk and a gateway trading against the
built-in simulated exchange. `tickpipe run --print-config` prints it as TOML.

Every error is a ConfigError whose message names the field and the bad value.
"""

import math
import os
import tomllib
from dataclasses import dataclass

from engine.cpulist import CpuListError, expand_cpu_list
from engine.wait_codes import WAIT_CODES
from shm_layouts.control_block import TRADING_STATE_CODES
from shm_layouts.market_data import PRICE_SCALE
from shm_layouts.ring_header import MAX_CAPACITY, MIN_CAPACITY


class ConfigError(Exception):
    """A bad config value; the message is one line naming the field and the value."""


@dataclass(frozen=True)
class Field:
    kind: type          # int, float, str, bool or list
    default: object
    help: str
    minimum: float | None = None
    choices: tuple | None = None
    power_of_two: bool = False


SCHEMA: dict[str, dict[str, Field]] = {
    "engine": {
        "name": Field(str, "tickpipe", "segment name: a-z, 0-9, '-', '_'"),
        "seconds": Field(float, 10.0, "run time; 0 runs until Ctrl-C", minimum=0),
        "rate": Field(int, 100_000, "ticks/s offered by the feed; 0 = as fast as the rings take them",
                      minimum=0),
        "cores": Field(list, [], "cores for feed, strategy, risk, gateway; empty = automatic"),
        "wait": Field(str, "auto", "wait strategy; auto = spin only for a worker that owns a core",
                      choices=("auto",) + tuple(WAIT_CODES)),
        "ring_capacity": Field(int, 1 << 16, "records per ring (a power of two)",
                               minimum=MIN_CAPACITY, power_of_two=True),
        "lock_memory": Field(bool, False, "mlockall in each worker after warm-up; mlock the segment"),
        "sched_fifo": Field(bool, False, "SCHED_FIFO for busy-spinning workers on cores of their own"),
        "cpu_dma_latency": Field(bool, False, "hold /dev/cpu_dma_latency at 0 while running"),
        "use_hugetlbfs": Field(bool, True, "back the segment by hugetlbfs when pages are reserved"),
        "restart": Field(str, "one", "on a worker's death: restart it ('one') or stop all",
                         choices=("one", "fail-fast")),
        "max_restarts": Field(int, 3, "restart intensity: at most this many restarts ...", minimum=0),
        "restart_window_s": Field(float, 5.0, "... within this many seconds", minimum=0.001),
        "heartbeat_timeout_s": Field(float, 5.0, "a worker silent this long counts as dead",
                                     minimum=0.1),
        "ready_timeout_s": Field(float, 120.0, "start barrier: time for every worker to warm up",
                                 minimum=1),
        "drain_timeout_s": Field(float, 10.0, "time to drain the rings at stop", minimum=0.1),
    },
    "feed": {
        "symbols": Field(int, 8, "number of synthetic symbols", minimum=1),
        "start_px": Field(int, 100 * PRICE_SCALE, "first mid, price units", minimum=1),
        "tick_size": Field(int, PRICE_SCALE // 100, "price increment, price units", minimum=1),
        "spread_ticks": Field(int, 1, "quoted spread, ticks", minimum=1),
        "max_qty": Field(int, 500, "largest quoted size, lots", minimum=1),
        "trade_every": Field(int, 10, "one trade event every N ticks; 0 = none", minimum=0),
        "seed": Field(int, 42, "random seed", minimum=0),
    },
    "strategy": {
        "window": Field(int, 64, "rolling window of mids, ticks", minimum=2),
        "entry_z": Field(float, 2.0, "z-score that triggers an order", minimum=0.0),
        "order_qty": Field(int, 10, "lots per order", minimum=1),
        "max_position": Field(int, 100, "the strategy stops adding past this, lots", minimum=0),
    },
    "risk": {
        "trading_state": Field(str, "ACTIVE", "initial trading state",
                               choices=tuple(TRADING_STATE_CODES)),
        "max_order_qty": Field(int, 100, "largest order, lots", minimum=1),
        "max_notional": Field(int, 100_000 * PRICE_SCALE, "largest qty x price, price units",
                              minimum=1),
        "price_band_bps": Field(int, 500, "fat finger: limit within this of the mid, bps",
                                minimum=0),
        "max_position": Field(int, 200, "largest absolute position incl. open orders, lots",
                              minimum=0),
        "max_orders_per_s": Field(int, 50_000, "orders per rolling second", minimum=1),
    },
    "gateway": {
        "reject_every": Field(int, 0, "simulated exchange rejects every Nth order; 0 = none",
                              minimum=0),
    },
}


def default_config() -> dict:
    return {section: {key: _copy(f.default) for key, f in fields.items()}
            for section, fields in SCHEMA.items()}


def _copy(value):
    return list(value) if isinstance(value, list) else value


def load_config(path: str | None = None, overrides: dict | None = None) -> dict:
    """The default, then the TOML file at `path`, then `overrides` {section: {key: value}}."""
    config = default_config()
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"config file {path!r} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {path!r}: {exc.strerror}") from None
        _merge(config, data)
    if overrides:
        _merge(config, overrides)
    validate(config)
    return config


def _merge(config: dict, data: dict) -> None:
    for section, values in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"unknown config section [{section}] "
                              f"(sections: {', '.join(SCHEMA)})")
        if not isinstance(values, dict):
            raise ConfigError(f"config [{section}] must be a table, got {values!r}")
        for key, value in values.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"unknown config key [{section}] {key} = {value!r} "
                                  f"(keys: {', '.join(SCHEMA[section])})")
            config[section][key] = value


def validate(config: dict) -> None:
    for section, fields in SCHEMA.items():
        for key, spec in fields.items():
            value = config[section][key]
            where = f"[{section}] {key} = {value!r}"
            if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = config[section][key] = float(value)
            if spec.kind is not bool and isinstance(value, bool) or not isinstance(value, spec.kind):
                raise ConfigError(f"config {where}: expected {spec.kind.__name__}")
            if spec.kind is float and not math.isfinite(value):
                raise ConfigError(f"config {where}: must be a finite number")
            if spec.minimum is not None and value < spec.minimum:
                raise ConfigError(f"config {where}: must be >= {spec.minimum}")
            if spec.choices is not None and value not in spec.choices:
                raise ConfigError(f"config {where}: must be one of {', '.join(spec.choices)}")
            if spec.power_of_two and (value & (value - 1) or value > MAX_CAPACITY):
                raise ConfigError(f"config {where}: must be a power of two <= {MAX_CAPACITY}")
    _validate_cores(config["engine"]["cores"])
    from engine.segment import SegmentError, check_engine_name
    try:
        check_engine_name(config["engine"]["name"])
    except SegmentError as exc:
        raise ConfigError(f"config [engine] name: {exc}") from None


def _validate_cores(cores: list) -> None:
    allowed = os.sched_getaffinity(0)
    where = f"[engine] cores = {cores!r}"
    if len(cores) > 4:
        raise ConfigError(f"config {where}: give 1 to 4 cores (feed, strategy, risk, gateway)")
    for core in cores:
        if not isinstance(core, int) or isinstance(core, bool):
            raise ConfigError(f"config {where}: core {core!r} is not a core number")
        if core not in allowed:
            raise ConfigError(f"config {where}: core {core} does not exist or is not allowed "
                              f"(usable: {','.join(map(str, sorted(allowed)))})")


def parse_core_list(text: str) -> list[int]:
    """'5,1-2' -> [5, 1, 2], in the order given (one core per role); ConfigError otherwise."""
    try:
        return expand_cpu_list(text)
    except CpuListError as exc:
        raise ConfigError(f"--cores {text!r}: {exc.detail}; expected a list like 0,1 or 0-3") \
            from None


def to_toml(config: dict) -> str:
    """The config as TOML, each key with its one-line help as a comment."""
    lines = ["# tickpipe engine config (the effective values); edit and pass to `tickpipe run FILE`"]
    for section, fields in SCHEMA.items():
        lines.append(f"\n[{section}]")
        for key, spec in fields.items():
            lines.append(f"{key} = {_toml_value(config[section][key])}  # {spec.help}")
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
