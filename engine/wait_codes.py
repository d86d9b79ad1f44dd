"""Wait strategy names and codes (stored in each worker's row); numba-free.

The strategies themselves are in engine/idle.py.
"""

WAIT_SPIN = 0
WAIT_YIELD = 1
WAIT_BACKOFF = 2
WAIT_BLOCK = 3
# A backtest's: one thread runs every role in turn (engine/backtest.py), so an idle pass
# returns at once. Not a config choice.
WAIT_NONE = 4
WAIT_CODES = {"spin": WAIT_SPIN, "yield": WAIT_YIELD, "backoff": WAIT_BACKOFF, "block": WAIT_BLOCK}
WAIT_NAMES = {code: name for name, code in WAIT_CODES.items()}
SLEEPING_STRATEGIES = (WAIT_BACKOFF, WAIT_BLOCK)


def check_wait(name: str) -> int:
    """The code of a wait strategy name; ValueError naming the bad value otherwise."""
    try:
        return WAIT_CODES[name]
    except KeyError:
        raise ValueError(f"wait strategy {name!r} is not one of {', '.join(WAIT_CODES)}") from None


# backoff: idle passes spent spinning, then yielding, before a futex sleep
# (engine/idle.py; config engine.backoff_spin / engine.backoff_yield).
DEFAULT_SPIN_LIMIT = 2000
DEFAULT_YIELD_LIMIT = 50
