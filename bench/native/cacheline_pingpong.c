/* cacheline_pingpong.c: the physical floor of a shared-memory round trip.
 *
 * Two processes pinned to two cores share two 64-byte records. The parent writes the
 * payload and then seq into its line (release); the child spins until it sees that
 * seq (acquire), copies the payload into its own line and writes the seq back there;
 * the parent spins until it sees it. One round trip moves each line from one core's
 * cache to the other's once, as any shared-memory message and its reply must.
 *
 * usage: cacheline_pingpong CORE_A CORE_B ITERATIONS WARMUP TIMEOUT_S > samples.bin
 * stdout: ITERATIONS native-endian int64 round-trip times in ns (CLOCK_MONOTONIC),
 * one per iteration after WARMUP unsampled ones. Exit codes: see pinned_pair.c.
 */
#include "pinned_pair.c"

/* Each line alone in 128 bytes: the adjacent-line prefetcher pulls lines in pairs,
 * and the two sides must not share a pair. */
struct pingpong {
    struct record ping; /* written by the parent only */
    uint8_t pad_ping[128 - sizeof(struct record)];
    struct record pong; /* written by the child only */
    uint8_t pad_pong[128 - sizeof(struct record)];
};

/* Copy src's payload into dst, then publish seq: the release store orders the copy first. */
static void publish(struct record *dst, const struct record *src_payload, uint64_t seq) {
    memcpy(dst->payload, src_payload->payload, sizeof dst->payload);
    atomic_store_explicit(&dst->seq, seq, memory_order_release);
}

static int echo(const struct pair *pair, struct pingpong *lines, uint64_t round_trips) {
    for (uint64_t seq = 1; seq <= round_trips; seq++) {
        if (spin_until_equal(pair, &lines->ping.seq, seq) != 0) {
            fail_timeout("echo side");
            return EXIT_TIMEOUT;
        }
        publish(&lines->pong, &lines->ping, seq);
    }
    return 0;
}

int main(int argc, char **argv) {
    static const long count_min[2] = {1, 0};
    struct pair pair;
    uint64_t counts[2];
    parse_command_line(argc, argv, "cacheline_pingpong CORE_A CORE_B ITERATIONS WARMUP TIMEOUT_S > samples.bin",
                       count_min, &pair, counts);
    uint64_t iterations = counts[0], warmup = counts[1];
    int64_t *samples = allocate_samples(iterations);
    struct pingpong *lines = map_shared(sizeof *lines);
    struct record message;
    memset(&message, 0xab, sizeof message);

    if (fork_pinned(&pair))
        _exit(echo(&pair, lines, warmup + iterations));

    int status = 0;
    for (uint64_t seq = 1; seq <= warmup + iterations; seq++) {
        int64_t start = now_ns();
        publish(&lines->ping, &message, seq);
        if (spin_until_equal(&pair, &lines->pong.seq, seq) != 0) {
            fail_timeout("initiator side");
            kill(pair.child, SIGKILL);
            status = EXIT_TIMEOUT;
            break;
        }
        if (seq > warmup)
            samples[seq - warmup - 1] = now_ns() - start;
    }
    return finish_samples(&pair, status, samples, iterations);
}
