"""mp.Pipe: one duplex multiprocessing Connection (a Unix socketpair), the stdlib's first pick.

send_bytes/recv_bytes rather than send/recv: the payload is bytes already, and
pickling it would measure pickle, not the pipe. Batch N: one send_bytes of N*64
bytes, i.e. one length-prefixed frame and one write(2) for the whole batch.
"""

from __future__ import annotations

from tickpipe.bench.peers.channel import Endpoint


def require() -> None:
    """Always available: it is the standard library."""


def create_channel(ctx, batch):
    return ctx.Pipe(duplex=True)


def open_endpoint(spec, side, batch, shared_core) -> Endpoint:
    mine, other = spec if side == "a" else (spec[1], spec[0])
    other.close()  # each child inherited both ends; keep only its own
    return Endpoint(send=mine.send_bytes, recv=mine.recv_bytes, close=mine.close)


def destroy_channel(spec) -> None:
    for connection in spec:
        connection.close()
