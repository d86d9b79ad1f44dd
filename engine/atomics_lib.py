"""The C atomics library from Python (cffi only; no numba, so tools import it fast).

Each call costs ~100 ns: fine for tools, tests and the supervisor. Jitted code
uses the numba bindings in engine/atomics.py over the same symbols.
"""

from tickpipe.engine import _atomics

ffi = _atomics.ffi
lib = _atomics.lib
LIBRARY_PATH = _atomics.__file__

# futex_wait return codes (see engine/atomics.c).
FUTEX_WOKEN = 0
FUTEX_VALUE_CHANGED = 1
FUTEX_TIMED_OUT = 2
FUTEX_INTERRUPTED = 3

MCL_CURRENT = lib.tp_mcl_current()
MCL_FUTURE = lib.tp_mcl_future()
MCL_ONFAULT = lib.tp_mcl_onfault()


def mlockall_current_and_future(on_fault: bool = True) -> int:
    """mlockall(MCL_CURRENT|MCL_FUTURE[|MCL_ONFAULT]); returns 0 or errno.

    Falls back to no MCL_ONFAULT when the kernel rejects it (EINVAL, before 4.4).
    """
    flags = MCL_CURRENT | MCL_FUTURE
    if on_fault:
        rc = lib.tp_mlockall(flags | MCL_ONFAULT)
        if rc == 0:
            return 0
    return lib.tp_mlockall(flags)
