"""faster-fifo: two faster_fifo.Queues (a circular buffer in shared memory guarded by a
process-shared mutex and condition variables), one per direction.

Messages are pickled, as with mp.Queue, but no feeder thread is involved. Batch 1
uses put/get; batch N uses put_many with a list of N 64-byte records and
get_many(max_messages_to_get=N): faster-fifo's own batching, one lock round per call.
put_many still pickles each record and takes its address through ctypes in Python,
so its batches gain little over put.
"""

from __future__ import annotations

from functools import partial

from tickpipe.bench.peers.channel import RECORD_SIZE, Endpoint, outgoing_first, pack_records, require_module

_QUEUE_BYTES = 1_000_000
# A pickled 64-byte bytes object plus faster-fifo's length prefix stays under this.
_PICKLED_RECORD_BYTES = 2 * RECORD_SIZE
# A blocked put/get gives up after this long; the harness's own deadline kills a
# hung side well before a healthy run would ever wait this long for one message.
_BLOCK_TIMEOUT_S = 1000.0


def require() -> None:
    require_module("faster_fifo", "faster-fifo")


def create_channel(ctx, batch):
    import faster_fifo

    # Room for several batches, so put_many never waits for more space than the
    # queue can ever have.
    size = max(_QUEUE_BYTES, 8 * batch * _PICKLED_RECORD_BYTES)
    return (faster_fifo.Queue(max_size_bytes=size), faster_fifo.Queue(max_size_bytes=size))


def _pack_record_list(n_records: int) -> list[bytes]:
    return [pack_records(1)] * n_records


def open_endpoint(spec, side, batch, shared_core) -> Endpoint:
    outbox, inbox = outgoing_first(spec, side)
    if batch == 1:
        return Endpoint(
            send=partial(outbox.put, timeout=_BLOCK_TIMEOUT_S),
            recv=partial(inbox.get, timeout=_BLOCK_TIMEOUT_S),
        )
    return Endpoint(
        send=partial(outbox.put_many, timeout=_BLOCK_TIMEOUT_S),
        recv=partial(inbox.get_many, timeout=_BLOCK_TIMEOUT_S, max_messages_to_get=batch),
        pack=_pack_record_list,
        count=len,
    )


def destroy_channel(spec) -> None:
    for queue in spec:
        queue.close()
