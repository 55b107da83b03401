"""The WebSocket hub: one Redis subscription per web process, fanned out to its sockets.

Audience: a job's events go to its owner, to every Superadmin on View All and to every wall
screen (server/screens.py), and to nobody else. Each event's fragments are rendered once per
flavour of socket (the page's, the wallboard's) and the same strings are queued for every
socket of that flavour in the audience.

Slow and dead sockets: each socket keeps at most one pending fragment per (job, part), the
latest (a later state replaces an earlier one; a final state is never followed by another, so
it is never lost), and gets at most one frame per tick (`HUB_TICK_MS`). A socket whose send
does not complete within `SEND_TIMEOUT_S` is closed with 1013 (try again later), so a viewer
that stopped reading costs bounded memory and never holds up the others. On (re)connect a
socket first receives the current state of every job it may see on its tab. A process that
stops closes its sockets with 1012 (service restart), so pages reconnect by themselves; a
session that signs out has its sockets closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server import revocation
from server.access import viewer_of
from server.job_views import (
    header_state,
    job_context,
    render_indicator,
    render_notice,
    render_parts,
    render_recent,
    render_removed,
    render_row,
    running_count,
)
from server.metrics import HubMetrics
from tasks.jobs import events
from tasks.jobs.model import Job
from tasks.runtime import Runtime

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 5.0
SNAPSHOT_RECENT = 50
MAX_REMEMBERED = 10_000
ALL_PARTS = ("state", "errors", "actions")


# -- wall hook (issue 7): flavours of sockets and viewers that are not users ---------------
class Watcher(Protocol):
    """Who a socket belongs to: a signed-in `Viewer`, or a wall screen (server/screens.py)."""

    @property
    def id(self) -> int: ...
    @property
    def session_id(self) -> str: ...  # `_close_session` closes the sockets that match
    @property
    def sees_every_job(self) -> bool: ...  # on tab "all"
    @property
    def role(self) -> str: ...  # a label for metrics: a user's role, or "screen"


@dataclass(frozen=True, eq=False)
class Flavour:
    """How one kind of page draws a job: the hub renders each event once per flavour."""

    name: str
    render_row: Callable[[dict[str, object]], str]  # a new job's whole row, upserted
    render_parts: Callable[[dict[str, object], tuple[str, ...]], dict[str, str]]
    has_header: bool  # the admin header: running count, recent jobs, notices


PAGE = Flavour(
    "page", lambda context: render_row(context, is_watching=False, upsert=True), render_parts, True
)
# -- end of wall hook ----------------------------------------------------------------------


@dataclass(eq=False)
class Socket:
    websocket: WebSocket
    viewer: Watcher
    tab: str
    shows_list: bool
    inserts_new: bool
    flavour: Flavour = PAGE
    known: set[str] = field(default_factory=set)
    pending: dict[tuple[str, str], str] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    coalesced: int = 0  # pending states replaced before they were sent (read by metrics)
    oldest_event_at: float | None = None  # publish time of the oldest unsent event (metrics)

    def sees(self, owner_id: int) -> bool:
        if owner_id == self.viewer.id:
            return True
        return self.viewer.sees_every_job and self.tab == "all"

    def offer(self, key: tuple[str, str], fragment: str) -> None:
        if self.pending.pop(key, None) is not None:  # re-insert: keeps frames in event order
            self.coalesced += 1
        self.pending[key] = fragment

    def take_frame(self) -> str:
        frame = "".join(self.pending.values())
        self.pending.clear()
        return frame


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.sockets: set[Socket] = set()
        self.dirty: set[Socket] = set()
        self.last: dict[str, Job] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: aioredis.Redis | None = None
        self.routes = [WebSocketRoute("/ws/jobs", self.endpoint)]
        self.metrics = HubMetrics()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = aioredis.Redis.from_url(self.settings.redis_url)
        self._tasks = [
            asyncio.create_task(self._listen(), name="hub-listen"),
            asyncio.create_task(self._tick(), name="hub-tick"),
            asyncio.create_task(revocation.watch(self), name="hub-revocation"),
        ]

    async def stop(self) -> None:
        for sock in list(self.sockets):
            with contextlib.suppress(Exception):
                await sock.websocket.close(code=1012, reason="server restart")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            await self._redis.aclose()

    # -- Redis side ------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Hold the one subscription; reconnect with backoff when Redis goes away."""
        store = self.runtime.store
        signouts = store.prefix + "signouts"
        delay = 0.1
        while True:
            try:
                assert self._redis is not None
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(store.channel, signouts)
                    delay = 0.1
                    await self._resync_all()
                    async for message in pubsub.listen():
                        if message["channel"] == signouts.encode():
                            await self._close_session(message["data"].decode())
                        else:
                            await self.publish(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("hub subscription lost; retrying in %.1fs", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def publish(self, raw: bytes | str) -> None:
        """Route one event from Redis to its audience (rendered once)."""
        try:
            event = events.decode(raw)
        except events.BadEvent:
            log.warning("ignoring a malformed event on the channel", exc_info=True)
            return
        if isinstance(event, events.JobRemoved):
            fragment = render_removed(event.job_id)
            self.last.pop(event.job_id, None)
            for sock in self.sockets:
                if sock.sees(event.owner_id):
                    sock.offer((event.job_id, "row"), fragment)
                    sock.known.discard(event.job_id)
                    self.dirty.add(sock)
            return
        job = event.job
        previous = self.last.get(job.id)
        if previous is not None and previous.seq >= job.seq:
            return  # a stale or repeated event: the newer state is already out
        self.last[job.id] = job
        if len(self.last) > MAX_REMEMBERED:
            for old in [j.id for j in self.last.values() if j.is_final][: MAX_REMEMBERED // 10]:
                del self.last[old]
        is_new_status = previous is None or previous.status is not job.status
        await self._tell_owner(job, is_new_status)
        audience = [s for s in self.sockets if s.shows_list and s.sees(job.owner.id)]
        if not audience:
            return
        context = self._context(job)
        # Only what changed is swapped: a button that a viewer is about to click or has
        # focused must not be replaced by an identical copy on every progress event.
        changed = ["state"]
        if previous is None or previous.error_count != job.error_count:
            changed.append("errors")
        if is_new_status:
            changed.append("actions")
        parts: dict[Flavour, dict[str, str]] = {}
        rows: dict[Flavour, str] = {}
        for sock in audience:
            flavour = sock.flavour
            if job.id not in sock.known:
                if not sock.inserts_new:
                    continue
                if flavour not in rows:
                    rows[flavour] = flavour.render_row(context)
                sock.offer((job.id, "row"), rows[flavour])
                sock.known.add(job.id)
            if flavour not in parts:
                parts[flavour] = flavour.render_parts(context, tuple(changed))
            for kind, fragment in parts[flavour].items():
                sock.offer((job.id, kind), fragment)
            self.metrics.offered(sock, event.published_at)  # metrics hook
            self.dirty.add(sock)

    async def _tell_owner(self, job: Job, is_new_status: bool) -> None:
        """The header of every admin page: my running count, my recent jobs, my notices."""
        store = self.runtime.store
        mine = [s for s in self.sockets if s.viewer.id == job.owner.id and s.flavour.has_header]
        if mine:
            recent = render_recent(job)
            for sock in mine:
                sock.offer((job.id, "recent"), recent)
                self.dirty.add(sock)
        if mine and is_new_status:
            count = await run_in_threadpool(running_count, store, job.owner.id)
            indicator = render_indicator(count)
            for sock in mine:
                sock.offer(("", "indicator"), indicator)
        if job.is_final and is_new_status:
            watchers = await run_in_threadpool(store.watchers, job.id)
            notice = render_notice(job)
            for sock in self.sockets:
                if sock.viewer.id in watchers and sock.flavour.has_header:
                    sock.offer((job.id, "notice"), notice)
                    self.dirty.add(sock)

    def _context(self, job: Job) -> dict[str, object]:
        stalled_after = self.settings.worker_lost_after_s / 2
        return job_context(job, time.time(), self.runtime.store.retention_s, stalled_after)

    async def _tick(self) -> None:
        tick_s = self.settings.hub_tick_ms / 1000
        while True:
            await asyncio.sleep(tick_s)
            for sock in self.dirty:
                sock.wake.set()
            self.dirty.clear()

    async def _close_session(self, session_id: str) -> None:
        for sock in [s for s in self.sockets if s.viewer.session_id == session_id]:
            with contextlib.suppress(Exception):
                await sock.websocket.close(code=1008, reason="signed out")

    async def _resync_all(self) -> None:
        """After (re)subscribing, events may have been missed: send every socket the truth."""
        for sock in list(self.sockets):
            await self._send_snapshot(sock)

    # -- socket side -----------------------------------------------------------------------

    def _snapshot(self, viewer: Watcher, tab: str) -> tuple[list[Job], dict[str, object]]:
        return self._visible_jobs(viewer, tab), header_state(self.runtime.store, viewer.id)

    def _visible_jobs(self, viewer: Watcher, tab: str) -> list[Job]:
        store = self.runtime.store
        owner = None if (viewer.sees_every_job and tab == "all") else viewer.id
        recent = store.list_jobs(owner_id=owner, limit=SNAPSHOT_RECENT).items
        active = [
            j for j in store.get_many(store.active_ids()) if owner is None or j.owner.id == owner
        ]
        jobs = {j.id: j for j in [*recent, *active]}
        return sorted(jobs.values(), key=lambda j: j.created_at)

    async def _send_snapshot(self, sock: Socket) -> None:
        jobs, header = await run_in_threadpool(self._snapshot, sock.viewer, sock.tab)
        if sock.flavour.has_header:
            sock.offer(("", "indicator"), render_indicator(int(str(header["running"]))))
            recent: list[Job] = header["recent"]  # type: ignore[assignment]
            for job in reversed(recent):
                sock.offer((job.id, "recent"), render_recent(job))
        for job in jobs if sock.shows_list else []:
            # An event that arrived while the snapshot was read is newer: offering the older
            # state now would replace its fragment, and a final state would be lost for good.
            newer = self.last.get(job.id)
            if newer is not None and newer.seq > job.seq:
                job = newer
            context = self._context(job)
            if sock.inserts_new:
                sock.offer((job.id, "row"), sock.flavour.render_row(context))
            sock.known.add(job.id)  # so that a page that inserts nothing still gets updates
            for kind, fragment in sock.flavour.render_parts(context, ALL_PARTS).items():
                sock.offer((job.id, kind), fragment)
        sock.wake.set()

    async def endpoint(self, websocket: WebSocket) -> None:
        viewer = await viewer_of(websocket)
        if viewer is None or not viewer.may_run_jobs:
            await websocket.close(code=1008, reason="sign in as a Superadmin or Power User")
            return
        tab = websocket.query_params.get("tab", "all")
        if tab not in ("all", "mine") or not viewer.is_superadmin:
            tab = "mine"  # a Power User's socket carries only their own jobs, whatever it asks
        shows_list = websocket.query_params.get("list", "1") == "1"
        inserts_new = shows_list and websocket.query_params.get("insert", "1") == "1"
        await self.serve(websocket, viewer, tab, shows_list, inserts_new)

    async def serve(
        self,
        websocket: WebSocket,
        viewer: Watcher,
        tab: str,
        shows_list: bool = True,
        inserts_new: bool = True,
        flavour: Flavour = PAGE,
    ) -> None:
        """Accept a socket whose viewer the caller has checked, and keep it current until it
        ends (wall hook: the wallboard's endpoint calls this with its own viewer and flavour)."""
        await websocket.accept()
        sock = Socket(websocket, viewer, tab, shows_list, inserts_new, flavour)
        self.sockets.add(sock)
        log.info("socket opened", extra={"user_id": viewer.id, "tab": tab})  # log hook
        receiver = asyncio.create_task(self._drain(websocket))
        try:
            await self._send_snapshot(sock)
            await self._send_loop(sock, receiver)
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass  # the client went away: a normal end
        except TimeoutError:
            log.info("closing a socket that stopped reading", extra={"user_id": viewer.id})
            # The close frame waits behind the full buffer too: give up on it after a while,
            # or this socket would stay in the audience for as long as the client lingers.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(code=1013, reason="too slow"), CLOSE_TIMEOUT_S
                )
        finally:
            self.sockets.discard(sock)
            self.dirty.discard(sock)
            receiver.cancel()
            log.info("socket closed", extra={"user_id": viewer.id, "tab": tab})  # log hook

    async def _send_loop(self, sock: Socket, receiver: asyncio.Task[None]) -> None:
        while not receiver.done():
            waiter = asyncio.create_task(sock.wake.wait())
            done, _ = await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                waiter.cancel()
                return
            sock.wake.clear()
            frame = sock.take_frame()
            if frame:
                self.metrics.frame_sent(sock, frame)  # metrics hook
                await asyncio.wait_for(sock.websocket.send_text(frame), SEND_TIMEOUT_S)

    async def _drain(self, websocket: WebSocket) -> None:
        """Read (and ignore) what the client sends, to notice when it goes away."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
