"""How a worker's or a bench's outermost loop is compiled: `@hot_loop`.

numba keeps a reference count on every array an njit function receives, and it
bumps and drops that count (a `lock inc` / `lock dec` pair) around each inlined
call that takes the array, such as producer_claim(handle, n): a pair per record
in a one-record loop. On x86 a locked instruction drains the store buffer, so
each pair waits for the records' stores still in flight to other cores. The
assembly of bench/ring_loops.py showed 17 such pairs in the producer loop and 23
in the consumer loop; without them the spin round trip went from 190 to
161-180 ns (bench/RESULTS.md, "The single-record gap").

A loop compiled without NRT keeps no reference counts, so it must allocate
nothing: every array it touches is passed in (which a hot loop does anyway).
numba spells the switch `_nrt=False`, a target option its own test-suite uses;
it is named here once, so a numba that drops it is one line to change.
"""

from numba import njit


def hot_loop(function):
    """njit(cache=True) without NRT reference counting; `function` must not allocate."""
    return njit(cache=True, _nrt=False)(function)
