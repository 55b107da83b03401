"""The WebSocket hub: one Redis subscription per web process, fanned out to its sockets.

Audience: a job's events go to its owner, to every Superadmin on View All and to every wall
screen (server/screens.py), and to nobody else. Sockets are indexed by audience (those that see
every job; each user's own sockets), so an event never scans the sockets.

Cost model: an event costs O(1): it decodes, drops a stale `seq`, and keeps only the latest
state of its job for the next tick. Once per tick (`HUB_TICK_MS`) each changed job's fragments
are rendered once per flavour of socket (the page's, the wallboard's), one frame is built per
group of sockets that should receive the same thing (usually one for all of View All), and
the same frame goes to every socket of the group from the tick itself: under the Procfile's
server (`server.ws_protocol.HubProtocol`) as bytes encoded once and written to each transport,
under any other through ASGI. So the work grows with viewers × ticks, not viewers × events
(docs/performance.md).

Slow and dead sockets: a socket gets at most one frame per tick. While a socket is still busy
sending, what it should get next is merged into its pending fragments, at most one per (job,
part), the latest (a later state replaces an earlier one; a final state is never followed by
another, so it is never lost). A socket whose send does not complete within `SEND_TIMEOUT_S` is
closed with 1013 (try again later), so a viewer that stopped reading costs bounded memory and
never holds up the others. On (re)connect a socket first receives the current state of every
job it may see on its tab. A process that stops closes its sockets with 1012 (service restart),
so pages reconnect by themselves; a session that signs out has its sockets closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.utils import ClientDisconnected

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
    running_counts,
)
from server.metrics import HubMetrics
from server.ws_protocol import HubProtocol, encode_text, writer_of
from tasks.jobs import events
from tasks.jobs.model import Job
from tasks.jobs.store import JobStore
from tasks.runtime import Runtime

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 5.0
SNAPSHOT_RECENT = 50
MAX_REMEMBERED = 10_000
ALL_PARTS = ("state", "errors", "actions")

Key = tuple[str, str]  # (job id or "", part)
Items = list[tuple[Key, str]]


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
    """How one kind of page draws a job: the hub renders each change once per flavour."""

    name: str
    render_row: Callable[[dict[str, object]], str]  # a new job's whole row, upserted
    render_parts: Callable[[dict[str, object], tuple[str, ...]], dict[str, str]]
    has_header: bool  # the admin header: running count, recent jobs, notices


PAGE = Flavour(
    "page", lambda context: render_row(context, is_watching=False, upsert=True), render_parts, True
)


@dataclass(eq=False, slots=True)  # slots: thousands of them, each open for hours
class Socket:
    websocket: WebSocket
    viewer: Watcher
    tab: str
    shows_list: bool
    inserts_new: bool
    flavour: Flavour = PAGE
    writer: HubProtocol | None = None  # takes pre-encoded frames (server/ws_protocol.py)
    known: set[str] = field(default_factory=set)
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
    common_key: tuple[object, ...] = field(init=False)  # on View All: see `_take_common`

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
        still open. None: the frame goes through `_deliver` (merged, or sent through ASGI)."""
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


class Outgoing:
    """One frame for a group of sockets: its fragments, their text, and (for sockets served by
    `HubProtocol`) the frame's bytes, encoded once for the whole group, and the sockets a
    tick writes them to."""

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


