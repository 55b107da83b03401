"""Getting frames out over either transport, with back-pressure, without a task per frame.

A socket served by `HubProtocol` (the Procfile's server) takes pre-encoded bytes written to its
transport; any other takes text through ASGI. Either way a frame goes from the tick itself;
only when a transport is full does the rest go on in a task (`sending`), and until it is done
later frames are merged into the socket's outbox. A socket whose send does not complete within
`SEND_TIMEOUT_S` is ended (the endpoint then closes it with 1013, try again later), so a viewer
that stopped reading costs bounded memory and never holds up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected

from server.hub.frames import Outgoing
from server.hub.metrics import HubMetrics
from server.hub.protocol import HubProtocol
from server.hub.sockets import Socket

SEND_TIMEOUT_S = 30.0


class Delivery:
    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics
        self.sending: set[Socket] = set()  # sockets whose transport is full: a send waits

    def check_slow(self, now: float) -> None:
        """End every socket whose send has waited longer than `SEND_TIMEOUT_S`."""
        for sock in list(self.sending):
            if now - sock.sending_since > SEND_TIMEOUT_S and sock.sender is not None:
                sock.too_slow = True
                sock.sender.cancel()
                sock.end()

    def write_all(self, frame: Outgoing, published_at: float | None) -> None:
        """The tick's hot loop: the same bytes to every socket of a group that takes them at
        once (sockets served by `HubProtocol` with nothing pending), counted once."""
        if not frame.writers:
            return
        data = frame.encoded
        for sock, writer in frame.writers:
            self.write(sock, writer, data)
        self.metrics.frames_sent(len(frame.writers), frame.text, published_at)

    def write(self, sock: Socket, writer: HubProtocol, data: bytes) -> None:
        try:
            if not writer.write_frame(data):  # the transport is full: later frames wait
                self._send_in_task(sock, self._write_later(sock, writer))
        except ClientDisconnected:
            sock.end()  # the client went away; its endpoint finishes

    def deliver(self, sock: Socket, frame: Outgoing, published_at: float | None = None) -> None:
        """Send `frame` now, or merge it into the outbox of a socket that is still busy."""
        if sock.ended:
            return
        self.metrics.offered(sock, published_at)
        if sock.is_busy:
            for key, fragment in frame.items:
                sock.offer(key, fragment)
        else:
            self.send(sock, frame)

    def send(self, sock: Socket, frame: Outgoing) -> None:
        """Send now, from the tick itself: the usual case, no task and no wake-up per frame.
        A socket served by `HubProtocol` gets the bytes encoded once for its whole group."""
        self.metrics.frame_sent(sock, frame.text)
        if sock.writer is not None:
            self.write(sock, sock.writer, frame.encoded)
            return
        sending = sock.websocket.send_text(frame.text)
        try:
            waits_for = sending.send(None)
        except StopIteration:
            return
        except Exception:
            sock.end()  # the client went away; its endpoint finishes
            return
        self._send_in_task(sock, self._send_later(sock, sending, waits_for))

    def _send_in_task(self, sock: Socket, sending: Coroutine[Any, Any, None]) -> None:
        sock.sending_since = asyncio.get_running_loop().time()
        sock.sender = asyncio.ensure_future(sending)
        self.sending.add(sock)

    async def _write_later(self, sock: Socket, writer: HubProtocol) -> None:
        """Wait until the transport drains, then write what was merged meanwhile."""
        try:
            while not sock.ended:
                await writer.drained()
                if not sock.pending:
                    return
                sock.sending_since = asyncio.get_running_loop().time()
                frame = Outgoing.of(sock.take_frame())
                self.metrics.frame_sent(sock, frame.text)
                writer.write_frame(frame.encoded)
        except ClientDisconnected:
            sock.end()
        finally:
            sock.sender = None
            self.sending.discard(sock)

    async def _send_later(
        self, sock: Socket, sending: Coroutine[Any, Any, None], waits_for: Any
    ) -> None:
        try:
            await _finish(sending, waits_for)
            while sock.pending and not sock.ended:
                sock.sending_since = asyncio.get_running_loop().time()
                frame = sock.take_frame()
                self.metrics.frame_sent(sock, frame)
                await sock.websocket.send_text(frame)
        except Exception:
            sock.end()
        finally:
            sock.sender = None
            self.sending.discard(sock)


async def _finish(sending: Coroutine[Any, Any, None], waits_for: Any) -> None:
    """Drive a send that `Delivery.send` started by hand to its end, as a task would have."""
    while True:
        try:
            if waits_for is None:
                await asyncio.sleep(0)
            else:
                waits_for._asyncio_future_blocking = False
                await asyncio.wait({waits_for})
        except asyncio.CancelledError as cancelled:
            sending.throw(cancelled)  # lets the send clean up, then raises
            raise
        try:
            waits_for = sending.send(None)
        except StopIteration:
            return
