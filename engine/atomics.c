/* tickpipe C atomics: the memory ordering under the SPSC rings.
 *
 * Every function is exported (not static) so that numba can bind it by symbol
 * name as an ExternalFunction after llvmlite loads this library; that keeps
 * numba's cache=True working (a cffi-object call would disable caching).
 * Addresses are passed as uintptr_t, so numba passes plain integers and
 * Python passes `ffi.cast`-free ints: one signature for both callers.
 *
 * Return codes of the syscall wrappers are documented next to each one;
 * none of these functions ever raises or aborts.
 */
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <linux/futex.h>

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

/* ---- 64-bit index words ------------------------------------------------ */
uint64_t tp_load_acquire_u64(uintptr_t addr)
{ return __atomic_load_n((uint64_t *)addr, __ATOMIC_ACQUIRE); }

uint64_t tp_load_relaxed_u64(uintptr_t addr)
{ return __atomic_load_n((uint64_t *)addr, __ATOMIC_RELAXED); }

void tp_store_release_u64(uintptr_t addr, uint64_t value)
{ __atomic_store_n((uint64_t *)addr, value, __ATOMIC_RELEASE); }

void tp_store_relaxed_u64(uintptr_t addr, uint64_t value)
{ __atomic_store_n((uint64_t *)addr, value, __ATOMIC_RELAXED); }

uint64_t tp_fetch_add_u64(uintptr_t addr, uint64_t delta)
{ return __atomic_fetch_add((uint64_t *)addr, delta, __ATOMIC_ACQ_REL); }

/* 1 when *addr held `expected` and now holds `desired`, else 0. */
int tp_cas_u64(uintptr_t addr, uint64_t expected, uint64_t desired)
{
    return __atomic_compare_exchange_n((uint64_t *)addr, &expected, desired, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* ---- 32-bit futex words ------------------------------------------------ */
uint32_t tp_load_acquire_u32(uintptr_t addr)
{ return __atomic_load_n((uint32_t *)addr, __ATOMIC_ACQUIRE); }

void tp_store_release_u32(uintptr_t addr, uint32_t value)
{ __atomic_store_n((uint32_t *)addr, value, __ATOMIC_RELEASE); }

/* seq_cst store (an xchg on x86): the store is globally visible before any
 * later load, which the sleep/wake handshake needs (store-load ordering). */
void tp_store_seqcst_u32(uintptr_t addr, uint32_t value)
{ __atomic_store_n((uint32_t *)addr, value, __ATOMIC_SEQ_CST); }

uint32_t tp_fetch_add_u32(uintptr_t addr, uint32_t delta)
{ return __atomic_fetch_add((uint32_t *)addr, delta, __ATOMIC_ACQ_REL); }

void tp_fence_seqcst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* Orders every earlier load and store before every later store: what a seqlock
 * writer needs between its odd version store and the fields (a dmb on arm64;
 * on x86, whose stores stay in order, only the compiler is held back). */
void tp_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

void tp_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* ---- futex (process-shared: no FUTEX_PRIVATE_FLAG) ---------------------- */
/* Sleeps while *addr == expected, at most timeout_ns (<0: no limit).
 * Returns 0 woken, 1 value already differed (EAGAIN), 2 timed out,
 * 3 interrupted by a signal, or -errno for anything else. */
int tp_futex_wait(uintptr_t addr, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts, *tsp = 0;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000LL;
        ts.tv_nsec = timeout_ns % 1000000000LL;
        tsp = &ts;
    }
    long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, tsp, 0, 0);
    if (rc == 0) return 0;
    if (errno == EAGAIN) return 1;
    if (errno == ETIMEDOUT) return 2;
    if (errno == EINTR) return 3;
    return -errno;
}

/* Wakes up to n sleepers on addr. Returns how many woke, or -errno. */
int tp_futex_wake(uintptr_t addr, int32_t n)
{
    long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, 0, 0, 0);
    return rc < 0 ? -errno : (int)rc;
}

