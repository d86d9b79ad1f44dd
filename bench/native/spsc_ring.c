/* spsc_ring.c: the throughput reference, a minimal single-producer/single-consumer
 * ring of 64-byte records in shared memory between two pinned processes.
 *
 * Same rules as tickpipe's rings (shm_layouts/ring_header.py): each record publishes
 * itself, its seq word (= position + 1) stored last with release ordering, and the
 * consumer reads a slot once an acquire load of its seq says position + 1; the
 * producer still stores head once per batch, the consumer frees slots with one
 * release store of tail per batch, and the producer re-reads tail only when its cached
 * copy says the ring is full. head and tail each live alone in 128 bytes.
 *
 * Built with -DPUBLISH_BY_INDEX it is the previous rule, kept as a row for comparison:
 * a record is visible only after the producer's release store of head, which the
 * consumer re-reads when its cached copy says the ring is empty.
 *
 * usage: spsc_ring CORE_PRODUCER CORE_CONSUMER N_RECORDS BATCH TIMEOUT_S
 * stdout: one line "RECORDS ELAPSED_NS": records the consumer received after its first
 * receipt, and the ns from its first receipt to its last (CLOCK_MONOTONIC).
 * Exit codes: see pinned_pair.c.
 */
#include "pinned_pair.c"

/* The engine's default ring_capacity (engine/config.py; a test keeps the two equal), so
 * this reference and the tickpipe rows run rings of one size. Depth matters: the
 * further apart the two sides write and read, the fewer lines they fight over
 * (measured here, batch 64: 99 M records/s at 1024 slots, 155 M/s at 65536). */
#define CAPACITY 65536u
#define MASK (CAPACITY - 1)

struct ring {
    _Alignas(128) _Atomic uint64_t head; /* records published; written by the producer only */
    _Alignas(128) _Atomic uint64_t tail; /* records released; written by the consumer only */
    _Alignas(128) struct record slots[CAPACITY];
};

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static int produce(const struct pair *pair, struct ring *ring, uint64_t n_records, uint64_t batch) {
    uint64_t head = 0, cached_tail = 0;
    struct record message;
    memset(&message, 0xab, sizeof message);
    while (head < n_records) {
        uint64_t count = min_u64(batch, n_records - head);
        if (head + count - cached_tail > CAPACITY) {
            /* Looks full: wait until the consumer has freed room for the whole batch. */
            int timed_out = 0;
            while (head + count - cached_tail > CAPACITY && !timed_out)
                cached_tail = spin_until_changed(pair, &ring->tail, cached_tail, &timed_out);
            if (timed_out) {
                fail_timeout("producer");
                return EXIT_TIMEOUT;
            }
        }
        for (uint64_t i = 0; i < count; i++) {
            struct record *slot = &ring->slots[(head + i) & MASK];
            memcpy(slot->payload, message.payload, sizeof slot->payload);
#ifdef PUBLISH_BY_INDEX
            atomic_store_explicit(&slot->seq, head + i + 1, memory_order_relaxed);
#else
            atomic_store_explicit(&slot->seq, head + i + 1, memory_order_release); /* publishes it */
#endif
        }
        head += count;
        atomic_store_explicit(&ring->head, head, memory_order_release); /* one store per batch */
    }
    return 0;
}

static int consume(const struct pair *pair, struct ring *ring, uint64_t n_records, uint64_t batch) {
    uint64_t tail = 0, first_count = 0, checksum = 0;
#ifdef PUBLISH_BY_INDEX
    uint64_t cached_head = 0;
#endif
    int64_t first_receipt = 0;
    struct record copy;
    while (tail < n_records) {
#ifdef PUBLISH_BY_INDEX
        if (cached_head == tail) {
            int timed_out = 0;
            cached_head = spin_until_changed(pair, &ring->head, tail, &timed_out);
            if (timed_out) {
                fail_timeout("consumer");
                return EXIT_TIMEOUT;
            }
        }
        uint64_t count = min_u64(batch, cached_head - tail);
#else
        /* The run of published slots from tail on (at most a batch); wait on the first. */
        if (spin_until_equal(pair, &ring->slots[tail & MASK].seq, tail + 1) != 0) {
            fail_timeout("consumer");
            return EXIT_TIMEOUT;
        }
        uint64_t count = 1, wanted = min_u64(batch, n_records - tail);
        while (count < wanted && atomic_load_explicit(&ring->slots[(tail + count) & MASK].seq,
                                                      memory_order_acquire) == tail + count + 1)
            count++;
#endif
        for (uint64_t i = 0; i < count; i++) {
            const struct record *slot = &ring->slots[(tail + i) & MASK];
            uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed) - 1;
            if (seq != tail + i) {
                fprintf(stderr, "consumer: slot %llu holds seq %llu\n", (unsigned long long)(tail + i),
                        (unsigned long long)seq);
                return EXIT_CORRUPT;
            }
            memcpy(copy.payload, slot->payload, sizeof copy.payload); /* take the record out */
            checksum += copy.payload[seq % sizeof copy.payload];
        }
        tail += count;
        atomic_store_explicit(&ring->tail, tail, memory_order_release); /* one store per batch */
        if (first_receipt == 0) {
            first_receipt = now_ns();
            first_count = count;
        }
    }
    int64_t elapsed = now_ns() - first_receipt;
    if (checksum != n_records * 0xab) {
        fprintf(stderr, "consumer: payload checksum %llu, want %llu\n", (unsigned long long)checksum,
                (unsigned long long)(n_records * 0xab));
        return EXIT_CORRUPT;
    }
    printf("%llu %lld\n", (unsigned long long)(n_records - first_count), (long long)elapsed);
    return 0;
}

int main(int argc, char **argv) {
    static const long count_min[2] = {1, 1};
    struct pair pair;
    uint64_t counts[2];
    parse_command_line(argc, argv, "spsc_ring CORE_PRODUCER CORE_CONSUMER N_RECORDS BATCH TIMEOUT_S", count_min,
                       &pair, counts);
    uint64_t n_records = counts[0], batch = counts[1];
    if (batch > CAPACITY) {
        fprintf(stderr, "batch %llu exceeds the ring's capacity %u\n", (unsigned long long)batch, CAPACITY);
        return EXIT_USAGE;
    }
    struct ring *ring = map_shared(sizeof *ring);

    /* The child consumes, so the parent can reap it and pass its exit status on. */
    if (fork_pinned(&pair))
        _exit(consume(&pair, ring, n_records, batch) == 0 && fflush(stdout) == 0 ? 0 : EXIT_CORRUPT);

    int status = produce(&pair, ring, n_records, batch);
    if (status != 0)
        kill(pair.child, SIGKILL);
    int child_status = wait_child(&pair);
    return status != 0 ? status : child_status;
}
