"""`tickpipe bench ringrtt`: round trip of one 64-byte record between two pinned processes.

Rows, all measured in this one run under the same pinning:
- tickpipe-<wait> for each wait strategy (numba loops on both sides);
- c-cacheline: a C cache-line ping-pong compiled on the spot (the physical limit);
- c-ring: the same round trip through two C rings built like tickpipe's (the floor
  of the ring design: each record published by its own seq word, one line a message);
- c-ring-index: the C rings under the previous rule, a record published by head
  only (the reader loads head, then the record: two serial misses), for comparison;
- the peers a Python user would pick instead (bench/peers), skipped with a reason
  when not installed.
"""

from tickpipe.bench import ring_runs
from tickpipe.bench.stats import latency_row, machine_info, skipped_row

TICKPIPE_WAITS = ("spin", "yield", "backoff", "block")
# A sleeping round trip costs two futex wakes (~tens of us): fewer iterations.
SLEEPING_WAITS = ("backoff", "block")
# Native reference rows: name -> the bench.native function that samples it.
NATIVE_RTT = {"c-cacheline": "c_cacheline_rtt_samples", "c-ring": "c_ring_rtt_samples",
              "c-ring-index": "c_ring_index_rtt_samples"}
# --smoke (tests): a few round trips a row (sleeping rows: a tenth), a few unmeasured ones
# first. Every row and side runs, every path of the loops (the warm-up, the sampled
# trips, a sleeping side's futex wait); the figures mean nothing. Few matters under
# load: a yielding side gives its core away each trip (milliseconds a trip).
SMOKE_ITERATIONS = 20
SMOKE_WARMUP = 10


def run_ringrtt(cores, iterations: int, *, waits=TICKPIPE_WAITS, peers: bool = True,
                warmup: int | None = None, progress=lambda message: None) -> dict:
    """warmup: unmeasured round trips before each row's (default: tickpipe's rows as many
    as they measure, 10,000 at most; the C rows' and the peers' own defaults)."""
    rows = []
    for wait in waits:
        count = iterations // 10 if wait in SLEEPING_WAITS else iterations
        progress(f"tickpipe-{wait}: {count:,} round trips")
        if wait == "spin" and cores[0] == cores[1]:
            # Each side would spin out its whole time slice before the other ran:
            # milliseconds a round trip, and a figure that means nothing.
            rows.append(skipped_row("tickpipe-spin", f"both sides on core {cores[0]}: a spinning "
                                    "side holds the core its peer needs (give two with --cores)"))
            continue
        samples = ring_runs.tickpipe_rtt_samples(
            cores, wait, count, warmup=min(10_000, count) if warmup is None else warmup)
        rows.append(latency_row(f"tickpipe-{wait}", samples))
    for name in NATIVE_RTT:
        progress(f"{name}: {iterations:,} round trips")
        rows.append(_native_row(name, cores, iterations, warmup))
    if peers:
        rows.extend(_peer_rows(cores, max(iterations // 20, 1000), progress, warmup))
    return {"results": rows, "machine": machine_info(cores)}


def _native_row(name, cores, iterations, warmup=None):
    try:
        from tickpipe.bench import native
    except ImportError as exc:
        return skipped_row(name, f"bench.native missing: {exc}")
    kwargs = {} if warmup is None else {"warmup": warmup}
    try:
        return latency_row(name, getattr(native, NATIVE_RTT[name])(tuple(cores), iterations,
                                                                   **kwargs))
    except (native.NativeUnavailable, TimeoutError) as exc:
        return skipped_row(name, str(exc))


def _peer_rows(cores, iterations, progress, warmup=None):
    try:
        from tickpipe.bench.peers import PEER_NAMES, PeerUnavailable, peer_rtt_samples
    except ImportError as exc:
        return [skipped_row("peers", f"bench.peers missing: {exc}")]
    rows = []
    for name in PEER_NAMES:
        progress(f"{name}: {iterations:,} round trips")
        try:
            kwargs = {} if warmup is None else {"warmup": warmup}
            rows.append(latency_row(name, peer_rtt_samples(name, tuple(cores), iterations,
                                                           **kwargs)))
        except PeerUnavailable as exc:
            rows.append(skipped_row(name, str(exc)))
    return rows
