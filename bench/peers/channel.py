"""What every peer module provides, and the one end of a channel a pinned process holds.

A peer module (mp_pipe, mp_queue, ...) is four functions:

    require() -> None
        Raise PeerUnavailable with a one-line reason when the mechanism cannot be
        used here (library not installed). Called in the parent before anything starts.
    create_channel(ctx, batch) -> spec
        In the parent: make a duplex channel whose messages carry up to `batch`
        records. `spec` is handed to both children as a Process argument, so it may
        hold multiprocessing objects (queues, connections) as well as plain names.
    open_endpoint(spec, side, batch, shared_core) -> Endpoint
        In a child: side "a" (initiator / producer) or "b" (echo / consumer).
        `shared_core` says both sides run on one core, so a polling receive must
        yield the core instead of spinning out its time slice.
    destroy_channel(spec) -> None
        In the parent, after both children are gone: remove names, files, queues.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

RECORD_SIZE = 64
"""Bytes of one record: one cache line, the size of a tickpipe record."""


class PeerUnavailable(Exception):
    """The peer cannot run here; str(exc) is the one-line reason (e.g. "pyzmq not installed")."""


def require_module(module: str, package: str) -> None:
    """PeerUnavailable("<package> not installed") unless `module` imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise PeerUnavailable(f"{package} not installed") from None


def pack_records(n_records: int) -> bytes:
    """A message of n records: one bytes object of n * 64 bytes."""
    return b"\xab" * (RECORD_SIZE * n_records)


def count_records(message: bytes) -> int:
    """Records in a message made by pack_records."""
    return len(message) // RECORD_SIZE


def _nothing_to_do() -> None:
    pass


@dataclass
class Endpoint:
    """One process's end of a duplex channel.

    send(message) blocks until the mechanism took it; recv() blocks (or polls) until a
    message arrives and returns it; pack(n) builds the message that carries n records
    and count(message) says how many a received one carried. connect() runs once both
    ends are open and before anything is measured, for a mechanism that attaches its
    ends lazily; close() runs once both sides are done. The bench loops call
    these through local names, so a peer should hand over bound methods of the
    library where it can, not wrappers: every extra Python call shows up in the RTT.
    """

    send: Callable[[Any], Any]
    recv: Callable[[], Any]
    pack: Callable[[int], Any] = pack_records
    count: Callable[[Any], int] = count_records
    connect: Callable[[], None] = _nothing_to_do
    close: Callable[[], None] = _nothing_to_do


def outgoing_first(pair: tuple[Any, Any], side: str) -> tuple[Any, Any]:
    """(outgoing, incoming) for `side` of a channel spec given as (a→b, b→a)."""
    return pair if side == "a" else (pair[1], pair[0])
