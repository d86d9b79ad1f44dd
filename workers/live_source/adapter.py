"""The contract of a live source's adapter, and how one is named in the config.

An adapter is a class: the agent (agent.py) makes one per worker start and runs it in a
thread of its own, so it may block, run an asyncio loop, or call a vendor SDK that
calls back from its own threads (as long as only one thread at a time calls the sink):

    class MySource(tickpipe.LiveSource):
        def __init__(self, settings, symbols, sink):
            # settings: the [live_source] table (url, credentials, qty_scale, ...)
            # symbols: the instruments' names, in symbol-id order (subscribe to these)
            super().__init__(settings, symbols, sink)
        def run(self):
            # until stop(): connect, subscribe; for each message one of
            #   self.sink.quote(symbol, bid_px, bid_size, ask_px, ask_size)
            #   self.sink.trade(symbol, px, size)
            # and self.sink.connected() / self.sink.disconnected(reason) as the link
            # comes and goes (reconnecting is the adapter's or its SDK's job).
            # Raising ends the worker: the supervisor's restart policy decides;
            # raising tickpipe.FinalError (a login refused) stops the engine at once.
        def stop(self):
            # called from another thread: make run() return soon

Prices are in the instrument's currency (floats, as the venue sends them), sizes in
the venue's units; the sink makes them the engine's integer prices and lots. A sink
call blocks while the ring is full (the feed behind): nothing is dropped.

Name it in the config: `[live_source] adapter = "mypackage.module:MySource"`, or a
file, `"my_source.py:MySource"` (relative to the config file).
"""

import importlib
import importlib.util
import os
import stat
import sys
import tomllib

from tickpipe.engine.role import RoleError

BUILT_IN = {"alpaca": "tickpipe.workers.live_source.alpaca:AlpacaSource"}


class LiveSource:
    """The base class of an adapter (see the module's text)."""

    # Environment variables of the key and secret when [live_source] credentials is empty
    # (an adapter that needs none leaves this empty).
    credential_env: tuple[str, ...] = ()
    default_url = ""

    def __init__(self, settings: dict, symbols: list[str], sink):
        self.settings = settings
        self.symbols = list(symbols)
        self.sink = sink
        self.url = settings.get("url") or self.default_url

    def run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @classmethod
    def check(cls, settings: dict) -> None:
        """Before the engine starts: what can be checked without connecting (credentials
        there). Raise RoleError (one line)."""
        credentials(cls, settings)


def credentials(cls, settings: dict) -> dict:
    """{"key": ..., "secret": ...} from [live_source] credentials (a TOML file only its
    owner may read) or the adapter's environment variables; {} when it needs none.
    Never logged, never in the config."""
    path = settings.get("credentials", "")
    if path:
        try:
            mode = os.stat(path).st_mode
            with open(path, "rb") as f:
                table = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RoleError(f"config [live_source] credentials {path!r}: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise RoleError(f"config [live_source] credentials {path!r}: mode "
                            f"{stat.S_IMODE(mode):04o} lets others read it; chmod 600 it")
        missing = [name for name in ("key", "secret") if not isinstance(table.get(name), str)]
        if missing:
            raise RoleError(f"config [live_source] credentials {path!r}: no "
                            f"{' and '.join(missing)} (key = \"...\", secret = \"...\")")
        return {"key": table["key"], "secret": table["secret"]}
    if not cls.credential_env:
        return {}
    missing = [name for name in cls.credential_env if not os.environ.get(name)]
    if missing:
        raise RoleError(f"live source {cls.__name__}: no credentials: set "
                        f"{' and '.join(missing)}, or [live_source] credentials = a file")
    key, secret = (os.environ[name] for name in cls.credential_env)
    return {"key": key, "secret": secret}


def load_adapter(spec: str) -> type:
    """The adapter class a [live_source] adapter names; RoleError (one line) if it cannot
    be loaded."""
    reference = BUILT_IN.get(spec, spec)
    where, _, name = reference.rpartition(":")
    if not where or not name:
        raise RoleError(f"config [live_source] adapter = {spec!r}: expected 'alpaca', "
                        f"'module:Class' or 'file.py:Class'")
    try:
        if where.endswith(".py"):
            path = os.path.abspath(where)  # (made relative to the config file when read)
            module_spec = importlib.util.spec_from_file_location(
                f"tickpipe_live_source_{abs(hash(path))}", path)
            if module_spec is None or not os.path.isfile(path):
                raise RoleError(f"config [live_source] adapter: no file {path!r}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except RoleError:
        raise
    except ImportError as exc:
        extra = " (pip install 'tickpipe[alpaca]')" if spec == "alpaca" else ""
        raise RoleError(f"config [live_source] adapter {spec!r}: {exc}{extra}") from None
    except Exception as exc:  # the user's module raised while loading: one line, theirs
        raise RoleError(f"config [live_source] adapter {spec!r}: loading it raised "
                        f"{type(exc).__name__}: {exc}") from None
    adapter = getattr(module, name, None)
    if not (isinstance(adapter, type) and issubclass(adapter, LiveSource)):
        raise RoleError(f"config [live_source] adapter {spec!r}: {name} is not a class "
                        f"derived from tickpipe.LiveSource")
    return adapter


def prepare(config: dict, say=None) -> None:
    """The declaration's `prepare`: the adapter loads, its credentials are there, and the
    instruments are the user's (a live stream has no metadata to take them from)."""
    from tickpipe.engine.config import instruments_given
    if not instruments_given(config):
        raise RoleError("config [feed] source = 'live' needs [[instrument]] tables: the "
                        "symbols to subscribe to, with their tick sizes")
    settings = config["live_source"]
    load_adapter(settings["adapter"]).check(settings)
