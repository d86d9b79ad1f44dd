"""Strategy plug-ins: load a strategy module and check what it declares.

A strategy module (a file of the user's, or an importable module) declares:

    PARAMS = {"window": 64, "entry_z": 2.0}   parameters and their defaults; the
                                               default's type (int, float, bool)
                                               is the parameter's type
    STATE = np.dtype([...])                    per-symbol state, plain numeric
                                               fields (or a function of the params
                                               that returns one: state_dtype(params))
    TIMER_MS = 100                             optional: on_timer's default interval
    def check_params(params) -> str | None     optional: why these params cannot run
    on_quote / on_trade / on_fill / on_timer   its callbacks, at least one; plain
                                               functions are jitted here

Everything here runs in the launcher before any process starts; every problem is
a StrategyError whose message is one line naming the strategy and the field.
"""

import difflib
import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass

import numpy as np

CALLBACKS = ("on_quote", "on_trade", "on_fill", "on_timer")
PARAM_TYPES = {bool: np.bool_, int: np.int64, float: np.float64}
STATE_ALIGN = 64  # a state row starts on its own cache line
MAX_STATE_BYTES = 8192  # per symbol: one callback's changes must fit the batch's undo log


class StrategyError(Exception):
    """A strategy that cannot run; the message is one line naming it."""


@dataclass
class StrategyPlugin:
    name: str
    source: str              # "module:pkg.mod" or "path:/abs/file.py"
    file: str                # the module's file (its stamp keys the generated runner)
    module: object
    params: dict             # name -> value, defaults overridden by the config
    params_dtype: np.dtype
    state_dtype: np.dtype    # the user's fields, padded to STATE_ALIGN bytes
    timer_ms: float


def source_of(entry: dict, base_dir: str | None = None) -> str:
    """The `module` or `path` of one [[strategy]] table as one string."""
    name = entry.get("name", "?")
    has_module, has_path = "module" in entry, "path" in entry
    if has_module == has_path:
        raise StrategyError(f"strategy {name!r}: give exactly one of module = \"pkg.mod\" "
                            f"or path = \"file.py\"")
    if has_module:
        if not isinstance(entry["module"], str) or not entry["module"]:
            raise StrategyError(f"strategy {name!r}: module = {entry['module']!r} is not a "
                                f"module name")
        return "module:" + entry["module"]
    path = entry["path"]
    if not isinstance(path, str) or not path:
        raise StrategyError(f"strategy {name!r}: path = {path!r} is not a file path")
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(base_dir or os.getcwd(), path)
    return "path:" + os.path.abspath(path)


def import_source(source: str, name: str = "?"):
    """The module behind a source string; StrategyError, with the file and line of the
    failure, if it does not import."""
    kind, target = source.split(":", 1)
    try:
        if kind == "module":
            return importlib.import_module(target)
        if not os.path.isfile(target):
            raise StrategyError(f"strategy {name!r}: path {target!r}: no such file")
        digest = hashlib.blake2b(target.encode(), digest_size=6).hexdigest()
        module_name = f"tickpipe_user_{_identifier(os.path.basename(target))}_{digest}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return module
    except StrategyError:
        raise
    except ModuleNotFoundError as exc:
        if kind == "module" and exc.name and target.startswith(exc.name):
            raise StrategyError(f"strategy {name!r}: module {target!r} not found") from None
        raise StrategyError(f"strategy {name!r}: {source_label(source)} does not import: "
                            f"{_where(exc)}{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise StrategyError(f"strategy {name!r}: {source_label(source)} does not import: "
                            f"{_where(exc)}{type(exc).__name__}: {exc}") from None


def source_label(source: str) -> str:
    kind, target = source.split(":", 1)
    return f"module {target}" if kind == "module" else os.path.basename(target)


def _identifier(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.removesuffix(".py"))


