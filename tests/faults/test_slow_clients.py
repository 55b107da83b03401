"""Slow and silent clients against the web process as the Procfile runs it: a request head
that never ends, or trickles in, is cut off after the head deadline; an idle keep-alive
connection after the keep-alive timeout; a WebSocket frame over the size limit is refused."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server.ops.http_protocol import HEAD_TIMEOUT_S
from tasks.data.users import add_user
from tests.faults.fault_kit import WebProcess
from tests.support.raw_socket import sign_in_cookie

KEEP_ALIVE_S = 5  # the Procfile's --timeout-keep-alive
MARGIN_S = 5.0


def seconds_until_closed(conn: socket.socket, trickle: bytes = b"", bound_s: float = 60) -> float:
    """Send `trickle` a byte a second (if any) until the server closes; how long that took."""
    started = time.monotonic()
    conn.settimeout(1.0)
    sent = 0
    while time.monotonic() - started < bound_s:
        try:
            if conn.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            if sent < len(trickle):
                conn.sendall(trickle[sent : sent + 1])  # the attack's own pace
                sent += 1
        except ConnectionResetError:
            return time.monotonic() - started
    raise AssertionError(f"the server still held the connection after {bound_s} s")


def test_a_request_head_that_never_ends_is_cut_off(web: Callable[..., WebProcess]) -> None:
    server = web()
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        took = seconds_until_closed(conn)
    print(f"\nhalf-sent head closed after {took:.1f} s")
    assert took < HEAD_TIMEOUT_S + MARGIN_S


def test_a_trickled_request_head_is_cut_off(web: Callable[..., WebProcess]) -> None:
    server = web()
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        took = seconds_until_closed(conn, trickle=b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 60)
    print(f"\ntrickled head closed after {took:.1f} s")
    assert took < HEAD_TIMEOUT_S + MARGIN_S


def test_an_idle_keep_alive_connection_is_closed(web: Callable[..., WebProcess]) -> None:
    server = web()
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        conn.settimeout(10)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        took = seconds_until_closed(conn)
    print(f"\nidle keep-alive connection closed after {took:.1f} s")
    assert took < KEEP_ALIVE_S + MARGIN_S


def test_a_big_websocket_frame_is_refused(web: Callable[..., WebProcess], engine: Engine) -> None:
    with engine.begin() as conn:
        add_user(conn, "pat@example.com", "Pat Power", "power_user", "slow-clients-password")
    server = web()
    cookie = sign_in_cookie(server.base_url, "pat@example.com", "slow-clients-password")
    url = server.base_url.replace("http", "ws") + "/ws/jobs?tab=mine"
    with connect(url, additional_headers={"cookie": cookie, "origin": server.base_url}) as ws:
        ws.recv(timeout=10)
        ws.send("x" * 5000)
        try:
            while True:
                ws.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009
