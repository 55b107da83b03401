"""The Background Jobs pages: the live list, a job's errors (page and pop-up), *Notify me*.

The list is complete on first load (running jobs first, then the newest, paginated, filtered
by status and searched by description or owner); the hub keeps it current over the socket.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from server.actions import runtime_of, visible_job, watch_job
from server.auth.access import require_admin
from server.auth.sessions import Viewer
from server.inputs import MAX_SEARCH, parse_cursor
from server.pages.detail import error_listing
from server.steering import places_now
from server.views.jobs import context_of, render_row
from server.views.templates import env, render
from tasks.jobs.model import FINAL, Job, Status
from tasks.runtime import Runtime

PAGE_SIZE = 50
ACTIVE = frozenset(Status) - FINAL  # (paused and pausing ones too: listed once, at the top)


def page_jobs(
    runtime: Runtime, viewer: Viewer, tab: str, status: str, query: str, cursor: str | None
) -> tuple[list[Job], str | None]:
    """The first page holds every job not ended yet, then PAGE_SIZE ended ones, newest first;
    a status filter lists only that status."""
    store = runtime.store
    owner = None if tab == "all" else viewer.id
    needle = query.casefold()

    def matches(job: Job) -> bool:
        haystack = f"{job.description}\n{job.owner.name}".casefold()
        return not needle or needle in haystack

    running: list[Job] = []
    if not status and cursor is None and needle:
        # Only the jobs under way whose text matches are read whole.
        under_way = max(1, len(store.active_ids()))
        running = store.list_jobs(owner, sorted(ACTIVE), None, under_way, search=needle).items
    elif not status and cursor is None:
        active = store.get_many(store.active_ids())
        running = [j for j in reversed(active) if owner in (None, j.owner.id)]
    statuses = [Status(status)] if status else [s for s in Status if s not in ACTIVE]
    listed: list[Job] = []
    while len(listed) < PAGE_SIZE:
        page = store.list_jobs(owner, statuses, cursor, PAGE_SIZE, search=needle)
        listed += [j for j in page.items if matches(j)]
        cursor = page.cursor
        if cursor is None:
            break
    if len(listed) > PAGE_SIZE:
        listed = listed[:PAGE_SIZE]
        cursor = f"{listed[-1].created_at!r}:{listed[-1].id}"
    return running + listed, cursor


async def background_jobs(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    params = request.query_params
    tab = params.get("tab", "all") if viewer.is_superadmin else "mine"
    if tab not in ("all", "mine"):
        raise HTTPException(400, "tab must be 'all' or 'mine'")
    status = params.get("status", "")
    if status and status not in {s.value for s in Status}:
        raise HTTPException(400, f"unknown status {status[:40]!r}")
    query = params.get("q", "")[:MAX_SEARCH]
    cursor = parse_cursor(params.get("cursor"))

    def read() -> tuple[list[Job], str | None, set[str]]:
        jobs, next_cursor = page_jobs(runtime, viewer, tab, status, query, cursor)
        return jobs, next_cursor, runtime.store.watched_by([j.id for j in jobs], viewer.id)

    jobs, next_cursor, watching = await run_in_threadpool(read)
    at = time.time()
    draw = context_of(runtime, await run_in_threadpool(places_now, runtime, at))
    rows = [render_row(draw(j, at), is_watching=j.id in watching) for j in jobs]
    is_filtered = bool(status or query or cursor)
    context: dict[str, Any] = {
        "tab": tab,
        "rows": rows,
        "status": status,
        "q": query,
        "next_cursor": next_cursor,
        "statuses": [s.value for s in Status],
        "ws_url": f"/ws/jobs?tab={tab}&list=1&insert={'0' if is_filtered else '1'}",
    }
    return render(request, "jobs/page.html", context)


async def errors_dialog(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    listing = await run_in_threadpool(error_listing, runtime.store, job, request.query_params, 20)
    html = env.get_template("jobs/_errors_dialog.html").render(job=job, **listing)
    return HTMLResponse(html)


async def errors_page(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    listing = await run_in_threadpool(error_listing, runtime.store, job, request.query_params, 200)
    return render(request, "jobs/errors.html", {"job": job, **listing})


async def notify(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(watch_job, runtime, viewer, request.path_params["id"])
    html = env.get_template("jobs/_notify.html").render(job=job, is_watching=True)
    return HTMLResponse(html)


routes = [
    Route("/admin/background-jobs", background_jobs),
    Route("/admin/background-jobs/{id}/errors", errors_page),
    Route("/admin/background-jobs/{id}/errors-dialog", errors_dialog),
    Route("/admin/background-jobs/{id}/notify", notify, methods=["POST"]),
]
