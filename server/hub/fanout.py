"""The WebSocket hub: one Redis subscription per web process, fanned out to its sockets.

Audience: a job's events go to its owner, to every Superadmin on View All and to every wall
screen (auth/screen_links.py), and to nobody else. Sockets are indexed by audience (those that
see every job; each user's own sockets), so an event never scans the sockets.

Cost model: an event costs O(1) (changes.py keeps the latest state of each job for the next
tick). Once per tick (`HUB_TICK_MS`) each changed job's fragments are rendered once per flavour
of socket (the page's, the wallboard's: flavour.py), one frame is built per group of sockets
that should receive the same thing (usually one for all of View All: grouping.py), and the same
frame goes to every socket of the group from the tick itself (delivery.py). So the work grows
with viewers × ticks, not viewers × events (docs/performance.md).

Slow and dead sockets: a socket gets at most one frame per tick. While a socket is still busy
sending, what it should get next is merged into its outbox, at most one fragment per (job,
part), the latest (a final state is never followed by another, so it is never lost). A socket
whose send does not complete within `delivery.SEND_TIMEOUT_S` is closed with 1013 (try again
later), so a viewer that stopped reading costs bounded memory and never holds up the others. On
(re)connect a socket first receives the current state of every job it may see on its tab
(snapshots.py). A process that stops closes its sockets with 1012 (service restart), so pages
reconnect by themselves; a session that signs out has its sockets closed with 1008.

Hostile clients: the page never sends on its socket, so a socket that sends a message is closed
with 1008; uvicorn refuses a frame over `--ws-max-size` (the Procfile's, 4 KiB) before buffering
it; a session (or a screen link) gets at most `SOCKETS_PER_SESSION` sockets at once, the next
handshake closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.hub.changes import Change, Changes
from server.hub.delivery import Delivery
from server.hub.flavour import Flavour, Watcher
from server.hub.frames import Outgoing
from server.hub.grouping import TickRenderer
from server.hub.line_watch import LineWatch
from server.hub.metrics import HubMetrics
from server.hub.protocol import writer_of
from server.hub.snapshots import offer_snapshot, read_snapshot
from server.hub.sockets import Items, Socket
from server.hub.subscription import listen
from tasks.jobs.model import Job
from tasks.jobs.overview import running_counts
from tasks.jobs.store import JobStore
from tasks.runtime import Runtime

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0


class Hub:
    def __init__(
        self, runtime: Runtime, page: Flavour, metrics: HubMetrics, line: LineWatch | None = None
    ) -> None:
        self.runtime = runtime
        self.line = line  # the queued jobs' places (line_watch.py), if the pages draw them
        self.settings = runtime.settings
        self.page = page  # what `serve` draws with unless told otherwise
        self.metrics = metrics
        self.changes = Changes(metrics)
        self.delivery = Delivery(metrics)
        self.sockets: set[Socket] = set()
        self.views_all: set[Socket] = set()  # Superadmins on View All, wall screens
        self.by_user: dict[int, set[Socket]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: aioredis.Redis | None = None
        self.has_subscribed = False  # a socket that connects from now on gets one snapshot

    @property
    def last(self) -> dict[str, Job]:
        """The newest state heard of each job."""
        return self.changes.last

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = aioredis.Redis.from_url(self.settings.redis_url)
        store = self.runtime.store
        subscription = listen(
            self._redis,
            store.channel,
            store.prefix + "signouts",
            self.changes.received,
            self.close_session,
            self.resync_all,
        )
        self._tasks = [
            asyncio.create_task(subscription, name="hub-listen"),
            asyncio.create_task(self._tick(), name="hub-tick"),
        ]

    async def stop(self) -> None:
        for sock in list(self.sockets):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await sock.websocket.close(code=1012, reason="server restart")
        for task in self._tasks:
            task.cancel()
        # A task cancelled inside a thread-pool call (a snapshot read from a Redis that does
        # not answer) ends only when the call does: shutting down waits for it a while, not
        # for ever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()

    def _add(self, sock: Socket) -> None:
        self.sockets.add(sock)
        self.by_user.setdefault(sock.user_id, set()).add(sock)
        if sock.views_all:
            self.views_all.add(sock)

    def _discard(self, sock: Socket) -> None:
        self.sockets.discard(sock)
        self.views_all.discard(sock)
        mine = self.by_user.get(sock.user_id)
        if mine is not None:
            mine.discard(sock)
            if not mine:
                del self.by_user[sock.user_id]

    # -- once per tick: render once per job, build once per group, hand out -----------------

    async def _tick(self) -> None:
        tick_s = self.settings.hub_tick_ms / 1000
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at = max(next_at + tick_s, loop.time())
            await asyncio.sleep(next_at - loop.time())
            try:
                self.delivery.check_slow(loop.time())
                if self.changes.pending or (self.line and self.line.moves_line({})):
                    changes = self.changes.take()
                    if self.line is not None and self.line.moves_line(changes):
                        await self.line.refresh(changes, self.changes.last)
                    if changes:
                        await self.flush(changes)
            except Exception:
                log.exception("hub tick failed")

    async def flush(self, changes: dict[str, Change]) -> None:
        """Send one tick's changes to every socket that may see them."""
        store = self.runtime.store
        status_owners = {c.owner_id for c in changes.values() if c.new_status}
        counted = [o for o in status_owners if o in self.by_user]
        ended = [
            c.job for c in changes.values() if c.job is not None and c.new_status and c.job.is_final
        ]
        counts: dict[int, int] = {}
        watchers: dict[str, set[int]] = {}
        if counted or ended:  # a thread hop only on ticks where a status changed
            counts, watchers = await run_in_threadpool(_header_facts, store, counted, ended)
        user_items = self._header_items(changes, counts, watchers, ended)

        renderer = TickRenderer(changes, time.time())
        all_ids = list(changes)
        own_ids: dict[int, list[str]] = {}
        for job_id, change in changes.items():
            own_ids.setdefault(change.owner_id, []).append(job_id)

        frames: dict[tuple[object, ...], Outgoing] = {}
        oldest = min((c.published_at for c in changes.values() if c.published_at), default=None)
        # The usual socket (View All, ready, knows every job of the tick, hears nothing of its
        # own) takes its group's frame without per-socket work; the rest go one by one.
        others = self._take_common(renderer, all_ids, user_items, frames)
        for user_id in [*own_ids, *user_items]:
            others.update(s for s in self.by_user.get(user_id, ()) if not s.views_all)
        for sock in others:
            ids = all_ids if sock.views_all else own_ids.get(sock.user_id, [])
            key, items = renderer.for_socket(sock, ids)
            mine = user_items.get(sock.user_id) if sock.flavour.has_header else None
            if not items and not mine:
                continue
            frame_key = (key, sock.user_id) if mine else key
            made = frames.get(frame_key)
            if made is None:
                made = frames[frame_key] = Outgoing(items + mine if mine else items)
            writer = sock.writer_now
            if writer is None:
                self.delivery.deliver(sock, made, published_at=oldest)
            else:
                made.writers.append((sock, writer))
        for made in frames.values():
            self.delivery.write_all(made, oldest)

    def _header_items(
        self,
        changes: dict[str, Change],
        counts: dict[int, int],
        watchers: dict[str, set[int]],
        ended: list[Job],
    ) -> dict[int, Items]:
        """What each user hears about their own jobs and the jobs they watch, in the header."""
        header = self.page.header
        user_items: dict[int, Items] = {}
        if header is None:
            return user_items
        for job_id, change in changes.items():
            if change.owner_id in self.by_user and change.job is not None:
                user_items.setdefault(change.owner_id, []).append(
                    ((job_id, "recent"), header.render_recent(change.job))
                )
        for owner_id, count in counts.items():
            indicator = header.render_indicator(count)
            user_items.setdefault(owner_id, []).append((("", "indicator"), indicator))
        for job in ended:
            notice: str | None = None
            for user_id in watchers.get(job.id, ()):
                # Only while they may see it: a watcher demoted since asking hears nothing.
                sockets = self.by_user.get(user_id, ())
                sees_it = user_id == job.owner.id or any(s.viewer.sees_every_job for s in sockets)
                if sockets and sees_it:
                    notice = notice or header.render_notice(job)
                    user_items.setdefault(user_id, []).append(((job.id, "notice"), notice))
        return user_items

    def _take_common(
        self,
        renderer: TickRenderer,
        all_ids: list[str],
        user_items: dict[int, Items],
        frames: dict[tuple[object, ...], Outgoing],
    ) -> set[Socket]:
        """Add each View All socket that takes its group's frame as it is to that frame's
        writers: served by `HubProtocol`, not busy, every job of the tick already on its page,
        none removed, no header items of its own. The others, for a closer look."""
        others: set[Socket] = set()
        changed, ended = renderer.ids, renderer.ended
        if renderer.removed:
            others.update(self.views_all)
            return others
        for sock in self.views_all:
            writer = sock.writer_now
            if (
                writer is None
                or (sock.shows_list and not changed <= sock.known)
                or (sock.user_id in user_items and sock.flavour.has_header)
            ):
                others.add(sock)
                continue
            made = frames.get(sock.common_key)
            if made is None:
                key, items = renderer.for_socket(sock, all_ids)
                made = frames[key] = Outgoing(items)
            if made.items:
                made.writers.append((sock, writer))
            if ended:
                sock.known.difference_update(ended)
        return others

    # -- sockets ---------------------------------------------------------------------------

    async def close_session(self, session_id: str) -> None:
        """Close every socket of a session that signed out (or a screen link revoked)."""
        for sock in [s for s in self.sockets if s.viewer.session_id == session_id]:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await sock.websocket.close(code=1008, reason="signed out")

    async def resync_all(self) -> None:
        """After (re)subscribing, events may have been missed: send every socket the truth."""
        sockets = list(self.sockets)
        if self.line is not None:
            await self.line.refresh({}, self.changes.last)  # before any snapshot draws a row
        self.has_subscribed = True
        for sock in sockets:
            await self._send_snapshot(sock)

    async def _send_snapshot(self, sock: Socket) -> None:
        sock.snapshotting = True  # what changes meanwhile waits in `pending`, and wins
        try:
            jobs, overview = await run_in_threadpool(
                read_snapshot, self.runtime.store, sock.viewer, sock.tab
            )
        finally:
            sock.snapshotting = False
        offer_snapshot(sock, jobs, overview, self.changes.last, time.time())
        if sock.sender is None:  # else the send in progress sends `pending` when it is done
            self.delivery.send(sock, Outgoing.of(sock.take_frame()))

    async def serve(
        self,
        websocket: WebSocket,
        viewer: Watcher,
        tab: str,
        shows_list: bool = True,
        inserts_new: bool = True,
        flavour: Flavour | None = None,
    ) -> None:
        """Accept a socket whose viewer the caller has checked, and keep it current until it
        ends (the wallboard's endpoint calls this with its own viewer and flavour)."""
        session_id, mine = viewer.session_id, self.by_user.get(viewer.id, ())
        open_now = sum(s.viewer.session_id == session_id for s in mine)
        if open_now >= self.settings.sockets_per_session:
            await websocket.close(code=1008, reason="too many sockets for this session")
            return
        await websocket.accept()
        task = asyncio.current_task()
        is_talking = False
        writer = writer_of(websocket.scope)
        flavour = flavour or self.page
        sock = Socket(websocket, viewer, tab, shows_list, inserts_new, flavour, writer, task=task)
        self._add(sock)
        log.info("socket opened", extra={"user_id": viewer.id, "tab": tab})
        try:
            await self._send_snapshot(sock)
            # Reading notices when the client goes away; the hub ends a socket it gives up on
            # by cancelling this wait (`Socket.end`). No task of its own: an open socket keeps
            # as little as it can (docs/performance.md). The page never sends: a client that
            # does is not the page, and is closed rather than read.
            is_talking = (await websocket.receive())["type"] != "websocket.disconnect"
        except asyncio.CancelledError:
            if not sock.ended or (task is not None and task.uncancel()):
                raise  # not the hub's doing: the server is stopping
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass  # the client went away: a normal end
        finally:
            sock.task, sock.ended = None, True
            self._discard(sock)
            if sock.sender is not None:
                sock.sender.cancel()
            log.info("socket closed", extra={"user_id": viewer.id, "tab": tab})
        if is_talking:
            log.info("closing a socket that sent a message", extra={"user_id": viewer.id})
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await websocket.close(code=1008, reason="this socket only listens")
        if sock.too_slow:
            log.info("closing a socket that stopped reading", extra={"user_id": viewer.id})
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await websocket.close(code=1013, reason="too slow")


def _header_facts(
    store: JobStore, owners: list[int], ended: list[Job]
) -> tuple[dict[int, int], dict[str, set[int]]]:
    """One tick's header facts in one thread hop: running counts of the owners whose jobs
    changed status, and who watches each job that just ended."""
    watchers = {job.id: store.watchers(job.id) for job in ended}
    return running_counts(store, owners), watchers
