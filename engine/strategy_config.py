"""The config's lists: `[[instrument]]` and `[[strategy]]` tables.

    [[instrument]]                     the engine's instruments, by name (default:
    name = "ESZ6"                      [feed] symbols synthetic ones, SYM0, SYM1, ...)
    tick_size = 2500                   price units (PRICE_SCALE per currency unit)
    lot_size = 1                       units of the instrument per lot
    multiplier = 50.0                  currency per unit of price per unit
    currency = "USD"

    [[strategy]]                       one per strategy (default: the mean reversion)
    name = "momo"                      shown by inspect and the report
    path = "my_strategy.py"            or module = "pkg.mod"; a path is relative to
                                       the config file
    params = { window = 32 }           over the module's PARAMS defaults
    symbols = ["ESZ6"]                 instrument names it trades (default: all)
    timer_ms = 100                     on_timer's interval (default: the module's TIMER_MS)
    max_position = 50                  risk's limit for this strategy alone, lots (default:
                                       [risk] max_position, which also holds for all together)
    on_error = "skip"                  a callback that raises again on the same record after
                                       its restart: "stop" the engine (default), "retire"
                                       the strategy (no more callbacks; the others trade on)
                                       or "skip" the record (counted; engine/on_error.py)

An old-style `[strategy]` table sets the params of the default mean reversion.
Every error is a ConfigError of one line naming the table and the field.
"""

import re

from tickpipe.shm_layouts.instrument import MAX_CURRENCY_BYTES, MAX_NAME_BYTES
from tickpipe.shm_layouts.strategy_table import MAX_STRATEGIES  # a process and 3 rings each

DEFAULT_STRATEGY_MODULE = "tickpipe.workers.strategies.mean_reversion"
STRATEGY_KEYS = ("name", "module", "path", "params", "symbols", "timer_ms", "max_position",
                 "on_error")
ON_ERROR_MODES = ("stop", "retire", "skip")
DEFAULT_ON_ERROR = "stop"
# risk's limits for one instrument, overriding [risk]'s (lots, or orders)
INSTRUMENT_LIMITS = ("max_position", "max_order_qty", "max_open_orders")
INSTRUMENT_KEYS = ("name", "tick_size", "lot_size", "multiplier", "currency") + INSTRUMENT_LIMITS
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


def default_strategies() -> list[dict]:
    return [{"name": "mean_reversion", "module": DEFAULT_STRATEGY_MODULE,
             "on_error": DEFAULT_ON_ERROR}]


def synthetic_instruments(n: int, tick_size: int) -> list[dict]:
    return [{"name": f"SYM{i}", "tick_size": tick_size, "lot_size": 1, "multiplier": 1.0,
             "currency": "USD"} for i in range(n)]


def strategies_from(data, error) -> list[dict]:
    """The [[strategy]] tables of a TOML document (a list), or an old [strategy] table."""
    if isinstance(data, dict):  # the old form: params of the default strategy
        return [{"name": "mean_reversion", "module": DEFAULT_STRATEGY_MODULE,
                 "params": dict(data), "on_error": DEFAULT_ON_ERROR}]
    if not isinstance(data, list) or not data:
        raise error(f"config strategy = {data!r}: expected [[strategy]] tables")
    strategies = []
    for index, table in enumerate(data):
        if not isinstance(table, dict):
            raise error(f"config [[strategy]] #{index + 1} is not a table: {table!r}")
        name = table.get("name")
        label = f"strategy {name!r}" if isinstance(name, str) else f"[[strategy]] #{index + 1}"
        for key in table:
            if key not in STRATEGY_KEYS:
                raise error(f"config {label}: unknown key {key} = {table[key]!r} "
                            f"(keys: {', '.join(STRATEGY_KEYS)})")
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 31:
            raise error(f"config {label}: name = {name!r}: give a name of letters, digits, "
                        f"'_', '-', '.' (at most 31)")
        strategies.append(dict(table))
    names = [s["name"] for s in strategies]
    for name in names:
        if names.count(name) > 1:
            raise error(f"config strategy {name!r}: two [[strategy]] tables have this name")
    if len(strategies) > MAX_STRATEGIES:
        raise error(f"config: {len(strategies)} [[strategy]] tables; at most {MAX_STRATEGIES} "
                    f"(a process and three rings each)")
    for strategy in strategies:
        limit = strategy.get("max_position")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or not 0 <= limit <= 10 ** 12):
            raise error(f"config strategy {strategy['name']!r}: max_position = {limit!r}: "
                        f"expected lots from 0 to {10 ** 12}")
        on_error = strategy.setdefault("on_error", DEFAULT_ON_ERROR)
        if on_error not in ON_ERROR_MODES:
            raise error(f"config strategy {strategy['name']!r}: on_error = {on_error!r}: "
                        f"expected \"stop\", \"retire\" or \"skip\"")
    return strategies


