"""Engine configuration: TOML in (stdlib tomllib), validated, with an embedded default.

The default needs no file and no external service: a synthetic feed, a
mean-reversion strategy, pre-trade risk and a gateway trading against the
built-in simulated exchange. `tickpipe run --print-config` prints it as TOML.

Every error is a ConfigError whose message names the field and the bad value.
"""

import math
import os
import tomllib

from tickpipe.engine.config_field import Field
from tickpipe.engine.cpulist import CpuListError, expand_cpu_list
from tickpipe.engine.strategy_config import (
    check_subscriptions, default_strategies, instruments_from, strategies_from, symbol_ids,
    synthetic_instruments,
)
from tickpipe.engine.wait_codes import DEFAULT_SPIN_LIMIT, DEFAULT_YIELD_LIMIT, WAIT_CODES
from tickpipe.shm_layouts.control_block import TRADING_STATE_CODES
from tickpipe.shm_layouts.market_data import MAX_DEPTH_LEVELS, PRICE_SCALE
from tickpipe.shm_layouts.ring_header import MAX_CAPACITY

# [engine] ring_capacity has no fixed minimum here: the smallest safe one is computed
# from what one record may need at once (engine/sizing.py smallest_ring_capacity, with
# the argument), and _validate_ring_capacity names it.


from tickpipe.engine.config_bounds import (  # noqa: F401  (re-exported: callers import them here)
    MAX_BACKOFF_PASSES, MAX_BAND_BPS, MAX_EVERY, MAX_NOTIONAL, MAX_NOTIONAL_CCY, MAX_ORDERS_PER_S,
    MAX_POSITION, MAX_PRICE, MAX_QTY, MAX_RATE, MAX_SEED, MAX_STATE_SECTION_BYTES, MAX_SYMBOLS,
)


class ConfigError(Exception):
    """A bad config value; the message is one line naming the field and the value.

    For one field's own check, `field` is (section, key) and `reason` what is wrong
    with its value, so a caller that set the field from an option can name the option.
    """

    def __init__(self, message: str, field: tuple[str, str] | None = None, reason: str = ""):
        super().__init__(message)
        self.field, self.reason = field, reason


SCHEMA: dict[str, dict[str, Field]] = {
    "engine": {
        "name": Field(str, "tickpipe", "segment name: a-z, 0-9, '-', '_'"),
        "seconds": Field(float, 10.0, "run time; 0 runs until Ctrl-C", minimum=0),
        "rate": Field(int, 100_000, "ticks/s offered by the feed; 0 = as fast as the rings take them",
                      minimum=0, maximum=MAX_RATE),
        "cores": Field(list, [], "cores for feed, strategy, risk, gateway; empty = automatic"),
        "wait": Field(str, "auto", "wait strategy; auto = spin only for a worker that owns a core",
                      choices=("auto",) + tuple(WAIT_CODES)),
        "backoff_spin": Field(int, DEFAULT_SPIN_LIMIT, "wait = backoff: idle passes spent "
                              "spinning before yielding", minimum=0, maximum=MAX_BACKOFF_PASSES),
        "backoff_yield": Field(int, DEFAULT_YIELD_LIMIT, "wait = backoff: idle passes spent "
                               "yielding before sleeping", minimum=0, maximum=MAX_BACKOFF_PASSES),
        "ring_capacity": Field(int, 1 << 16, "records per ring (a power of two)",
                               power_of_two=True),  # its minimum: _validate_ring_capacity
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
        "ready_timeout_s": Field(float, 600.0, "start barrier: time for every worker to warm "
                                 "up (a first run after an install compiles the engine's loops: "
                                 "minutes on a busy 2-core machine)", minimum=1),
        "drain_timeout_s": Field(float, 10.0, "time to drain the rings at stop", minimum=0.1),
        "inline_callbacks": Field(bool, True, "after a strategy's first start, compile a runner "
                                  "with its callbacks inlined in the background (idle "
                                  "priority), used from its next start: ~3 ns less per callback"),
    },
}