@dataclass
class Change:
    """What happened to one job since the last tick: its latest state and the parts to swap."""

    job: Job | None  # None: removed
    owner_id: int
    parts: set[str] = field(default_factory=set)
    new_status: bool = False
    published_at: float | None = None  # of the oldest event merged into this change


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.sockets: set[Socket] = set()
        self.views_all: set[Socket] = set()  # Superadmins on View All, wall screens
        self.by_user: dict[int, set[Socket]] = {}
        self.last: dict[str, Job] = {}
        self.changes: dict[str, Change] = {}
        self.sending: set[Socket] = set()  # sockets whose transport is full: a send waits
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: aioredis.Redis | None = None
        self.metrics = HubMetrics()
        self.routes = [WebSocketRoute("/ws/jobs", self.endpoint)]

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
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await sock.websocket.close(code=1012, reason="server restart")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
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

    # -- Redis side: O(1) per event --------------------------------------------------------

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
        """Note one event from Redis for the next tick (the latest state of each job wins)."""
        try:
            event = events.decode(raw)
        except events.BadEvent:
            log.warning("ignoring a malformed event on the channel", exc_info=True)
            return
        if isinstance(event, events.JobRemoved):
            self.last.pop(event.job_id, None)
            self.changes.pop(event.job_id, None)
            self.changes[event.job_id] = Change(None, event.owner_id)
            return
        job = event.job
        previous = self.last.get(job.id)
        if previous is not None and previous.seq >= job.seq:
            return  # a stale or repeated event: the newer state is already out
        self.last[job.id] = job
        if len(self.last) > MAX_REMEMBERED:
            for old in [j.id for j in self.last.values() if j.is_final][: MAX_REMEMBERED // 10]:
                del self.last[old]
        change = self.changes.get(job.id)
        if change is None or change.job is None:
            change = self.changes[job.id] = Change(job, job.owner.id)
            change.published_at = event.published_at
        else:
            self.metrics.coalesced += 1  # an earlier state of this tick is never sent
        change.job = job
        # Only what changed is swapped: a button that a viewer is about to click or has
        # focused must not be replaced by an identical copy on every progress event.
        change.parts.add("state")
        if previous is None or previous.error_count != job.error_count:
            change.parts.add("errors")
        if previous is None or previous.status is not job.status:
            change.parts.add("actions")
            change.new_status = True

    # -- once per tick: render once per job, build once per group, hand out -----------------

    async def _tick(self) -> None:
        tick_s = self.settings.hub_tick_ms / 1000
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at = max(next_at + tick_s, loop.time())
            await asyncio.sleep(next_at - loop.time())
            try:
                self._check_slow(loop.time())
                if self.changes:
                    changes, self.changes = self.changes, {}
                    await self.flush(changes)
            except Exception:
                log.exception("hub tick failed")

    def _check_slow(self, now: float) -> None:
        for sock in list(self.sending):
            if now - sock.sending_since > SEND_TIMEOUT_S and sock.sender is not None:
                sock.too_slow = True
                sock.sender.cancel()
                sock.end()

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

        # What each user hears about their own jobs and the jobs they watch.
        user_items: dict[int, Items] = {}
        for job_id, change in changes.items():
            if change.owner_id in self.by_user and change.job is not None:
                user_items.setdefault(change.owner_id, []).append(
                    ((job_id, "recent"), render_recent(change.job))
                )
        for owner_id, count in counts.items():
            user_items.setdefault(owner_id, []).append((("", "indicator"), render_indicator(count)))
        for job in ended:
            notice: str | None = None
            for user_id in watchers.get(job.id, ()):
                if user_id in self.by_user:
                    notice = notice or render_notice(job)
                    user_items.setdefault(user_id, []).append(((job.id, "notice"), notice))

        renderer = _Renderer(self, changes)
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
                self._deliver(sock, made, published_at=oldest)
            else:
                made.writers.append((sock, writer))
        for made in frames.values():
            self._write_all(made, oldest)

    def _take_common(
        self,
        renderer: _Renderer,
        all_ids: list[str],
        user_items: dict[int, Items],
        frames: dict[tuple[object, ...], Outgoing],
    ) -> set[Socket]:
        """Add each View All socket that takes its group's frame as it is to that frame's
        writers: served by `HubProtocol`, not busy, every job of the tick already on its page,
        none removed, no header items of its own. The others, for a closer look."""
        others: set[Socket] = set()
        changed = renderer.ids
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
        return others

    def _write_all(self, frame: Outgoing, published_at: float | None) -> None:
        """The tick's hot loop: the same bytes to every socket of a group that takes them at
        once (sockets served by `HubProtocol` with nothing pending), counted once."""
        if not frame.writers:
            return
        data = frame.encoded
        for sock, writer in frame.writers:
            self._write(sock, writer, data)
        self.metrics.frames_sent(len(frame.writers), frame.text, published_at)

    def _write(self, sock: Socket, writer: HubProtocol, data: bytes) -> None:
        try:
            if not writer.write_frame(data):  # the transport is full: later frames wait
                self._send_in_task(sock, self._write_later(sock, writer))
        except ClientDisconnected:
            sock.end()  # the client went away; its endpoint finishes

    def _deliver(self, sock: Socket, frame: Outgoing, published_at: float | None = None) -> None:
        if sock.ended:
            return
        self.metrics.offered(sock, published_at)
        if sock.is_busy:
            for key, fragment in frame.items:
                sock.offer(key, fragment)
        else:
            self._send(sock, frame)

    def _send(self, sock: Socket, frame: Outgoing) -> None:
        """Send now, from the tick itself: the usual case, no task and no wake-up per frame.
        A socket served by `HubProtocol` gets the bytes encoded once for its whole group. When
        the transport is full, the rest goes on in a task, and until it is done later frames
        are merged into `pending`."""
        self.metrics.frame_sent(sock, frame.text)
        if sock.writer is not None:
            self._write(sock, sock.writer, frame.encoded)
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

    def _context(self, job: Job) -> dict[str, object]:
        stalled_after = self.settings.worker_lost_after_s / 2
        return job_context(job, time.time(), self.runtime.store.retention_s, stalled_after)

    async def _close_session(self, session_id: str) -> None:
        for sock in [s for s in self.sockets if s.viewer.session_id == session_id]:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
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
        sock.snapshotting = True  # what changes meanwhile waits in `pending`, and wins
        try:
            jobs, header = await run_in_threadpool(self._snapshot, sock.viewer, sock.tab)
        finally:
            sock.snapshotting = False
        newer, sock.pending = sock.pending, {}
        if sock.flavour.has_header:
            sock.offer(("", "indicator"), render_indicator(int(str(header["running"]))))
            recent: list[Job] = header["recent"]  # type: ignore[assignment]
            for job in reversed(recent):
                sock.offer((job.id, "recent"), render_recent(job))
        for job in jobs if sock.shows_list else []:
            # On a resync, an event already sent may be newer than what was just read: sending
            # the older state would undo it, and a final state would be lost for good.
            latest = self.last.get(job.id)
            if latest is not None and latest.seq > job.seq:
                job = latest
            context = self._context(job)
            if sock.inserts_new:
                sock.offer((job.id, "row"), sock.flavour.render_row(context))
            sock.known.add(job.id)  # so that a page that inserts nothing still gets updates
            for kind, fragment in sock.flavour.render_parts(context, ALL_PARTS).items():
                sock.offer((job.id, kind), fragment)
        for key, fragment in newer.items():
            sock.offer(key, fragment)
        if sock.sender is None:  # else the send in progress sends `pending` when it is done
            self._send(sock, Outgoing.of(sock.take_frame()))

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
        ends (the wallboard's endpoint calls this with its own viewer and flavour)."""
        await websocket.accept()
        task = asyncio.current_task()
        writer = writer_of(websocket.scope)
        sock = Socket(websocket, viewer, tab, shows_list, inserts_new, flavour, writer, task=task)
        self._add(sock)
        log.info("socket opened", extra={"user_id": viewer.id, "tab": tab})
        try:
            await self._send_snapshot(sock)
            # Reading (and ignoring) what the client sends notices when it goes away; the hub
            # ends a socket it gives up on by cancelling this wait (`Socket.end`). No task of
            # its own: an open socket keeps as little as it can (docs/performance.md).
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
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
        if sock.too_slow:
            log.info("closing a socket that stopped reading", extra={"user_id": viewer.id})
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await websocket.close(code=1013, reason="too slow")


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


async def _finish(sending: Coroutine[Any, Any, None], waits_for: Any) -> None:
    """Drive a send that `Hub._send` started by hand to its end, as a task would have."""
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


def _header_facts(
    store: JobStore, owners: list[int], ended: list[Job]
) -> tuple[dict[int, int], dict[str, set[int]]]:
    """One tick's header facts in one thread hop: running counts of the owners whose jobs
    changed status, and who watches each job that just ended."""
    watchers = {job.id: store.watchers(job.id) for job in ended}
    return running_counts(store, owners), watchers


class _Renderer:
    """One tick's fragments, each rendered at most once, and the list items per socket group."""

    def __init__(self, hub: Hub, changes: dict[str, Change]) -> None:
        self.hub = hub
        self.changes = changes
        self.ids = set(changes)
        self.removed = {job_id for job_id, c in changes.items() if c.job is None}
        self._parts: dict[tuple[Flavour, str], Items] = {}
        self._rows: dict[tuple[Flavour, str], str] = {}
        self._contexts: dict[str, dict[str, object]] = {}
        self._groups: dict[tuple[object, ...], Items] = {}

    def _context(self, job: Job) -> dict[str, object]:
        context = self._contexts.get(job.id)
        if context is None:
            context = self._contexts[job.id] = self.hub._context(job)
        return context

    def parts(self, flavour: Flavour, job_id: str) -> Items:
        made = self._parts.get((flavour, job_id))
        if made is None:
            change = self.changes[job_id]
            if change.job is None:
                made = [((job_id, "row"), render_removed(job_id))]
            else:
                kinds = tuple(k for k in ALL_PARTS if k in change.parts)
                rendered = flavour.render_parts(self._context(change.job), kinds)
                made = [((job_id, kind), fragment) for kind, fragment in rendered.items()]
            self._parts[(flavour, job_id)] = made
        return made

    def row(self, flavour: Flavour, job_id: str) -> tuple[Key, str]:
        made = self._rows.get((flavour, job_id))
        if made is None:
            job = self.changes[job_id].job
            assert job is not None
            made = self._rows[(flavour, job_id)] = flavour.render_row(self._context(job))
        return (job_id, "row"), made

    def for_socket(self, sock: Socket, ids: list[str]) -> tuple[tuple[object, ...], Items]:
        """The list items for this socket, shared by every socket with the same key."""
        if not ids:
            return (), []
        scope: object = "all" if sock.views_all else sock.user_id
        if sock.shows_list:
            visible = self.ids if sock.views_all else set(ids)
            if visible <= sock.known:  # the usual case: no job is new to this socket
                unknown: frozenset[str] = frozenset()
            else:
                unknown = frozenset(visible.difference(sock.known, self.removed))
        else:
            unknown = frozenset()
        key = group_key(sock.flavour, scope, sock.shows_list, sock.inserts_new, unknown)
        items = self._groups.get(key)
        if items is None:
            items = self._groups[key] = self._items(
                sock.flavour, ids, sock.shows_list, sock.inserts_new, unknown
            )
        if sock.inserts_new and unknown:
            sock.known.update(unknown)
        if self.removed and sock.known:
            sock.known.difference_update(self.removed)
        return key, items

    def _items(
        self,
        flavour: Flavour,
        ids: Iterable[str],
        shows_list: bool,
        inserts_new: bool,
        unknown: frozenset[str],
    ) -> Items:
        items: Items = []
        for job_id in ids:
            if job_id in self.removed:
                # deletes the row and the recent line: for everyone
                items += self.parts(flavour, job_id)
            elif not shows_list:
                continue
            elif job_id not in unknown:
                items += self.parts(flavour, job_id)
            elif inserts_new:
                items.append(self.row(flavour, job_id))
                items += self.parts(flavour, job_id)
        return items
