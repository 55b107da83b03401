"""A signed-in session's cookie, and a WebSocket to the hub opened by hand on a plain TCP
socket, for tests that need to control reading (a viewer that stops reading)."""

from __future__ import annotations

import socket

import httpx


def sign_in_cookie(base_url: str, email: str, password: str) -> str:
    """The session cookie of `email`, signed in through the form."""
    response = httpx.post(
        base_url + "/login",
        data={"email": email, "password": password},
        headers={"Origin": base_url},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return f"jobdeck_session={response.cookies['jobdeck_session']}"


def open_raw_socket(
    base_url: str, cookie: str, query: str = "tab=all", receive_buffer: int | None = None
) -> socket.socket:
    """A WebSocket to the hub, handshake done by hand, that reads nothing more unless told
    (a viewer whose tab stopped reading). `receive_buffer`: a small kernel buffer for it, so
    that the hub's side fills up sooner."""
    host = base_url.removeprefix("http://")
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", int(host.rsplit(":", 1)[1])))
    sock.sendall(
        (
            f"GET /ws/jobs?{query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {base_url}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"the hub closed the handshake: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"the hub refused the socket: {head!r}")
    return sock