/* ---- SPSC ring publication ----------------------------------------------
 * The rule (shm_layouts/ring_header.py): each record publishes itself. Its
 * first word, `seq`, is stored last, with release ordering, as its ring
 * position + 1; the consumer reads a slot only after an acquire load of that
 * word returns the position it expects + 1. A slot of the previous lap holds
 * position + 1 - capacity, a never-written one 0: neither can look ready.
 * These two functions are the only code that writes or tests a seq word, so
 * every producer and consumer (workers, benches, tests) follows one rule. */
static inline uint64_t *ring_seq_word(uintptr_t records, uint64_t mask, uint64_t record_size,
                                      uint64_t position)
{ return (uint64_t *)(records + (position & mask) * record_size); }

/* Publishes `count` fully written records from `position` on: seq stores in
 * ring order (each one the publication of its record), then one store of the
 * head index, which only tools, the drain and a restarting producer read.
 * doorbell_addr != 0: the consumer may sleep on the doorbell {u32 armed;
 * u32 wake_seq}. The seq_cst fence orders the seq stores before the load of
 * `armed`; it pairs with the consumer's fence between arming and re-checking
 * the next slot (engine/idle.py, sleep_on_doorbell): either the consumer's
 * re-check sees the record, or this load sees armed = 1 and wakes it. So the
 * fast path makes no syscall and no wake-up is lost.
 * Returns 1 when it made the wake syscall, else 0. */
int tp_ring_publish(uintptr_t records, uint64_t mask, uint64_t record_size, uint64_t position,
                    uint64_t count, uintptr_t head_addr, uintptr_t doorbell_addr)
{
    for (uint64_t i = 0; i < count; i++)
        __atomic_store_n(ring_seq_word(records, mask, record_size, position + i),
                         position + i + 1, __ATOMIC_RELEASE);
    __atomic_store_n((uint64_t *)head_addr, position + count, __ATOMIC_RELEASE);
    if (doorbell_addr == 0) return 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t *armed = (uint32_t *)doorbell_addr;
    if (__atomic_load_n(armed, __ATOMIC_RELAXED) == 0) return 0;
    uint32_t *wake_seq = armed + 1;
    __atomic_fetch_add(wake_seq, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, wake_seq, FUTEX_WAKE, INT_MAX, 0, 0, 0);
    return 1;
}

/* Records published from `position` on, at most `wanted`: the run of
 * consecutive slots whose seq (acquire) equals their position + 1. Stops at
 * the first slot not yet published, so it reads at most one line the producer
 * has not finished with. */
uint64_t tp_ring_count_ready(uintptr_t records, uint64_t mask, uint64_t record_size,
                             uint64_t position, uint64_t wanted)
{
    uint64_t ready = 0;
    while (ready < wanted
           && __atomic_load_n(ring_seq_word(records, mask, record_size, position + ready),
                              __ATOMIC_ACQUIRE) == position + ready + 1)
        ready++;
    return ready;
}

/* ---- clocks ------------------------------------------------------------- */
int64_t tp_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t tp_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- memory locking and scheduling: 0 on success, else errno ------------ */
int tp_mlockall(int flags) { return mlockall(flags) == 0 ? 0 : errno; }
int tp_munlockall(void) { return munlockall() == 0 ? 0 : errno; }
int tp_mlock(uintptr_t addr, uint64_t len) { return mlock((void *)addr, len) == 0 ? 0 : errno; }
int tp_munlock(uintptr_t addr, uint64_t len) { return munlock((void *)addr, len) == 0 ? 0 : errno; }
int tp_sched_yield(void) { return sched_yield() == 0 ? 0 : errno; }
int tp_mcl_current(void) { return MCL_CURRENT; }
int tp_mcl_future(void) { return MCL_FUTURE; }
int tp_mcl_onfault(void) { return MCL_ONFAULT; }

/* Deliver `sig` to this process when its parent dies, so a worker never
 * outlives a killed supervisor. 0 on success, else errno. */
int tp_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig) == 0 ? 0 : errno; }
