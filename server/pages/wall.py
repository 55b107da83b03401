"""The wallboard: View All for a big screen, read-only, kept live by the hub like the page.

Two kinds of viewer may open it: a signed-in Superadmin, and a wall screen holding a screen
link's cookie (server/auth/screen_links.py). A screen gets this page, its socket and nothing
else: every other page and API asks `viewer_of()`, which knows only people. A screen whose link
is revoked or expires is told so, on the page and by its socket closing with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from server.actions import runtime_of
from server.auth.access import NotSignedIn, viewer_of
from server.auth.screen_links import (
    COOKIE,
    COOKIE_PATH,
    ORPHANED,
    ScreenLinks,
    ScreenViewer,
    dump_pass,
    load_pass,
    orphaned,
)
from server.auth.sessions import Viewer
from server.hub.fanout import Hub
from server.views.jobs import context_of
from server.views.templates import render
from server.views.wall import render_wall_row
from tasks.jobs.model import Job, Status
from tasks.runtime import Runtime

ENDED_SHOWN = 12  # web/static/wall.js keeps the same number of ended jobs
TOUCH_EVERY_S = 60.0  # how fresh a screen's "last used" is while its socket stays open
WALL_PATH = "/admin/background-jobs/wall"


class ScreenRefused(Exception):
    """The screen's link no longer opens the wall; `message` tells the screen what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def links_of(conn: HTTPConnection) -> ScreenLinks:
    links: ScreenLinks = conn.app.state.screens
    return links


def refusal(link_expired: bool) -> str:
    what = "expired" if link_expired else "was revoked"
    return f"This screen link {what}. Ask a Superadmin for a new screen link."


async def wall_viewer(conn: HTTPConnection) -> Viewer | ScreenViewer:
    """A signed-in Superadmin, else the screen of a live screen link; else NotSignedIn,
    HTTP 403 (a person who is not a Superadmin) or ScreenRefused."""
    viewer = await viewer_of(conn)
    if viewer is not None:
        if not viewer.is_superadmin:
            raise HTTPException(403, "The wallboard shows every job: only Superadmins open it.")
        return viewer
    screen_pass = load_pass(conn.app.state.settings.secret_key, conn.cookies.get(COOKIE))
    if screen_pass is None:
        raise NotSignedIn()
    now = time.time()
    link = await run_in_threadpool(links_of(conn).get, screen_pass.link_id, now)
    if link is None:
        raise ScreenRefused(refusal(link_expired=screen_pass.expires_at <= now))
    if await run_in_threadpool(orphaned, runtime_of(conn).engine, [link]):
        raise ScreenRefused(ORPHANED)
    return ScreenViewer(link)


def wall_jobs(runtime: Runtime) -> tuple[list[Job], list[Job]]:
    """Every job not ended yet (newest first), and the latest few ended ones."""
    store = runtime.store
    running = list(reversed(store.get_many(store.active_ids())))
    final = [s for s in Status if s.is_final]
    ended = store.list_jobs(None, final, None, ENDED_SHOWN).items
    return running, ended


def refused_page(request: Request, message: str) -> Response:
    response = render(request, "wall/refused.html", {"message": message}, status_code=403)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


async def wall_page(request: Request) -> Response:
    try:
        viewer = await wall_viewer(request)
    except ScreenRefused as refused:
        return refused_page(request, refused.message)
    runtime = runtime_of(request)
    if isinstance(viewer, ScreenViewer):
        await run_in_threadpool(links_of(request).touch, viewer.link.id, time.time())
    running, ended = await run_in_threadpool(wall_jobs, runtime)
    at, draw = time.time(), context_of(runtime)

    def rows(jobs: list[Job]) -> list[str]:
        return [render_wall_row(draw(j, at), moving=False) for j in jobs]

    context: dict[str, Any] = {
        "running": rows(running),
        "ended": rows(ended),
        "is_screen": isinstance(viewer, ScreenViewer),
        "screen": viewer.link if isinstance(viewer, ScreenViewer) else None,
        "person": viewer if isinstance(viewer, Viewer) else None,
        "rendered_at": at,
        "ended_shown": ENDED_SHOWN,
        "header": None,  # the wall has no admin header
    }
    return render(request, "wall/page.html", context)


async def wall_socket(websocket: WebSocket) -> None:
    try:
        viewer = await wall_viewer(websocket)
    except ScreenRefused as refused:
        await websocket.close(code=1008, reason=refused.message[:120])
        return
    except (NotSignedIn, HTTPException):
        await websocket.close(code=1008, reason="sign in as a Superadmin or open a screen link")
        return
    hub: Hub = websocket.app.state.hub
    keeper = None
    if isinstance(viewer, ScreenViewer):
        keeper = asyncio.create_task(keep_screen(websocket, links_of(websocket), viewer))
    try:
        await hub.serve(websocket, viewer, "all", flavour=websocket.app.state.wall_flavour)
    finally:
        if keeper is not None:
            keeper.cancel()


async def keep_screen(websocket: WebSocket, links: ScreenLinks, screen: ScreenViewer) -> None:
    """While a screen's socket is open: note its use now and then, and close it with 1008 when
    its link expires (or turns out revoked, should the hub have missed the revocation)."""
    link = screen.link
    while True:
        await run_in_threadpool(links.touch, link.id, time.time())
        await asyncio.sleep(max(0.0, min(TOUCH_EVERY_S, link.expires_at - time.time())))
        now = time.time()
        if await run_in_threadpool(links.get, link.id, now) is None:
            reason = refusal(link_expired=now >= link.expires_at)
            with contextlib.suppress(Exception):
                await websocket.close(code=1008, reason=reason[:120])
            return


async def redeem(request: Request) -> Response:
    """GET /screen/{token}: the screen gets its cookie and goes to the wall."""
    now = time.time()
    link = await run_in_threadpool(links_of(request).redeem, request.path_params["token"], now)
    if link is not None:
        ended = await run_in_threadpool(orphaned, runtime_of(request).engine, [link])
        if ended:
            return refused_page(request, ORPHANED)
    if link is None:
        message = (
            "This screen link is not valid: it expired or was revoked. "
            "Ask a Superadmin for a new screen link."
        )
        return refused_page(request, message)
    settings = runtime_of(request).settings
    response = RedirectResponse(WALL_PATH, status_code=303)
    response.set_cookie(
        COOKIE,
        dump_pass(settings.secret_key, link),
        max_age=max(1, int(link.expires_at - now)),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.is_https,
    )
    return response


routes = [
    Route(WALL_PATH, wall_page, methods=["GET"]),
    WebSocketRoute(WALL_PATH + "/ws", wall_socket),
    Route("/screen/{token}", redeem, methods=["GET"]),
]
