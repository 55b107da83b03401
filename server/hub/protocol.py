"""The web process's WebSocket protocol: uvicorn's websockets-sansio, leaner per socket, and able
to take frames the hub encoded once for many sockets.

`uvicorn --ws server.hub.protocol:HubProtocol` (the Procfile) serves with it. Two things differ
from uvicorn's own protocol, both measured by `bench/fanout.py` (docs/performance.md):

- **Pre-encoded frames.** A connection's ASGI scope carries the extension `jobdeck.frames`,
  whose `writer` is the connection itself. The hub builds one frame per audience group, encodes
  it once with `encode_text()`, and hands the same bytes to every socket of the group with
  `write_frame()`: no per-socket encoding, framing or ASGI round trip. Server frames are not
  masked, so the bytes are the same for every socket. Everything else (accept, close, pings,
  what the client sends) goes through ASGI as before; an app served without this protocol (the
  test client, another server) finds no extension and sends through ASGI.
- **Less memory per idle socket.** uvicorn keeps the handshake's request and response for the
  connection's life; this drops both once the socket is accepted, and empties the request's
  headers, which `websockets`' parser would otherwise keep (about 3 KiB a socket). The inbox
  and the writable flag are small objects instead of an `asyncio.Queue` and an
  `asyncio.Event` (four deques).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

EXTENSION = "jobdeck.frames"


def writer_of(scope: Mapping[str, Any]) -> HubProtocol | None:
    """The connection that takes pre-encoded frames, when the server offers it."""
    extension = scope.get("extensions", {}).get(EXTENSION)
    return extension["writer"] if extension else None


def encode_text(message: str) -> bytes:
    """One complete, unmasked text frame, as a server sends it."""
    return Frame(Opcode.TEXT, message.encode()).serialize(mask=False)


class HubProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # the upgrade is going ahead: the app's task starts next
            self.scope["extensions"][EXTENSION] = {"writer": self}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # The handshake is over: nothing reads the request or the response any more.
            # `websockets`' parser still holds the request in its generator for the
            # connection's life, so its headers (cookies and all) are emptied as well.
            self.request.headers.clear()
            del self.request
            del self.response

    # -- for the hub ---------------------------------------------------------------------------

    def write_frame(self, frame: bytes) -> bool:
        """Write one frame made by `encode_text()`. Whether the transport takes more at once:
        False when it holds more than its high-water mark (the client is not keeping up), and
        the next frame should wait for `drained()`. ClientDisconnected when the socket is
        closing or gone."""
        if self.close_sent or self.disconnected or self.transport.is_closing():
            raise ClientDisconnected
        self.transport.write(frame)
        return self.writable.is_set()

    async def drained(self) -> None:
        """Until the transport is back under its low-water mark (or the socket is gone)."""
        await self.writable.wait()


class _Flag:
    """What uvicorn asks of its `writable` event (set, clear, is_set, wait), without a deque."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = True
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        waiters, self._waiters = self._waiters, []
        _wake(waiters)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        while not self._is_set:
            await _wait_in(self._waiters)
        return True


class _Inbox:
    """What uvicorn asks of its receive queue (put_nowait, get, empty), without four deques:
    one reader (the app's receive), unbounded like uvicorn's own."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] = []

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiters, self._waiters = self._waiters, []
        _wake(waiters)

    async def get(self) -> Any:
        while not self._items:
            await _wait_in(self._waiters)
        return self._items.pop(0)


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


async def _wait_in(waiters: list[asyncio.Future[None]]) -> None:
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    finally:
        if waiter in waiters:
            waiters.remove(waiter)
