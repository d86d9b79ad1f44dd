"""cffi build script (API mode) for tickpipe.engine._atomics, run by `pip install .` via setup.py.

The module carries two things: the atomics in engine/atomics.c, and the C view
of the shm layouts (shm_layouts/tickpipe_layouts.h), so tests can ask the C
compiler for offsetof/sizeof of every record.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
LAYOUTS_DIR = HERE.parent / "shm_layouts"

ATOMICS_CDEF = """
uint64_t tp_load_acquire_u64(uintptr_t addr);
uint64_t tp_load_relaxed_u64(uintptr_t addr);
void tp_store_release_u64(uintptr_t addr, uint64_t value);
void tp_store_relaxed_u64(uintptr_t addr, uint64_t value);
uint64_t tp_fetch_add_u64(uintptr_t addr, uint64_t delta);
int tp_cas_u64(uintptr_t addr, uint64_t expected, uint64_t desired);
uint32_t tp_load_acquire_u32(uintptr_t addr);
void tp_store_release_u32(uintptr_t addr, uint32_t value);
void tp_store_seqcst_u32(uintptr_t addr, uint32_t value);
uint32_t tp_fetch_add_u32(uintptr_t addr, uint32_t delta);
void tp_fence_seqcst(void);
void tp_fence_release(void);
void tp_cpu_pause(void);
int tp_futex_wait(uintptr_t addr, uint32_t expected, int64_t timeout_ns);
int tp_futex_wake(uintptr_t addr, int32_t n);
int tp_ring_publish(uintptr_t records, uint64_t mask, uint64_t record_size, uint64_t position,
                    uint64_t count, uintptr_t head_addr, uintptr_t doorbell_addr);
uint64_t tp_ring_count_ready(uintptr_t records, uint64_t mask, uint64_t record_size,
                             uint64_t position, uint64_t wanted);
int64_t tp_monotonic_ns(void);
int64_t tp_realtime_ns(void);
int tp_mlockall(int flags);
int tp_munlockall(void);
int tp_mlock(uintptr_t addr, uint64_t len);
int tp_munlock(uintptr_t addr, uint64_t len);
int tp_sched_yield(void);
int tp_mcl_current(void);
int tp_mcl_future(void);
int tp_mcl_onfault(void);
int tp_set_parent_death_signal(int sig);
"""


def _layouts_cdef() -> str:
    # cffi's cdef takes declarations only: drop the preprocessor lines.
    text = (LAYOUTS_DIR / "tickpipe_layouts.h").read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


ffibuilder = FFI()
ffibuilder.cdef(ATOMICS_CDEF + _layouts_cdef())
ffibuilder.set_source(
    "tickpipe.engine._atomics",
    '#include "tickpipe_layouts.h"\n' + (HERE / "atomics.c").read_text(),
    include_dirs=[str(LAYOUTS_DIR)],
    extra_compile_args=["-O2"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
