"""C atomics, futex, clock and mlockall, for Python callers and numba nopython code.

Two faces over one compiled library (engine/atomics.c, built by cffi at install):

- Python: `lib.tp_*` (cffi); each call costs ~100 ns, fine for tools and tests.
- numba: the module-level names below are `numba.types.ExternalFunction`s bound by
  symbol name after llvmlite loads the library. numba refuses to cache functions
  that call cffi objects, but caches these, so a worker's loop compiles once per
  machine and later starts load it from cache.

All addresses are integers (uintptr_t): `array.ctypes.data + offset`.
"""

import llvmlite.binding as llvm
from numba import types

from tickpipe.engine.atomics_lib import (  # noqa: F401  (re-exported: one import for loop code)
    FUTEX_INTERRUPTED, FUTEX_TIMED_OUT, FUTEX_VALUE_CHANGED, FUTEX_WOKEN, LIBRARY_PATH, MCL_CURRENT,
    MCL_FUTURE, MCL_ONFAULT, ffi, lib, mlockall_current_and_future,
)

# Make the exported tp_* symbols resolvable by numba's JIT linker.
llvm.load_library_permanently(LIBRARY_PATH)

_u64, _u32, _i32, _i64, _ptr = types.uint64, types.uint32, types.int32, types.int64, types.uintp

load_acquire_u64 = types.ExternalFunction("tp_load_acquire_u64", _u64(_ptr))
load_relaxed_u64 = types.ExternalFunction("tp_load_relaxed_u64", _u64(_ptr))
store_release_u64 = types.ExternalFunction("tp_store_release_u64", types.void(_ptr, _u64))
store_relaxed_u64 = types.ExternalFunction("tp_store_relaxed_u64", types.void(_ptr, _u64))
fetch_add_u64 = types.ExternalFunction("tp_fetch_add_u64", _u64(_ptr, _u64))
cas_u64 = types.ExternalFunction("tp_cas_u64", _i32(_ptr, _u64, _u64))
load_acquire_u32 = types.ExternalFunction("tp_load_acquire_u32", _u32(_ptr))
store_release_u32 = types.ExternalFunction("tp_store_release_u32", types.void(_ptr, _u32))
store_seqcst_u32 = types.ExternalFunction("tp_store_seqcst_u32", types.void(_ptr, _u32))
fetch_add_u32 = types.ExternalFunction("tp_fetch_add_u32", _u32(_ptr, _u32))
fence_seqcst = types.ExternalFunction("tp_fence_seqcst", types.void())
fence_release = types.ExternalFunction("tp_fence_release", types.void())
cpu_pause = types.ExternalFunction("tp_cpu_pause", types.void())
futex_wait = types.ExternalFunction("tp_futex_wait", _i32(_ptr, _u32, _i64))
futex_wake = types.ExternalFunction("tp_futex_wake", _i32(_ptr, _i32))
ring_publish = types.ExternalFunction(
    "tp_ring_publish", _i32(_ptr, _u64, _u64, _u64, _u64, _ptr, _ptr))
ring_count_ready = types.ExternalFunction(
    "tp_ring_count_ready", _u64(_ptr, _u64, _u64, _u64, _u64))
monotonic_ns = types.ExternalFunction("tp_monotonic_ns", _i64())
sched_yield = types.ExternalFunction("tp_sched_yield", _i32())


def monotonic_ns_py() -> int:
    """The same clock as the jitted `monotonic_ns`, from Python."""
    return lib.tp_monotonic_ns()
