"""A strategy's callbacks compiled apart from the runner (engine/callback_abi.py,
engine/strategy_entries.py): what an edit recompiles, and what a call through an
entry does, driven in this process through the shared runner."""

import os
import textwrap
import time

import numpy as np
import pytest
from numba import njit

from tickpipe.engine.callback_abi import (
    CB_CONTEXT, CB_ON_QUOTE, CB_PARAMS, CB_STATE, CB_STATE_BYTES, call_callback, keep_context,
    record_address,
)
from tickpipe.engine.plugin import StrategyError, load_plugin
from tickpipe.engine.runner_gen import (
    compile_strategy, entries_path, set_callbacks, strategy_runner, user_files,
)
from tickpipe.engine.strategy_context import sample_context
from tickpipe.shm_layouts.market_data import MARKET_DATA_DTYPE, MD_KIND_QUOTE

HELPER = """
def spread(quote):
    return quote.ask_px - quote.bid_px
"""

STRATEGY = """
import numpy as np
from numba import njit
import helpers_{tag} as helpers

STATE = np.dtype([("quotes", np.int64), ("spread", np.int64), ("last_bid", np.int64)])
PARAMS = {{"limit": 1000}}

spread = njit(helpers.spread)


@njit
def on_quote(ctx, state, params, quote):
    state.quotes += 1
    state.spread = spread(quote)
    state.last_bid = quote.bid_px
    if quote.bid_px > params.limit:
        raise ValueError("bid above the limit")
"""


@pytest.fixture
def strategy(tmp_path, monkeypatch):
    """A user's strategy file importing a helper module of the user's, both in tmp_path
    (module names of their own: a module stays in sys.modules)."""
    tag = f"{os.getpid()}_{time.monotonic_ns()}"
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / f"helpers_{tag}.py").write_text(HELPER)
    (tmp_path / "user.py").write_text(STRATEGY.format(tag=tag))
    return tmp_path / "user.py", tmp_path / f"helpers_{tag}.py"


def _plugin(path):
    return load_plugin({"name": "user", "path": str(path)})


def _edit(path, text=None):
    """A change the digest must see, even within the filesystem's mtime granularity."""
    text = path.read_text() if text is None else text
    path.write_text(text + "\n# edited\n")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_user_files_when_the_strategy_imports_a_helper_then_both_and_nothing_installed(strategy):
    path, helper = strategy
    files = user_files(_plugin(path).module)
    assert files == [str(path), str(helper)]


def test_entries_path_when_the_strategy_or_its_helper_changes_then_it_changes(strategy):
    path, helper = strategy
    first = entries_path(_plugin(path))
    assert entries_path(_plugin(path)) == first  # unchanged: the same file, the cache holds
    _edit(helper)
    second = entries_path(_plugin(path))
    assert second != first
    _edit(path)
    assert entries_path(_plugin(path)) not in (first, second)


def test_runner_when_two_strategies_then_they_share_one_compiled_runner(strategy):
    path, _ = strategy
    runner = strategy_runner()
    compile_strategy(_plugin(path), 2)
    compile_strategy(load_plugin({"name": "m", "module": "tickpipe.workers.strategies.momentum"}), 2)
    assert strategy_runner() is runner
    assert "strategy_kernels_runner_" in os.path.basename(runner.__file__)


@njit(_nrt=False)
def call_on_quote(ctx, symbol, i):
    """What the strategy runner does for a quote (engine/strategy_kernels.py)."""
    callbacks = ctx.callbacks
    keep_context(callbacks[CB_CONTEXT], ctx)
    call_callback(callbacks[CB_ON_QUOTE], callbacks[CB_CONTEXT],
                  callbacks[CB_STATE] + symbol * callbacks[CB_STATE_BYTES], callbacks[CB_PARAMS],
                  record_address(ctx.quotes[i]))


def test_entry_when_called_by_address_then_the_callback_edits_the_symbols_row_and_raises_through(
        strategy):
    path, _ = strategy
    plugin = _plugin(path)
    ctx, mirror, params, _control = sample_context(2, plugin.state_dtype, plugin.params_dtype)
    params[0]["limit"] = 1000
    quotes = np.zeros(4, MARKET_DATA_DTYPE)
    quotes["kind"], quotes["symbol_id"] = MD_KIND_QUOTE, 1
    quotes["bid_px"] = [100, 101, 102, 5000]
    quotes["ask_px"] = quotes["bid_px"] + 3
    ctx = ctx._replace(quotes=quotes)
    addresses = compile_strategy(plugin, 2)
    assert set(addresses) == {"on_quote"} and all(addresses.values())
    set_callbacks(ctx.callbacks, addresses)
    assert ctx.callbacks[CB_ON_QUOTE] == addresses["on_quote"]
    for i in range(3):
        call_on_quote(ctx, 1, i)
    row = mirror[1]
    assert (row["quotes"], row["spread"], row["last_bid"]) == (3, 3, 102)
    assert mirror[0]["quotes"] == 0  # another symbol's row untouched
    with pytest.raises(ValueError, match="bid above the limit"):
        call_on_quote(ctx, 1, 3)  # the callback's own exception, type and message
    assert mirror[1]["quotes"] == 4


def test_compile_strategy_when_a_callback_has_a_typing_mistake_then_one_line_names_its_line(strategy):
    path, _ = strategy
    text = path.read_text().replace("    state.quotes += 1\n", "    state.quotez += 1\n")
    _edit(path, text)
    with pytest.raises(StrategyError) as error:
        compile_strategy(_plugin(path), 2)
    message = str(error.value)
    assert "on_quote does not compile (user.py:14)" in message and "quotez" in message
    assert "\n" not in message


def test_context_cell_when_the_runner_keeps_the_context_then_the_struct_fits_in_it():
    from tickpipe.engine.callback_abi import CONTEXT_CELL_BYTES, context_bytes
    assert 0 < context_bytes() <= CONTEXT_CELL_BYTES