# Each role's config sections (engine/role.py): [feed], [risk], [gateway], [venue],
# [journal], ...
from tickpipe.engine.registry import ROLE_ERRORS, ROLES  # noqa: E402  (after SCHEMA, which it extends)

for _role in ROLES.values():
    for _section, _fields in ([(_role.name, _role.config)] if _role.config else []) + \
            list(_role.sections.items()):
        if _section in SCHEMA or _section in ("strategy", "instrument"):
            # a role of one's own may not take a section another has (TICKPIPE_ROLES)
            ROLE_ERRORS.append(f"role {_role.name}: config section [{_section}] is another's")
            continue
        SCHEMA[_section] = dict(_fields)


def default_config() -> dict:
    """The embedded default: the SCHEMA's sections, the default strategy, and (filled in
    by validate) synthetic instruments."""
    config = {section: {key: _copy(f.default) for key, f in fields.items()}
              for section, fields in SCHEMA.items()}
    config["strategies"] = default_strategies()
    config["instruments"] = None  # [[instrument]] tables, else [feed] symbols synthetic ones
    config["tape"] = None  # source = "file": the data file's tape (validate: _prepare_data_file)
    config["journal_run"] = None  # [journal] dir: this run's folder (the supervisor's start)
    return config


def _copy(value):
    return list(value) if isinstance(value, list) else value


def load_config(path: str | None = None, overrides: dict | None = None) -> dict:
    """The default, then the TOML file at `path`, then `overrides` {section: {key: value}}."""
    if ROLE_ERRORS:  # a role TICKPIPE_ROLES names could not be taken (engine/registry.py)
        raise ConfigError(ROLE_ERRORS[0])
    config = default_config()
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"config file {path!r} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:  # TOML is UTF-8; tomllib decodes before it parses
            raise ConfigError(f"config file {path!r} is not valid TOML: not UTF-8 "
                              f"({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise ConfigError(f"config file {path!r}: {exc.strerror}") from None
        _merge(config, data, os.path.dirname(os.path.abspath(path)))
    if overrides:
        _merge(config, overrides, os.getcwd())
    validate(config)
    return config


def _merge(config: dict, data: dict, base_dir: str) -> None:
    for section, values in data.items():
        if section == "strategy":  # [[strategy]] tables (or an old [strategy] table)
            config["strategies"] = strategies_from(values, ConfigError)
            for entry in config["strategies"]:
                if isinstance(entry.get("path"), str):  # relative to the config file
                    entry["path"] = os.path.join(base_dir, os.path.expanduser(entry["path"]))
            continue
        if section == "instrument":
            config["instruments"] = instruments_from(values, ConfigError)
            continue
        if section == "bridge":  # [[bridge]] tables: each its direction's role section
            _merge(config, _bridge_sections(values), base_dir)
            continue
        if section not in SCHEMA:
            raise ConfigError(f"unknown config section [{section}] "
                              f"(sections: {', '.join(SCHEMA)})")
        if not isinstance(values, dict):
            raise ConfigError(f"config [{section}] must be a table, got {values!r}")
        for key, value in values.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"unknown config key {_label(section)} {key} = {value!r} "
                                  f"(keys: {', '.join(SCHEMA[section])})")
            config[section][key] = value
            if SCHEMA[section][key].path and isinstance(value, str) and value:
                config[section][key] = _relative_to(base_dir, value, SCHEMA[section][key].path)


BRIDGE_ROLES = {"out": "bridge_out", "in": "bridge_in"}  # workers/bridge_out/, bridge_in/


def _label(section: str) -> str:
    """A section as a config file writes it: [risk]; a bridge's as its [[bridge]] table."""
    for direction, role in BRIDGE_ROLES.items():
        if section == role:
            return f"[[bridge]] direction = {direction!r}:"
    return f"[{section}]"


