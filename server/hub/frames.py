"""One frame for a group of sockets: its fragments, their text, and (for sockets served by
`HubProtocol`) its bytes, encoded once for the whole group, and the sockets a tick writes them
to."""

from __future__ import annotations

from server.hub.protocol import HubProtocol, encode_text
from server.hub.sockets import Items, Socket


class Outgoing:
    __slots__ = ("items", "text", "_encoded", "writers")

    def __init__(self, items: Items, text: str | None = None) -> None:
        self.items = items
        self.text = "".join(f for _, f in items) if text is None else text
        self._encoded: bytes | None = None
        self.writers: list[tuple[Socket, HubProtocol]] = []

    @classmethod
    def of(cls, text: str) -> Outgoing:
        return cls([], text)

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = encode_text(self.text)
        return self._encoded