def _where(exc: BaseException) -> str:
    """'file.py:12: ' of the innermost frame outside importlib, or ''."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{os.path.basename(exc.filename)}:{exc.lineno}: "
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.endswith("engine/plugin.py")]
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}: " if frames else ""


def load_plugin(entry: dict, base_dir: str | None = None) -> StrategyPlugin:
    """Import and check the strategy of one [[strategy]] table (params merged in)."""
    name = entry["name"]
    source = source_of(entry, base_dir)
    module = import_source(source, name)
    label = source_label(source)
    found = [cb for cb in CALLBACKS if getattr(module, cb, None) is not None]
    if not found:
        raise StrategyError(f"strategy {name!r}: {label} defines none of "
                            f"{', '.join(CALLBACKS)}")
    for cb in found:
        if not callable(getattr(module, cb)):
            raise StrategyError(f"strategy {name!r}: {label}: {cb} is not a function")
    for attr in vars(module):  # a misspelt callback is never called: say so, not nothing
        if attr.startswith("on_") and attr not in CALLBACKS and callable(getattr(module, attr)):
            close = difflib.get_close_matches(attr, CALLBACKS, n=1, cutoff=0.75)
            if close:
                raise StrategyError(f"strategy {name!r}: {label} defines {attr}, which is not "
                                    f"a callback and is never called: did you mean {close[0]}?")
    params = _params(name, label, getattr(module, "PARAMS", {}), entry.get("params", {}))
    check = getattr(module, "check_params", None)
    if callable(check):
        try:
            reason = check(dict(params))
        except Exception as exc:
            raise StrategyError(f"strategy {name!r}: {label}: check_params failed: "
                                f"{_where(exc)}{type(exc).__name__}: {exc}") from None
        if reason:
            raise StrategyError(f"strategy {name!r}: {reason}")
    params_dtype = np.dtype([(key, PARAM_TYPES[type(value)]) for key, value in params.items()]
                            or [("_none", np.int64)])
    state_dtype = _state_dtype(name, label, module, params)
    timer_ms = entry.get("timer_ms", getattr(module, "TIMER_MS", 0))
    if isinstance(timer_ms, bool) or not isinstance(timer_ms, (int, float)) or \
            not 0 <= timer_ms <= 3_600_000:
        raise StrategyError(f"strategy {name!r}: timer_ms = {timer_ms!r}: expected a number "
                            f"of milliseconds from 0 (no timer) to 3600000")
    if timer_ms == 0 and "on_timer" in found:
        raise StrategyError(f"strategy {name!r}: {label} defines on_timer but timer_ms is 0: "
                            f"set timer_ms in its [[strategy]] table or TIMER_MS in the module")
    file = getattr(module, "__file__", None) or ""
    return StrategyPlugin(name=name, source=source, file=file, module=module, params=params,
                          params_dtype=params_dtype, state_dtype=state_dtype,
                          timer_ms=float(timer_ms))


def _params(name: str, label: str, declared, given) -> dict:
    if not isinstance(declared, dict):
        raise StrategyError(f"strategy {name!r}: {label}: PARAMS must be a dict of "
                            f"name = default, got {type(declared).__name__}")
    if not isinstance(given, dict):
        raise StrategyError(f"strategy {name!r}: params must be a table, got {given!r}")
    params = {}
    for key, default in declared.items():
        if type(default) not in PARAM_TYPES or not key.isidentifier():
            raise StrategyError(f"strategy {name!r}: {label}: PARAMS[{key!r}] = {default!r}: a "
                                f"parameter's default must be an int, float or bool")
        params[key] = default
    for key, value in given.items():
        if key not in params:
            known = ", ".join(params) or "none"
            raise StrategyError(f"strategy {name!r}: unknown param {key} = {value!r} "
                                f"(params: {known})")
        kind = type(params[key])
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise StrategyError(f"strategy {name!r}: param {key} = {value!r}: expected "
                                f"{kind.__name__}")
        if kind is int and not -2 ** 63 <= value < 2 ** 63:
            raise StrategyError(f"strategy {name!r}: param {key} = {value!r}: out of int64 range")
        params[key] = value
    return params


def _state_dtype(name: str, label: str, module, params: dict) -> np.dtype:
    declared = getattr(module, "STATE", None)
    if callable(declared) and not isinstance(declared, np.dtype):
        try:
            declared = declared(dict(params))
        except Exception as exc:
            raise StrategyError(f"strategy {name!r}: {label}: STATE(params) failed: "
                                f"{_where(exc)}{type(exc).__name__}: {exc}") from None
    if declared is None:
        declared = np.dtype([("_none", np.int64)])
    try:
        dtype = np.dtype(declared)
    except TypeError as exc:
        raise StrategyError(f"strategy {name!r}: {label}: STATE is not a numpy dtype: "
                            f"{exc}") from None
    problem = _state_problem(dtype)
    if problem:
        raise StrategyError(f"strategy {name!r}: {label}: STATE {problem}")
    size = -(-dtype.itemsize // STATE_ALIGN) * STATE_ALIGN
    if size > MAX_STATE_BYTES:
        raise StrategyError(f"strategy {name!r}: {label}: STATE is {dtype.itemsize} bytes per "
                            f"symbol; at most {MAX_STATE_BYTES}")
    return np.dtype({"names": list(dtype.names), "formats": [dtype.fields[f][0] for f in dtype.names],
                     "offsets": [dtype.fields[f][1] for f in dtype.names], "itemsize": size})


def _state_problem(dtype: np.dtype) -> str | None:
    """Why `dtype` cannot be a state row (plain numeric fields, arrays of them), or None."""
    if dtype.names is None:
        return f"must be a record dtype with named fields, got {dtype}"
    for field in dtype.names:
        ftype = dtype.fields[field][0]
        base = ftype.base if ftype.subdtype is not None else ftype
        if base.names is not None or base.kind not in "biuf":
            return (f"field {field!r} is {ftype}: only plain numbers (int, uint, float, bool) "
                    f"and fixed-size arrays of them")
        if dtype.fields[field][1] % base.itemsize:
            return f"field {field!r} is not aligned to its size"
    return None