def _bridge_sections(values) -> dict:
    """[[bridge]] tables as the sections of the roles that run them: direction = "out"
    is [bridge_out], "in" is [bridge_in]; one of each per engine."""
    tables = values if isinstance(values, list) else [values]
    sections: dict[str, dict] = {}
    for table in tables:
        if not isinstance(table, dict):
            raise ConfigError(f"config [[bridge]] must be tables, got {table!r}")
        direction = table.get("direction")
        if direction not in BRIDGE_ROLES:
            raise ConfigError(f"config [[bridge]] direction = {direction!r}: must be 'out' (this "
                              f"engine's ring to another engine) or 'in' (another engine's "
                              f"ring into this one's feed)")
        role = BRIDGE_ROLES[direction]
        if role in sections:
            raise ConfigError(f"config [[bridge]]: two tables with direction = {direction!r}; "
                              f"an engine runs one bridge each way")
        sections[role] = {key: value for key, value in table.items() if key != "direction"}
    return sections


def _relative_to(base_dir: str, value: str, kind: str) -> str:
    """A path in a config file is relative to that file ("file"); so is the file of a
    "file.py:Name" reference ("reference"), while "module:Name" and a bare name stay."""
    if kind == "reference":
        where, colon, name = value.rpartition(":")
        if not (colon and where.endswith(".py")):
            return value
        return os.path.join(base_dir, os.path.expanduser(where)) + ":" + name
    return os.path.join(base_dir, os.path.expanduser(value))


def validate(config: dict) -> None:
    for section, fields in SCHEMA.items():
        for key, spec in fields.items():
            value = config[section][key]
            if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = config[section][key] = float(value)
            reason = _field_problem(spec, value)
            if reason:
                raise ConfigError(f"config {_label(section)} {key} = {value!r}: {reason}",
                                  field=(section, key), reason=reason)
    _validate_ring_capacity(config["engine"]["ring_capacity"])
    _prepare_data_file(config)
    _validate_instruments(config)
    _validate_products(config)
    _validate_cores(config["engine"]["cores"])
    _validate_strategies(config)
    _validate_topology(config)
    from tickpipe.engine.segment import SegmentError, check_engine_name
    try:
        check_engine_name(config["engine"]["name"])
    except SegmentError as exc:
        raise ConfigError(f"config [engine] name: {exc}", field=("engine", "name"),
                          reason=str(exc)) from None


def _validate_topology(config: dict) -> None:
    """The roles' declarations, as this config runs them (engine/role.py): no role with
    more workers than rows, and each worker's input slots 0..n-1, one ring each (its
    commit log keeps their positions in that order)."""
    from tickpipe.engine.engine_layout import engine_rings, engine_workers, inputs_of
    for role in ROLES.values():
        if role.enabled(config) and role.instances(config) > len(role.rows):
            raise ConfigError(f"role {role.name}: {role.instances(config)} workers asked for, "
                              f"{len(role.rows)} rows declared")
    rings = engine_rings(config)
    for worker in engine_workers(config):
        slots = [spec.input_index for spec in inputs_of(worker, rings)]
        if slots != list(range(len(slots))):
            raise ConfigError(f"role declarations: {worker}'s input slots are {slots}, not "
                              f"0..{len(slots) - 1} (engine/role.py RoleRing input_index)")


def _prepare_data_file(config: dict) -> None:
    """source = 'file': the file read into a tape (workers/feed/sources/tape.py), the
    instruments from it when the config names none; config['tape'] says where it is."""
    feed = config["feed"]
    config["tape"] = None
    if feed["source"] != "file":
        return
    if not feed["file"]:
        raise ConfigError("config [feed] source = 'file' and no [feed] file (or use "
                          "`tickpipe run --data FILE`)", field=("feed", "file"),
                          reason="missing")
    from tickpipe.workers.feed.sources import FORMATS
    from tickpipe.workers.feed.sources.tape import TapeError, prepare
    if not instruments_given(config):
        _side_file_instruments(config)
    try:
        prepare(config, FORMATS, instruments_given(config),
                lambda tables: instruments_from(tables, ConfigError))
    except TapeError as exc:
        raise ConfigError(str(exc), field=("feed", "file"), reason=str(exc)) from None


