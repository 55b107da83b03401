"""The ports that tests and `make run` start servers on are out of the kernel's way."""

from __future__ import annotations

import socket

from server.embedded_redis import _ephemeral_ports, free_port


def test_free_port_is_never_one_an_outgoing_connection_could_take() -> None:
    # A port from the ephemeral range can be handed to a Redis or PostgreSQL client between
    # free_port() and the server's bind (the server then fails, "address in use"), or to a
    # client polling it, which then connects to itself and mistakes itself for the server.
    ephemeral = _ephemeral_ports()
    ports = {free_port() for _ in range(200)}
    assert not ports & set(ephemeral), sorted(ports & set(ephemeral))[:5]
    assert len(ports) > 150  # chosen at random, not the same few each time


def test_free_port_skips_a_port_that_is_taken() -> None:
    taken = [socket.socket() for _ in range(50)]
    try:
        held = set()
        for sock in taken:
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
            held.add(sock.getsockname()[1])
        assert not {free_port() for _ in range(500)} & held
    finally:
        for sock in taken:
            sock.close()
