"""posix_ipc-mq: two POSIX message queues (mq_send/mq_receive), one per direction.

The queues are created by name in the parent with the system's default depth and a
message size of batch*64 bytes; each child opens them by name. Batch N: one message
of N*64 bytes. The kernel caps the message size (/proc/sys/fs/mqueue/msgsize_max,
8 KiB by default, i.e. 128 records) unless the process may raise it.
"""

from __future__ import annotations

import os
import secrets

from tickpipe.bench.peers.channel import RECORD_SIZE, Endpoint, PeerUnavailable, outgoing_first, require_module


def require() -> None:
    require_module("posix_ipc", "posix_ipc")


def create_channel(ctx, batch):
    import posix_ipc

    stem = f"/tickpipe-bench-{os.getpid()}-{secrets.token_hex(4)}"
    names = (f"{stem}-ab", f"{stem}-ba")
    created = []
    try:
        for name in names:
            posix_ipc.MessageQueue(
                name,
                posix_ipc.O_CREX,
                max_messages=posix_ipc.QUEUE_MESSAGES_MAX_DEFAULT,
                max_message_size=batch * RECORD_SIZE,
            ).close()
            created.append(name)
    except (ValueError, OSError, posix_ipc.Error) as exc:
        destroy_channel(created)
        raise PeerUnavailable(
            f"posix_ipc-mq: cannot create a queue of {batch * RECORD_SIZE}-byte messages: {exc}"
        ) from None
    return names


def open_endpoint(spec, side, batch, shared_core) -> Endpoint:
    import posix_ipc

    out_name, in_name = outgoing_first(spec, side)
    outbox, inbox = posix_ipc.MessageQueue(out_name), posix_ipc.MessageQueue(in_name)
    receive = inbox.receive

    def recv() -> bytes:
        return receive()[0]  # receive() returns (message, priority)

    def close() -> None:
        outbox.close()
        inbox.close()

    return Endpoint(send=outbox.send, recv=recv, close=close)


def destroy_channel(spec) -> None:
    import posix_ipc

    for name in spec:
        try:
            posix_ipc.unlink_message_queue(name)
        except posix_ipc.ExistentialError:
            pass