SIDE_FILE_SUFFIX = ".instruments.toml"


def _side_file_instruments(config: dict) -> None:
    """A data file's side file, <file>.instruments.toml, holds [[instrument]] tables for
    data that names its symbols but not their lot size, multiplier or currency (CSV,
    hftbacktest): with no tables in the config, they are the instruments, and the data
    is checked against them as against the config's."""
    path = config["feed"]["file"].rstrip("/") + SIDE_FILE_SUFFIX
    if not os.path.isfile(path):
        return
    try:
        with open(path, "rb") as f:
            tables = tomllib.load(f).get("instrument")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"instruments file {path!r}: {exc}") from None

    def error(message):
        return ConfigError(f"instruments file {path!r}: {message.removeprefix('config ')}")
    config["instruments"] = instruments_from(tables, error)
    config["feed"]["symbols"] = len(config["instruments"])


def _field_problem(spec: Field, value) -> str | None:
    """What is wrong with one field's value, or None."""
    if spec.kind is not bool and isinstance(value, bool) or not isinstance(value, spec.kind):
        return f"expected {spec.kind.__name__}"
    if spec.kind is float and not math.isfinite(value):
        return "must be a finite number"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be >= {spec.minimum}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be <= {spec.maximum}"
    if spec.choices is not None and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}"
    if spec.power_of_two and (value & (value - 1) or value > MAX_CAPACITY):
        return f"must be a power of two <= {MAX_CAPACITY}"
    return None


def _validate_ring_capacity(capacity: int) -> None:
    """A ring too small for what one record may write at once would wait for room for
    good: refuse it, naming the smallest safe size and the need that sets it."""
    from tickpipe.engine.sizing import smallest_ring_capacity
    smallest, why = smallest_ring_capacity()
    if capacity < smallest:
        reason = f"is too small: {why}; needs at least {smallest}"
        raise ConfigError(f"config [engine] ring_capacity = {capacity} {reason}",
                          field=("engine", "ring_capacity"), reason=reason)


def _validate_products(config: dict) -> None:
    """Bounds on two fields together: each alone is in range, their product may not be."""
    feed = config["feed"]
    tick = max(i["tick_size"] for i in config["instruments"])
    half_spread = feed["spread_ticks"] * tick
    if half_spread > MAX_PRICE:  # the feed quotes mid +- this
        raise ConfigError(f"config [feed] spread_ticks = {feed['spread_ticks']!r}: spread_ticks x "
                          f"tick_size = {half_spread} must be <= {MAX_PRICE}")
    check_money_bounds(config)


# A book's cost basis is at most max_position x the highest price (MAX_PRICE), its
# realised P&L and cash move by as much per round trip: a quarter of int64 leaves them
# room for a flip and for cash over many turns of the position (workers/positions.py).
MONEY_BOUND = (2 ** 63 - 1) // 4


def check_money_bounds(config: dict) -> None:
    """Refuse limits whose money figures could overflow int64, with the figure."""
    for instrument in config["instruments"]:
        limit = instrument.get("max_position", config["risk"]["max_position"])
        worst = limit * MAX_PRICE
        if worst > MONEY_BOUND:
            where = (f"[[instrument]] {instrument['name']} max_position"
                     if "max_position" in instrument else "[risk] max_position")
            raise ConfigError(
                f"config {where} = {limit:,}: a position that large at the highest price "
                f"({MAX_PRICE:,} price units) costs {worst:,} price units x lots, past what "
                f"exact int64 books hold ({MONEY_BOUND:,}); at most {MONEY_BOUND // MAX_PRICE:,} lots",
                field=("risk", "max_position"), reason="overflows int64 money")


def _validate_instruments(config: dict) -> None:
    """[[instrument]] tables set [feed] symbols; without them, synthetic SYM0, SYM1, ..."""
    feed = config["feed"]
    if not instruments_given(config):  # (again: [feed] symbols may have changed since)
        config["instruments"] = synthetic_instruments(feed["symbols"], feed["tick_size"])
        return
    count = len(config["instruments"])
    if count > MAX_SYMBOLS:
        raise ConfigError(f"config: {count} [[instrument]] tables; at most {MAX_SYMBOLS}")
    feed["symbols"] = count


