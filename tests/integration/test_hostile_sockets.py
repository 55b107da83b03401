"""Sockets that do what the page never does, against uvicorn serving the real app (the
Procfile's HubProtocol): a client that sends is closed, a session gets a bounded number of
sockets, and a frame over the size limit is refused before it is buffered."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tasks.data.users import add_user
from tasks.settings import Settings
from tests.support.raw_socket import sign_in_cookie
from tests.support.served import ServedApp

PASSWORD = "correct horse battery"


@pytest.fixture
def served(settings: Settings, runtime: object) -> Iterator[ServedApp]:
    server = ServedApp(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cookie(served: ServedApp, engine: Engine) -> str:
    with engine.begin() as conn:
        add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)
    return sign_in_cookie(served.base_url, "pat@example.com", PASSWORD)


@contextlib.contextmanager
def open_socket(served: ServedApp, cookie: str) -> Iterator[ClientConnection]:
    url = served.base_url.replace("http", "ws") + "/ws/jobs?tab=mine"
    with connect(url, additional_headers={"cookie": cookie, "origin": served.base_url}) as ws:
        ws.recv(timeout=10)  # the snapshot: the hub holds the socket
        yield ws


def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_a_socket_that_sends_is_closed(served: ServedApp, cookie: str) -> None:
    with open_socket(served, cookie) as ws:
        ws.send("x")
        assert close_code(ws) == 1008


def test_a_frame_over_the_size_limit_is_refused(served: ServedApp, cookie: str) -> None:
    with open_socket(served, cookie) as ws:
        ws.send("x" * 5000)
        assert close_code(ws) == 1009  # message too big, not read into memory


def test_a_session_gets_a_bounded_number_of_sockets(
    served: ServedApp, cookie: str, engine: Engine
) -> None:
    limit = served.settings.sockets_per_session
    with contextlib.ExitStack() as stack:
        for _ in range(limit):
            stack.enter_context(open_socket(served, cookie))
        with pytest.raises(InvalidStatus) as refused, open_socket(served, cookie):
            pass
        assert refused.value.response.status_code == 403
        with engine.begin() as conn:
            add_user(conn, "pia@example.com", "Pia Power", "power_user", PASSWORD)
        other = sign_in_cookie(served.base_url, "pia@example.com", PASSWORD)
        with open_socket(served, other):  # another session is not held up
            pass
    with open_socket(served, cookie):  # the session's sockets closed: room again
        pass
