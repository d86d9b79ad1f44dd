"""mp.Queue: two multiprocessing Queues, one per direction.

put() pickles the object and hands it to a feeder thread that writes it to a pipe
under a lock; get() reads and unpickles it. That thread hop is the price a Queue user
pays, so it is measured as is. Batch N: one put of an N*64-byte bytes object.
"""

from __future__ import annotations

from tickpipe.bench.peers.channel import Endpoint, outgoing_first


def require() -> None:
    """Always available: it is the standard library."""


def create_channel(ctx, batch):
    return (ctx.Queue(), ctx.Queue())


def open_endpoint(spec, side, batch, shared_core) -> Endpoint:
    outbox, inbox = outgoing_first(spec, side)

    def close() -> None:
        outbox.close()
        inbox.close()

    return Endpoint(send=outbox.put, recv=inbox.get, close=close)


def destroy_channel(spec) -> None:
    for queue in spec:
        queue.close()
