"""`tickpipe bench throughput`: 64-byte records/s from one pinned process to another.

Rows: tickpipe-single (one record per claim/publish), tickpipe-batch64, the C
ring reference (c-ring-single, c-ring-batch64), the C ring under the previous
publication rule (c-ring-index-*, for comparison) and the peers, one at a time
and batched where the mechanism allows.
"""

from tickpipe.bench import ring_runs
from tickpipe.bench.stats import machine_info, skipped_row

BATCH = 64
# --smoke (tests): twice a ring's capacity, the fewest records that still wrap the ring
# and make the producer wait for room (quick: 200,000); the figures mean nothing.
SMOKE_RECORDS = 2 * ring_runs.ENGINE_RING_CAPACITY


def run_throughput(cores, n_records: int, *, peers: bool = True,
                   progress=lambda message: None) -> dict:
    rows = []
    # Spinning needs a core per side; on one shared core each side yields instead.
    wait = "yield" if cores[0] == cores[1] else "spin"
    for label, batch in (("single", 1), (f"batch{BATCH}", BATCH)):
        progress(f"tickpipe-{label}: {n_records:,} records")
        rate = ring_runs.tickpipe_throughput(cores, wait, n_records, batch)
        rows.append({"name": f"tickpipe-{label}", "records_per_s": rate})
    rows.extend(_c_ring_rows(cores, n_records, progress))
    if peers:
        rows.extend(_peer_rows(cores, max(n_records // 100, 10_000), progress))
    return {"results": rows, "machine": machine_info(cores, wait=wait)}


def _c_ring_rows(cores, n_records, progress):
    try:
        from tickpipe.bench.native import NativeUnavailable, c_ring_throughput
    except ImportError as exc:
        return [skipped_row("c-ring", f"bench.native missing: {exc}")]
    rows = []
    for prefix, by_index in (("c-ring", False), ("c-ring-index", True)):
        for label, batch in (("single", 1), (f"batch{BATCH}", BATCH)):
            name = f"{prefix}-{label}"
            progress(f"{name}: {n_records:,} records")
            try:
                rows.append({"name": name, "records_per_s": c_ring_throughput(
                    tuple(cores), n_records, batch, publish_by_index=by_index)})
            except (NativeUnavailable, TimeoutError) as exc:
                rows.append(skipped_row(name, str(exc)))
    return rows


def _peer_rows(cores, n_records, progress):
    try:
        from tickpipe.bench.peers import PEER_NAMES, PeerUnavailable, peer_throughput
    except ImportError as exc:
        return [skipped_row("peers", f"bench.peers missing: {exc}")]
    rows = []
    for name in PEER_NAMES:
        for label, batch in (("single", 1), (f"batch{BATCH}", BATCH)):
            progress(f"{name}-{label}: {n_records:,} records")
            try:
                rows.append({"name": f"{name}-{label}",
                             "records_per_s": peer_throughput(name, tuple(cores), n_records, batch)})
            except PeerUnavailable as exc:
                rows.append(skipped_row(f"{name}-{label}", str(exc)))
    return rows
