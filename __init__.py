"""tickpipe: a shared-memory IPC engine of pinned worker processes for low-latency trading.

The repository's folders install under this one name: tickpipe.engine (segment,
rings, supervisor), tickpipe.workers (the roles), tickpipe.shm_layouts (every
record and region), tickpipe.cli, tickpipe.bench, tickpipe.tuning. `tickpipe`
itself is what a user's code imports: the strategy API (tickpipe.buy,
tickpipe.position, ...: engine/strategy_api.py), loaded on first use, so that
importing tickpipe stays light (no numba) and tools that only read a segment
start fast.
"""

import hashlib
import os

__version__ = "0.1.0"

# The folders whose jitted code the engine runs. Not bench/ nor tests/: an edit there
# must not start a fresh cache (a recompile of every loop) for the engine. What keeps their
# own cached functions sound without the key: numba checks a function's own file, and
# a jitted function under bench/ calls jitted code only from its own file or from these
# folders (tests/test_numba_cache_dir.py checks it), so nothing it inlines can change
# unseen.
_COMPILED_FOLDERS = ("engine", "workers", "shm_layouts")


def _numba_cache_dir(here: str | None = None) -> str | None:
    """A numba cache directory of this very source tree.

    numba invalidates a cached function when its own file changes, not when a
    function it inlined from another file does: after an upgrade of the ring code
    a worker loop would load machine code with the old ring inlined (or a symbol
    the C library no longer has). Keying the directory by the (name, mtime, size)
    of every source and compiled file of _COMPILED_FOLDERS makes any change there
    start a fresh cache.
    Costs ~1 ms of stat calls. None when the directory cannot be made.
    """
    here = here or os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.blake2b(__version__.encode(), digest_size=8)
    for folder in _COMPILED_FOLDERS:
        for path, dirs, files in os.walk(os.path.join(here, folder)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".so", ".c", ".h")):
                    st = os.stat(os.path.join(path, name))
                    digest.update(f"{path}/{name}:{st.st_mtime_ns}:{st.st_size};".encode())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "tickpipe", "numba", digest.hexdigest())
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return directory


# Before numba is imported (it reads the variable once); a caller's own setting wins,
# and child processes (the workers) inherit it.
if "NUMBA_CACHE_DIR" not in os.environ:
    _directory = _numba_cache_dir()
    if _directory is not None:
        os.environ["NUMBA_CACHE_DIR"] = _directory


_API = ("symbol", "now_ns", "clock_ns", "position", "order_in_flight", "orders_in_flight",
        "tick_size", "best_bid", "best_ask", "send_order", "buy", "sell", "IOC", "LIMIT", "BUY", "SELL", "SENT",
        "REFUSED_NO_ROOM", "REFUSED_BAD_ORDER", "MAX_ORDERS_PER_EVENT", "PRICE_SCALE",
        "EXEC_NEW", "EXEC_PARTIAL_FILL", "EXEC_FILL", "EXEC_CANCELLED", "EXEC_REJECTED",
        # orders that rest
        "place", "cancel", "replace", "order_status", "order_leaves", "order_filled",
        "order_price", "is_working", "is_final", "bid_size", "ask_size", "can_trade",
        "bid_px", "ask_px", "bid_qty", "ask_qty", "depth_levels", "GTC", "DAY",
        "REFUSED_TABLE_FULL", "REFUSED_PENDING", "EXEC_CANCELED", "EXEC_REPLACED",
        "EXEC_EXPIRED", "STATUS_NONE", "STATUS_PENDING_NEW", "STATUS_NEW",
        "STATUS_PARTIALLY_FILLED", "STATUS_FILLED", "STATUS_PENDING_CANCEL", "STATUS_CANCELED",
        "STATUS_PENDING_REPLACE", "STATUS_REPLACED", "STATUS_REJECTED", "STATUS_EXPIRED",
        "REASON_NONE", "REASON_UNKNOWN_ORDER", "REASON_TOO_LATE", "REASON_BAD_QTY",
        "REASON_OFF_TICK", "REASON_SESSION_CLOSED", "REASON_VENUE_REJECT", "REASON_BOOK_FULL",
        "REASON_BAD_PRICE")  # and risk's reasons, REASON_RISK_<NAME>: engine/strategy_api.py


def __getattr__(name):
    """The strategy API on first use (PEP 562): `import tickpipe as tp; tp.buy(...)`."""
    if name in _API or name.startswith("REASON_RISK_"):
        from tickpipe.engine import strategy_api
        if hasattr(strategy_api, name):
            return getattr(strategy_api, name)
    if name == "journal":  # tickpipe.journal.open(DIR): a run's journal, read back
        from tickpipe.workers.journal import reader
        return reader
    if name == "LiveSource":  # a user's live market-data adapter derives from it (docs/live.md)
        from tickpipe.workers.live_source.adapter import LiveSource
        return LiveSource
    if name == "FinalError":  # a worker's failure a restart cannot help (engine/role.py)
        from tickpipe.engine.role import FinalError
        return FinalError
    raise AttributeError(f"module 'tickpipe' has no attribute {name!r}")


def __dir__():
    """The strategy API and the package's dunders (not the modules it imports itself).
    Importing nothing heavy here: the workers import tickpipe before their death signal."""
    return sorted([name for name in globals() if name.startswith("__")] + list(_API))
