"""iceoryx2-python: iceoryx2's Python binding, zero-copy publish-subscribe, polled.

Two services, one per direction ("<stem>/a2b", "<stem>/b2a"), each carrying a byte
slice of up to batch*64 bytes. The receiver polls subscriber.receive() in a loop: it
never sleeps in the kernel, which is why it is not in BLOCKING_PEERS. A sender loans
a sample in shared memory and copies the message in; a receiver copies the payload
out to bytes, as a Python user who keeps the data past the sample's life must.
Safe overflow is off and the publisher retries until delivered, so a full subscriber
buffer applies backpressure instead of silently dropping records. Batch N: one
sample of N*64 bytes.

Both sides on one core work but crawl: a blocked publisher's adaptive wait ends in
sleeps, and a polling receiver can only yield to it. Polling wants a core per side.
"""

from __future__ import annotations

import os
import secrets

from tickpipe.bench.peers.channel import RECORD_SIZE, Endpoint, outgoing_first, pack_records, require_module

# Samples a subscriber may hold unread; enough to keep a one-way stream flowing.
_SUBSCRIBER_BUFFER = 256


def require() -> None:
    require_module("iceoryx2", "iceoryx2")


def create_channel(ctx, batch):
    # Each child opens (or creates) the services by name; nothing lives in the parent.
    stem = f"tickpipe/bench/{os.getpid()}-{secrets.token_hex(4)}"
    return (f"{stem}/a2b", f"{stem}/b2a")


def open_endpoint(spec, side, batch, shared_core) -> Endpoint:
    import ctypes

    import iceoryx2 as iox2

    iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)

    def open_service(name):
        return (
            node.service_builder(iox2.ServiceName.new(name))
            .publish_subscribe(iox2.Slice[ctypes.c_uint8])
            .enable_safe_overflow(False)
            .subscriber_max_buffer_size(_SUBSCRIBER_BUFFER)
            .history_size(0)
            .open_or_create()
        )

    out_name, in_name = outgoing_first(spec, side)
    publisher = (
        open_service(out_name)
        .publisher_builder()
        .initial_max_slice_len(batch * RECORD_SIZE)
        .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
        .create()
    )
    subscriber = open_service(in_name).subscriber_builder().buffer_size(_SUBSCRIBER_BUFFER).create()
    loan, receive, memmove, string_at = publisher.loan_slice_uninit, subscriber.receive, ctypes.memmove, ctypes.string_at

    def send(message: bytes) -> None:
        sample = loan(len(message))
        memmove(sample.payload_ptr, message, len(message))
        sample.assume_init().send()

    def recv() -> bytes:
        while (sample := receive()) is None:
            if shared_core:
                os.sched_yield()  # the sender needs this core to make progress
        return string_at(sample.payload_ptr, sample.header.number_of_elements)

    hello = pack_records(1)

    def connect() -> None:
        # A publisher attaches to a subscriber on its first send, a subscriber to a
        # publisher on its first receive. A send that finds the buffer full before the
        # receiving end has attached is dropped, not blocked (iceoryx2 will not deadlock
        # a sender on an absent receiver), so a stream started cold loses records. One
        # hello each way attaches both ends first; both ports exist by now (barrier).
        send(hello)
        recv()

    def close() -> None:
        # Release the ports' shared memory now, not at interpreter shutdown.
        publisher.delete()
        subscriber.delete()

    return Endpoint(send=send, recv=recv, connect=connect, close=close)


def destroy_channel(spec) -> None:
    """Nothing to remove: a service goes away with the last node that opened it."""
