/* ring_pingpong.c: the floor of a round trip through tickpipe's ring design, in C.
 *
 * Two SPSC rings of 64-byte records between two pinned processes, one each way, under
 * the same rules as tickpipe's rings (and spsc_ring.c): each record publishes itself
 * through its seq word (= position + 1, stored last with release ordering), head and
 * tail each alone in 128 bytes, head stored once per publish, a cached copy of the
 * peer's tail in local memory.
 *
 * The parent publishes a record on the ping ring and spins on the pong ring's next
 * slot; the child spins on the ping ring's next slot, copies the record into the pong
 * ring, publishes it and releases its slot. Each direction costs one cache-line
 * transfer, as in cacheline_pingpong.c; the gap between the two is what the ring's
 * bookkeeping costs, the gap between this one and tickpipe-spin what numba and cffi
 * cost.
 *
 * Built with -DPUBLISH_BY_INDEX it is the previous rule, kept as a row for comparison:
 * the reader learns from head that a record is there and only then loads it, a second
 * serial cache miss each way.
 *
 * usage: ring_pingpong CORE_A CORE_B ITERATIONS WARMUP TIMEOUT_S > samples.bin
 * stdout: ITERATIONS native-endian int64 round-trip times in ns (CLOCK_MONOTONIC).
 * Exit codes: see pinned_pair.c.
 */
#include "pinned_pair.c"

#define CAPACITY 1024u /* as tickpipe's bench rings */
#define MASK (CAPACITY - 1)

struct ring {
    _Alignas(128) _Atomic uint64_t head; /* written by the producer only */
    _Alignas(128) _Atomic uint64_t tail; /* written by the consumer only */
    _Alignas(128) struct record slots[CAPACITY];
};

struct rings {
    struct ring ping; /* parent -> child */
    struct ring pong; /* child -> parent */
};

/* One side's view of one ring: its own index and its cached copy of the peer's. */
struct side {
    struct ring *ring;
    uint64_t position;
    uint64_t peer_cache;
};

/* Producer: wait for a free slot, copy `src` in, publish it with one release store. */
static int send_record(const struct pair *pair, struct side *out, const struct record *src) {
    if (out->position - out->peer_cache == CAPACITY) {
        int timed_out = 0;
        out->peer_cache = spin_until_changed(pair, &out->ring->tail, out->peer_cache, &timed_out);
        if (timed_out)
            return -1;
    }
    struct record *slot = &out->ring->slots[out->position & MASK];
    memcpy(slot->payload, src->payload, sizeof slot->payload);
    out->position++;
#ifdef PUBLISH_BY_INDEX
    atomic_store_explicit(&slot->seq, out->position, memory_order_relaxed);
#else
    atomic_store_explicit(&slot->seq, out->position, memory_order_release); /* publishes it */
#endif
    atomic_store_explicit(&out->ring->head, out->position, memory_order_release);
    return 0;
}

/* Consumer: wait until the next record is published; the record now in reach. */
static const struct record *await_record(const struct pair *pair, struct side *in) {
#ifdef PUBLISH_BY_INDEX
    if (in->peer_cache == in->position) {
        int timed_out = 0;
        in->peer_cache = spin_until_changed(pair, &in->ring->head, in->position, &timed_out);
        if (timed_out)
            return NULL;
    }
#else
    if (spin_until_equal(pair, &in->ring->slots[in->position & MASK].seq, in->position + 1) != 0)
        return NULL;
#endif
    return &in->ring->slots[in->position & MASK];
}

static void release_record(struct side *in) {
    in->position++;
    atomic_store_explicit(&in->ring->tail, in->position, memory_order_release);
}

static int echo(const struct pair *pair, struct rings *rings, uint64_t round_trips) {
    struct side in = {&rings->ping, 0, 0}, out = {&rings->pong, 0, 0};
    for (uint64_t n = 1; n <= round_trips; n++) {
        const struct record *record = await_record(pair, &in);
        if (record == NULL || send_record(pair, &out, record) != 0) {
            fail_timeout("echo side");
            return EXIT_TIMEOUT;
        }
        release_record(&in);
    }
    return 0;
}

int main(int argc, char **argv) {
    static const long count_min[2] = {1, 0};
    struct pair pair;
    uint64_t counts[2];
    parse_command_line(argc, argv, "ring_pingpong CORE_A CORE_B ITERATIONS WARMUP TIMEOUT_S > samples.bin",
                       count_min, &pair, counts);
    uint64_t iterations = counts[0], warmup = counts[1];
    int64_t *samples = allocate_samples(iterations);
    struct rings *rings = map_shared(sizeof *rings);

    if (fork_pinned(&pair))
        _exit(echo(&pair, rings, warmup + iterations));

    struct side out = {&rings->ping, 0, 0}, in = {&rings->pong, 0, 0};
    struct record message;
    memset(&message, 0xab, sizeof message);
    int status = 0;
    for (uint64_t seq = 1; seq <= warmup + iterations; seq++) {
        int64_t start = now_ns();
        const struct record *echoed = NULL;
        if (send_record(&pair, &out, &message) == 0)
            echoed = await_record(&pair, &in);
        if (echoed == NULL) {
            fail_timeout("initiator side");
            kill(pair.child, SIGKILL);
            status = EXIT_TIMEOUT;
            break;
        }
        uint64_t echoed_seq = atomic_load_explicit(&echoed->seq, memory_order_relaxed);
        release_record(&in);
        if (seq > warmup)
            samples[seq - warmup - 1] = now_ns() - start;
        if (echoed_seq != seq) {
            fprintf(stderr, "initiator: echo carried seq %llu, want %llu\n", (unsigned long long)echoed_seq,
                    (unsigned long long)seq);
            kill(pair.child, SIGKILL);
            status = EXIT_CORRUPT;
            break;
        }
    }
    return finish_samples(&pair, status, samples, iterations);
}
