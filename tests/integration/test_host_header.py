"""The app answers only to BASE_URL's host, against uvicorn serving the real app: a foreign
Host gets 400 from every route, `/metrics` and `/readyz` and redirects included, and a socket
is refused."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tasks.settings import Settings
from tests.support.served import ServedApp


@pytest.fixture
def served(settings: Settings, runtime) -> Iterator[ServedApp]:  # type: ignore[no-untyped-def]
    server = ServedApp(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/healthz", "/login/", "/login"])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example"])
def test_a_foreign_host_gets_400_and_no_redirect(served: ServedApp, path: str, host: str) -> None:
    response = httpx.get(served.url(path), headers={"host": host}, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "evil" not in response.text


def test_our_own_host_is_answered_and_redirects_stay_home(served: ServedApp) -> None:
    assert httpx.get(served.url("/metrics")).status_code == 200  # loopback
    assert httpx.get(served.url("/healthz"), headers={"host": "localhost"}).status_code == 200
    moved = httpx.get(served.url("/login/"), follow_redirects=False)
    assert moved.status_code in (301, 307, 308)
    assert moved.headers["location"].startswith(served.base_url)


def test_a_socket_to_a_foreign_host_is_refused(served: ServedApp, signed_in) -> None:  # type: ignore[no-untyped-def]
    _pat, headers = signed_in("power_user", "pat@example.com")
    url = served.base_url.replace("http", "ws") + "/ws/jobs?tab=mine"
    sent = {"cookie": headers["cookie"], "origin": served.base_url}
    with connect(url, additional_headers=sent) as ours:  # our own host: accepted
        assert ours.recv(timeout=10)
    to_us = socket.create_connection(("127.0.0.1", served.port))
    with pytest.raises(InvalidStatus) as refused:  # the same server, named evil.example
        connect("ws://evil.example/ws/jobs?tab=mine", sock=to_us, additional_headers=sent)
    assert refused.value.response.status_code == 403
