"""One side of a ring bench, run as its own pinned process: `python -m tickpipe.bench.ring_side ROLE ...`.

Roles: ping / pong (round trip), produce / consume (throughput). The parent
creates the segment and its rings; this process attaches, pins itself, runs
one jitted loop and writes its figures to --out as a .npy file.
"""

import argparse
import os
import sys

import numpy as np

from tickpipe.bench import ring_loops
from tickpipe.engine.idle import check_wait, make_idle_state
from tickpipe.engine.ring import HANDLE_SLOTS, consumer_handle, producer_handle, ring_words as _words
from tickpipe.engine.segment import attach_segment


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickpipe.bench.ring_side")
    parser.add_argument("role", choices=["ping", "pong", "produce", "consume"])
    parser.add_argument("segment")
    parser.add_argument("--core", type=int, required=True)
    parser.add_argument("--wait", default="spin")
    parser.add_argument("--count", type=int, required=True, help="records (ping: measured iterations)")
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    os.sched_setaffinity(0, {args.core})
    segment = attach_segment(args.segment)
    strategy = check_wait(args.wait)
    if args.role in ("ping", "pong"):
        out_ring, in_ring = ("ping", "pong") if args.role == "ping" else ("pong", "ping")
    else:
        out_ring = in_ring = "data"
    in_handle = consumer_handle(segment, in_ring) if args.role != "produce" else None
    doorbell = int(in_handle[2]) if in_handle is not None else 0
    state = make_idle_state(strategy, doorbell)
    inputs = in_handle.reshape(1, -1) if in_handle is not None else np.zeros((0, HANDLE_SLOTS), np.int64)
    if in_handle is not None:
        in_handle = inputs[0]  # the same memory the idle re-check reads

    if args.role == "ping":
        samples = np.zeros(args.count, dtype=np.int64)
        errors = ring_loops.ping_loop(producer_handle(segment, out_ring), _words(segment, out_ring),
                                      in_handle, _words(segment, in_ring), state, inputs,
                                      samples, args.warmup)
        result = samples
    elif args.role == "pong":
        errors = ring_loops.pong_loop(in_handle, _words(segment, in_ring),
                                      producer_handle(segment, out_ring), _words(segment, out_ring),
                                      state, inputs, args.count + args.warmup)
        result = None
    elif args.role == "produce":
        errors = ring_loops.produce_loop(producer_handle(segment, out_ring), _words(segment, out_ring),
                                         state, args.count, args.batch)
        result = None
    else:
        times = np.zeros(2, dtype=np.int64)
        errors = ring_loops.consume_loop(in_handle, _words(segment, in_ring), state, inputs,
                                         args.count, args.batch, times)
        result = times
    if args.out and result is not None:
        np.save(args.out, result)
    if errors:
        print(f"{args.role}: {errors} records out of order or torn", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
