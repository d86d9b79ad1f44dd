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


def run_ringrtt(cores, iterations: int, *, waits=TICKPIPE_WAITS, peers: bool = True,
                progress=lambda message: None) -> dict:
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
        samples = ring_runs.tickpipe_rtt_samples(cores, wait, count, warmup=min(10_000, count))
        rows.append(latency_row(f"tickpipe-{wait}", samples))
    for name in NATIVE_RTT:
        progress(f"{name}: {iterations:,} round trips")
        rows.append(_native_row(name, cores, iterations))
    if peers:
        rows.extend(_peer_rows(cores, max(iterations // 20, 1000), progress))
    return {"results": rows, "machine": machine_info(cores)}


def _native_row(name, cores, iterations):
    try:
        from tickpipe.bench import native
    except ImportError as exc:
        return skipped_row(name, f"bench.native missing: {exc}")
    try:
        return latency_row(name, getattr(native, NATIVE_RTT[name])(tuple(cores), iterations))
    except (native.NativeUnavailable, TimeoutError) as exc:
        return skipped_row(name, str(exc))


def _peer_rows(cores, iterations, progress):
    try:
        from tickpipe.bench.peers import PEER_NAMES, PeerUnavailable, peer_rtt_samples
    except ImportError as exc:
        return [skipped_row("peers", f"bench.peers missing: {exc}")]
    rows = []
    for name in PEER_NAMES:
        progress(f"{name}: {iterations:,} round trips")
        try:
            rows.append(latency_row(name, peer_rtt_samples(name, tuple(cores), iterations)))
        except PeerUnavailable as exc:
            rows.append(skipped_row(name, str(exc)))
    return rows
