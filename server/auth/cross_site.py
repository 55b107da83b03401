"""Cross-site protection as ASGI middleware: Origin checks and security headers.

Every unsafe HTTP method and every WebSocket handshake must carry an `Origin` (or, failing
that, a `Referer`) equal to the site's own origin, `BASE_URL`'s (by default
`http://HOST:PORT`); anything else gets 403 before any endpoint runs. The request's own `Host`
proves nothing: a page on evil.example whose name an attacker re-points at 127.0.0.1 (DNS
rebinding) sends `Host: evil.example` with `Origin: http://evil.example`. Only where
`BASE_URL` is a loopback address are its other loopback spellings trusted too (`localhost`,
`127.0.0.1`, `[::1]`, same scheme and port): no page elsewhere can have such an origin.

Every HTTP response gets a Content-Security-Policy without inline script, frame-ancestors
denied, nosniff and a strict referrer policy: `SecurityHeaders` wraps the whole app, outside
Starlette's server-error middleware, so that a 500 carries them too.

Both hand a WebSocket on by returning the inner app's awaitable instead of awaiting it: an open
socket keeps its whole chain of ASGI frames for as long as it lives, and these two would add
nothing to it but memory (docs/performance.md, memory per idle socket).
"""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
        b"object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def trusted_origins(base_url: str) -> frozenset[str]:
    """`base_url`'s origin, and its loopback spellings if it is a loopback address."""
    origin = origin_of(base_url)
    if origin is None:
        return frozenset()
    parts = urlsplit(origin)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    if host not in LOOPBACK_NAMES:
        return frozenset({origin})
    port = f":{parts.port}" if parts.port else ""
    return frozenset(f"{parts.scheme}://{name}{port}" for name in LOOPBACK_NAMES) | {origin}


class CrossSiteGuard:
    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.trusted = trusted_origins(base_url)

    def is_same_origin(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        claimed = headers.get("origin")
        if not claimed or claimed == "null":
            referer = headers.get("referer")
            claimed = origin_of(referer) if referer else None
        return claimed is not None and claimed.lower() in self.trusted

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket" and not self.is_same_origin(scope):
            return send({"type": "websocket.close", "code": 1008, "reason": "bad origin"})
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.check_http(scope, receive, send)

    async def check_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in SAFE_METHODS and not self.is_same_origin(scope):
            response = PlainTextResponse(
                "This request did not come from this site's own pages.", status_code=403
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (replacing any of the same name)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.names = {name for name, _ in SECURITY_HEADERS}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.add_headers(scope, receive, send)

    async def add_headers(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k not in self.names]
                message["headers"] = kept + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)
