"""uvicorn's httptools protocol with a deadline for each request's head (the Procfile's
`--http`): a connection that has not sent a whole request line and headers within
`HEAD_TIMEOUT_S` of opening, or of its last response, is closed.

uvicorn has no such limit: its keep-alive timer is armed only after a response and disarmed by
every byte received, so a client that sends nothing, or trickles a header a byte at a time,
holds its connection (and a file descriptor) for ever. Bodies are not timed here: a slow upload
is the reverse proxy's to cut (README, Operations).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0


class TimelyHttpProtocol(HttpToolsProtocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        is_idle = self.cycle is None or self.cycle.response_complete  # no pipelined request
        if is_idle and not self.transport.is_closing():
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
