"""A free TCP port on 127.0.0.1, for what runs a server beside the engine on loopback
(fix-sim, the benches' peers, the tests): the kernel picks it; the caller binds it soon
after (another process could take it in between: rare, and a bind error says so)."""

import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
