/* pinned_pair.c: what the native references share. Two processes, one on each of two
 * cores, over one MAP_SHARED|MAP_ANONYMOUS mapping made before fork, and spin waits
 * that give up at a wall-clock deadline, so no run can hang.
 *
 * Not a program of its own: cacheline_pingpong.c, ring_pingpong.c and spsc_ring.c
 * #include it, so each reference stays one compilation unit built by one `cc -O2`
 * call, and only *.c files need shipping as package data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define RECORD_SIZE 64
#define EXIT_USAGE 1
#define EXIT_SETUP 2    /* mmap, fork or pinning failed */
#define EXIT_TIMEOUT 3  /* the wall-clock guard ran out */
#define EXIT_CORRUPT 4  /* a record arrived with the wrong sequence number */

/* A 64-byte record: the sequence number, then payload up to one cache line. */
struct record {
    _Atomic uint64_t seq;
    uint8_t payload[RECORD_SIZE - sizeof(uint64_t)];
} __attribute__((aligned(RECORD_SIZE)));

struct pair {
    int core[2];           /* [0]: the parent (initiator / producer), [1]: the child */
    int shared_core;       /* both on one core: spin loops yield instead of pause */
    int64_t deadline_ns;   /* CLOCK_MONOTONIC time at which every spin gives up */
    pid_t child;           /* 0 in the child */
};

static int64_t now_ns(void) {
    /* CLOCK_MONOTONIC: the clock of time.perf_counter_ns and of tickpipe's stamps. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cpu_relax(const struct pair *pair) {
    if (pair->shared_core) {
        sched_yield(); /* the other side needs this very core to make progress */
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); /* spin-wait hint: saves power, no memory-order mis-speculation on exit */
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Spin until *word == want (acquire). 0 on success, -1 once the deadline has passed. */
static inline int spin_until_equal(const struct pair *pair, _Atomic uint64_t *word, uint64_t want) {
    uint32_t spins = 0;
    while (atomic_load_explicit(word, memory_order_acquire) != want) {
        cpu_relax(pair);
        /* Reading the clock costs ~20 ns; every 4096 spins keeps the guard off the fast path. */
        if ((++spins & 4095) == 0 && now_ns() > pair->deadline_ns)
            return -1;
    }
    return 0;
}

/* Spin until *word != last (acquire); returns the new value, or last once the deadline passed. */
static inline uint64_t spin_until_changed(const struct pair *pair, _Atomic uint64_t *word, uint64_t last,
                                          int *timed_out) {
    uint32_t spins = 0;
    uint64_t value;
    while ((value = atomic_load_explicit(word, memory_order_acquire)) == last) {
        cpu_relax(pair);
        if ((++spins & 4095) == 0 && now_ns() > pair->deadline_ns) {
            *timed_out = 1;
            return last;
        }
    }
    return value;
}

static void *map_shared(size_t size) {
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        fprintf(stderr, "mmap of %zu shared bytes failed: %s\n", size, strerror(errno));
        exit(EXIT_SETUP);
    }
    memset(memory, 0, size); /* fault it in now, not inside a timed loop */
    return memory;           /* page aligned, hence cache-line aligned */
}

static long parse_long(const char *text, long min, const char *usage) {
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < min) {
        fprintf(stderr, "bad argument %s: want an integer >= %ld\nusage: %s\n", text, min, usage);
        exit(EXIT_USAGE);
    }
    return value;
}

/* Both programs take CORE_A CORE_B COUNT COUNT TIMEOUT_S; `usage` names the counts,
 * count_min their smallest values. Exits with EXIT_USAGE on a bad command line. */
static void parse_command_line(int argc, char **argv, const char *usage, const long count_min[2],
                               struct pair *pair, uint64_t counts[2]) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s\n", usage);
        exit(EXIT_USAGE);
    }
    pair->core[0] = (int)parse_long(argv[1], 0, usage);
    pair->core[1] = (int)parse_long(argv[2], 0, usage);
    pair->shared_core = pair->core[0] == pair->core[1];
    counts[0] = (uint64_t)parse_long(argv[3], count_min[0], usage);
    counts[1] = (uint64_t)parse_long(argv[4], count_min[1], usage);
    pair->deadline_ns = now_ns() + parse_long(argv[5], 1, usage) * 1000000000LL;
}

static void pin_to(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        fprintf(stderr, "cannot pin pid %d to core %d: %s\n", (int)getpid(), core, strerror(errno));
        exit(EXIT_SETUP);
    }
}

/* Fork; pin the parent to core[0] and the child to core[1]. Returns 1 in the child. */
static int fork_pinned(struct pair *pair) {
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered may be written twice */
    pair->child = fork();
    if (pair->child < 0) {
        fprintf(stderr, "fork failed: %s\n", strerror(errno));
        exit(EXIT_SETUP);
    }
    if (pair->child == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed parent takes its child along */
#endif
        if (getppid() != parent)
            _exit(EXIT_SETUP); /* the parent died before prctl took effect */
        pin_to(pair->core[1]);
        return 1;
    }
    pin_to(pair->core[0]);
    return 0;
}

/* In the parent: reap the child; its failure becomes ours. */
static int wait_child(const struct pair *pair) {
    int status;
    if (waitpid(pair->child, &status, 0) < 0)
        return EXIT_SETUP;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return EXIT_SETUP;
}

static void fail_timeout(const char *who) {
    fprintf(stderr, "%s gave up: wall-clock guard ran out\n", who);
}

/* Round-trip programs: room for one int64 sample per iteration, faulted in before
 * timing. Not with 0: the compiler turns malloc+memset(0) into calloc, whose pages
 * would then fault inside the timed loop. Exits with EXIT_SETUP when out of memory.
 * (`unused`: spsc_ring.c includes this file and needs neither helper.) */
__attribute__((unused)) static int64_t *allocate_samples(uint64_t iterations) {
    int64_t *samples = malloc(iterations * sizeof *samples);
    if (samples == NULL) {
        fprintf(stderr, "cannot allocate %llu samples\n", (unsigned long long)iterations);
        exit(EXIT_SETUP);
    }
    memset(samples, 0xff, iterations * sizeof *samples);
    return samples;
}

/* Round-trip programs, in the parent: reap the child, and on success write the samples
 * to stdout. Returns the program's exit code (the first failure wins). */
__attribute__((unused)) static int finish_samples(const struct pair *pair, int status,
                                                 const int64_t *samples, uint64_t iterations) {
    int child_status = wait_child(pair);
    if (status == 0)
        status = child_status;
    if (status == 0 && fwrite(samples, sizeof *samples, iterations, stdout) != iterations) {
        fprintf(stderr, "writing the samples failed\n");
        status = EXIT_SETUP;
    }
    return status;
}