def instruments_given(config: dict) -> bool:
    """Whether the instruments are the user's, not the synthetic default ones."""
    instruments = config.get("instruments")
    return instruments is not None and instruments != synthetic_instruments(
        len(instruments), config["feed"]["tick_size"])


def _validate_strategies(config: dict) -> None:
    """Each strategy's module imports, declares what it must, and takes its params;
    the state of all its symbols fits (one line naming the strategy otherwise)."""
    from tickpipe.engine.plugin import StrategyError, load_plugin
    check_subscriptions(config["strategies"], config["instruments"], ConfigError)
    for entry in config["strategies"]:
        try:
            plugin = load_plugin(entry)
        except StrategyError as exc:
            raise ConfigError(f"config {exc}") from None
        entry["params"] = dict(plugin.params)
        entry["timer_ms"] = plugin.timer_ms
        entry["symbols"] = [config["instruments"][i]["name"]
                            for i in symbol_ids(entry, config["instruments"])]
        entry["state_row_size"] = plugin.state_dtype.itemsize
        cells = plugin.state_dtype.itemsize * config["feed"]["symbols"]
        if cells > MAX_STATE_SECTION_BYTES:
            raise ConfigError(f"config strategy {entry['name']!r}: its state is "
                              f"{plugin.state_dtype.itemsize} B x {config['feed']['symbols']} "
                              f"symbols = {cells} B; at most {MAX_STATE_SECTION_BYTES}")


def _validate_cores(cores: list) -> None:
    reason = _cores_problem(cores)
    if reason:
        raise ConfigError(f"config [engine] cores = {cores!r}: {reason}", field=("engine", "cores"),
                          reason=reason)


def _cores_problem(cores: list) -> str | None:
    allowed = os.sched_getaffinity(0)
    if len(cores) > 7:
        return "give 1 to 7 cores (feed, strategy, risk, gateway, then strategy2, 3, 4)"
    for core in cores:
        if not isinstance(core, int) or isinstance(core, bool):
            return f"core {core!r} is not a core number"
        if core not in allowed:
            return (f"core {core} does not exist or is not allowed "
                    f"(usable: {','.join(map(str, sorted(allowed)))})")
    return None


def notional_limits(config: dict):
    """[risk] max_notional (currency) as each symbol's limit on qty x price (price units x
    lots, what risk compares), from its lot size and multiplier; int64 per symbol."""
    import numpy as np
    limits = [config["risk"]["max_notional"] * PRICE_SCALE / (i["lot_size"] * i["multiplier"])
              for i in config["instruments"]]
    return np.clip(np.floor(limits), 1, MAX_NOTIONAL).astype(np.int64)


def symbol_limits(config: dict, key: str):
    """[risk] `key` per symbol, overridden by an [[instrument]]'s own `key`; int64."""
    import numpy as np
    return np.array([i.get(key, config["risk"][key]) for i in config["instruments"]],
                    dtype=np.int64)


def currency_per_unit(config: dict):
    """Currency per (price unit x lot) of each symbol: lot_size x multiplier / PRICE_SCALE,
    what turns risk's P&L and exposure into the currency its limits are in. float64."""
    import numpy as np
    return np.array([i["lot_size"] * i["multiplier"] / PRICE_SCALE
                     for i in config["instruments"]], dtype=np.float64)


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
    if instruments_given(config):
        for instrument in config["instruments"]:
            lines.append("\n[[instrument]]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in instrument.items()]
    for entry in config["strategies"]:
        lines.append("\n[[strategy]]")
        for key in ("name", "module", "path", "symbols", "timer_ms", "on_error"):
            if key in entry:
                lines.append(f"{key} = {_toml_value(entry[key])}")
        params = ", ".join(f"{k} = {_toml_value(v)}" for k, v in entry.get("params", {}).items())
        lines.append(f"params = {{ {params} }}")
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