def instruments_from(data, error) -> list[dict]:
    if not isinstance(data, list) or not data:
        raise error(f"config instrument = {data!r}: expected [[instrument]] tables")
    instruments = []
    for index, table in enumerate(data):
        if not isinstance(table, dict):
            raise error(f"config [[instrument]] #{index + 1} is not a table: {table!r}")
        name = table.get("name")
        label = f"instrument {name!r}" if isinstance(name, str) else \
            f"[[instrument]] #{index + 1}"
        for key in table:
            if key not in INSTRUMENT_KEYS:
                raise error(f"config {label}: unknown key {key} = {table[key]!r} "
                            f"(keys: {', '.join(INSTRUMENT_KEYS)})")
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or \
                len(name.encode()) > MAX_NAME_BYTES:
            raise error(f"config {label}: name = {name!r}: give a name of letters, digits, "
                        f"'_', '-', '.' (at most {MAX_NAME_BYTES})")
        instrument = {"name": name, "tick_size": table.get("tick_size"),
                      "lot_size": table.get("lot_size", 1),
                      "multiplier": table.get("multiplier", 1.0),
                      "currency": table.get("currency", "USD")}
        for key in ("tick_size", "lot_size"):
            value = instrument[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10 ** 11:
                raise error(f"config {label}: {key} = {value!r}: expected an int from 1 to "
                            f"{10 ** 11}")
        multiplier = instrument["multiplier"]
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or \
                not 0 < multiplier <= 1e9:
            raise error(f"config {label}: multiplier = {multiplier!r}: expected a number > 0")
        instrument["multiplier"] = float(multiplier)
        for key in INSTRUMENT_LIMITS:
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int) or \
                        not 0 <= value <= 10 ** 12:
                    raise error(f"config {label}: {key} = {value!r}: expected an int from 0 to "
                                f"{10 ** 12} (it overrides [risk] {key} for this instrument)")
                instrument[key] = value
        currency = instrument["currency"]
        if not isinstance(currency, str) or not currency.isalnum() or \
                len(currency.encode()) > MAX_CURRENCY_BYTES:
            raise error(f"config {label}: currency = {currency!r}: expected a code like \"USD\"")
        instruments.append(instrument)
    names = [i["name"] for i in instruments]
    for name in names:
        if names.count(name) > 1:
            raise error(f"config instrument {name!r}: two [[instrument]] tables have this name")
    return instruments


def check_subscriptions(strategies: list[dict], instruments: list[dict], error) -> None:
    """Every strategy's `symbols` names instruments the feed has."""
    known = [i["name"] for i in instruments]
    for strategy in strategies:
        symbols = strategy.get("symbols")
        if symbols is None:
            continue
        if not isinstance(symbols, list) or not symbols or \
                not all(isinstance(s, str) for s in symbols):
            raise error(f"config strategy {strategy['name']!r}: symbols = {symbols!r}: expected "
                        f"a list of instrument names")
        for symbol in symbols:
            if symbol not in known:
                shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
                raise error(f"config strategy {strategy['name']!r}: symbols: {symbol!r} is not "
                            f"an instrument of the feed ({shown})")


def symbol_ids(strategy: dict, instruments: list[dict]) -> list[int]:
    names = [i["name"] for i in instruments]
    symbols = strategy.get("symbols")
    return list(range(len(names))) if symbols is None else [names.index(s) for s in symbols]
