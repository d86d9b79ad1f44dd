"""pyzmq-ipc: one pair of zmq PAIR sockets over ipc:// (a Unix domain socket path).

Side "a" binds, side "b" connects. zmq's I/O thread does the socket work, so every
message crosses a thread hop on each side; that is what a pyzmq user gets. Batch N:
one frame of N*64 bytes (send_multipart with N frames would pay per frame again).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from tickpipe.bench.peers.channel import Endpoint, require_module


def require() -> None:
    require_module("zmq", "pyzmq")


def create_channel(ctx, batch):
    return os.path.join(tempfile.mkdtemp(prefix="tickpipe-zmq-"), "pair.sock")


def open_endpoint(spec, side, batch, shared_core) -> Endpoint:
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.PAIR)
    # Linger 0 so close never blocks on a dead peer; the harness's end barrier makes
    # sure nothing is still queued when the sockets close.
    socket.setsockopt(zmq.LINGER, 0)
    address = f"ipc://{spec}"
    if side == "a":
        socket.bind(address)
    else:
        socket.connect(address)

    def close() -> None:
        socket.close()
        context.term()

    return Endpoint(send=socket.send, recv=socket.recv, close=close)


def destroy_channel(spec) -> None:
    shutil.rmtree(os.path.dirname(spec), ignore_errors=True)
