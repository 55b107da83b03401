"""The Host header, checked before anything else: the app answers only to BASE_URL's host.

Without it, a request with a foreign Host reached the loopback-only `/metrics` and `/readyz`
through a DNS name that resolves to this machine, and trailing-slash redirects sent the browser
to whatever host it named. A BASE_URL on a loopback name accepts the other loopback names too
(`make run` serves 127.0.0.1, a person types localhost); a foreign name never passes.

Like CrossSiteGuard, it hands a WebSocket on by returning the inner app's awaitable.
"""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def host_of(value: str | None) -> str | None:
    """The host name of a Host header (port and IPv6 brackets removed), lower case; or None."""
    if not value:
        return None
    try:
        return urlsplit("//" + value).hostname
    except ValueError:  # an invalid port or bracket
        return None


def allowed_hosts(base_url: str) -> frozenset[str]:
    host = urlsplit(base_url).hostname or ""
    return LOOPBACK_NAMES if host in LOOPBACK_NAMES else frozenset({host})


class HostGuard:
    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.hosts = allowed_hosts(base_url)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        if host_of(Headers(scope=scope).get("host")) in self.hosts:
            return self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
        refusal = PlainTextResponse("This site does not answer to that host name.", 400)
        return refusal(scope, receive, send)
