"""One socket as the hub keeps it: its viewer and tab, what it already shows, and its outbox.

The outbox (`pending`) holds at most one fragment per (job, part), the latest: while a socket
is busy sending, a later state replaces an earlier one, and frames keep the order of events.
Sockets that should receive the same thing in a tick share a group key (`group_key`).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from server.hub.flavour import Flavour, Watcher
from server.hub.protocol import HubProtocol

Key = tuple[str, str]  # (job id or "", part)
Items = list[tuple[Key, str]]


def group_key(
    flavour: Flavour,
    scope: object,
    shows_list: bool,
    inserts_new: bool,
    unknown: frozenset[str] = frozenset(),
) -> tuple[object, ...]:
    """Sockets with the same key get the same list items in a tick: same flavour, same jobs
    (`scope`: "all" or a user id), and the same jobs to insert (`unknown`)."""
    if not shows_list:
        return (flavour, scope, False)
    return (flavour, scope, True, inserts_new, unknown)


@functools.cache
def common_key(flavour: Flavour, shows_list: bool, inserts_new: bool) -> tuple[object, ...]:
    """The group key of View All sockets on a tick where no job is new to them: one tuple
    shared by all of them."""
    return group_key(flavour, "all", shows_list, inserts_new)


@dataclass(eq=False, slots=True)  # slots: thousands of them, each open for hours
class Socket:
    websocket: WebSocket
    viewer: Watcher
    tab: str
    shows_list: bool
    inserts_new: bool
    flavour: Flavour
    writer: HubProtocol | None = None  # takes pre-encoded frames (server/hub/protocol.py)
    known: set[str] = field(default_factory=set)  # jobs on its page not ended yet
    pending: dict[Key, str] = field(default_factory=dict)
    snapshotting: bool = False
    sender: asyncio.Task[None] | None = None  # only while a send waits for a full transport
    sending_since: float = 0.0
    too_slow: bool = False
    coalesced: int = 0  # pending states replaced before they were sent (read by metrics)
    oldest_event_at: float | None = None  # publish time of the oldest unsent event (metrics)
    ended: bool = False
    task: asyncio.Task[Any] | None = None  # the endpoint's, while it serves the socket
    # Fixed for the socket's life (a viewer whose role changes is disconnected), and read for
    # every socket on every tick: kept rather than asked of the viewer each time.
    user_id: int = field(init=False)
    views_all: bool = field(init=False)
    common_key: tuple[object, ...] = field(init=False)  # on View All: see `Hub._take_common`

    def __post_init__(self) -> None:
        self.user_id = self.viewer.id
        self.views_all = self.viewer.sees_every_job and self.tab == "all"
        self.common_key = (
            common_key(self.flavour, self.shows_list, self.inserts_new) if self.views_all else ()
        )

    @property
    def is_busy(self) -> bool:
        """Still sending (or about to send its snapshot): what comes meanwhile is merged."""
        return self.sender is not None or self.snapshotting

    @property
    def writer_now(self) -> HubProtocol | None:
        """Where a tick writes its bytes at once: served by `HubProtocol`, nothing in flight,
        still open. None: the frame goes through `Delivery.deliver` (merged, or sent through
        ASGI)."""
        return None if self.is_busy or self.ended else self.writer

    def offer(self, key: Key, fragment: str) -> None:
        if self.pending.pop(key, None) is not None:  # re-insert: keeps frames in event order
            self.coalesced += 1
        self.pending[key] = fragment

    def take_frame(self) -> str:
        frame = "".join(self.pending.values())
        self.pending.clear()
        return frame

    def end(self) -> None:
        """Stop serving this socket: its endpoint stops reading and finishes."""
        if not self.ended:
            self.ended = True
            if self.task is not None:
                self.task.cancel()
