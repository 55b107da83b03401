"""Screen links for Superadmins: the list (name, creator, created, expires, last used), a form
that creates one and shows its address once, and revocation."""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.actions import runtime_of
from server.auth.access import require_admin
from server.auth.screen_links import LIFETIMES_DAYS, InvalidScreenLink, ScreenLink
from server.auth.sessions import Viewer
from server.inputs import whole_number
from server.pages.wall import links_of
from server.views.templates import render

DEFAULT_LIFETIME_DAYS = 30


async def require_superadmin(request: Request) -> Viewer:
    viewer = await require_admin(request)
    if not viewer.is_superadmin:
        raise HTTPException(403, "Only Superadmins manage screen links.")
    return viewer


async def page(
    request: Request, extra: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    links: list[ScreenLink] = await run_in_threadpool(links_of(request).list, time.time())
    context: dict[str, Any] = {
        "links": links,
        "lifetimes": LIFETIMES_DAYS,
        "lifetime": DEFAULT_LIFETIME_DAYS,
        "nonce": secrets.token_urlsafe(16),
        **(extra or {}),
    }
    return render(request, "screens/list.html", context, status_code=status_code)


async def list_links(request: Request) -> Response:
    await require_superadmin(request)
    return await page(request)


async def create_link(request: Request) -> Response:
    viewer = await require_superadmin(request)
    form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
    name = str(form.get("name") or "")[:500]
    nonce = str(form.get("nonce") or "")[:64]
    if not nonce:
        return await page(
            request, {"error": "That form is out of date: try again.", "name": name}, 400
        )
    if not await run_in_threadpool(links_of(request).claim_form, nonce):
        return await page(request, {"resent": True}, 409)
    days = whole_number(str(form.get("lifetime_days") or ""), 4)
    if days is None or days not in LIFETIMES_DAYS:
        return await page(request, {"error": "Choose how long the link lasts.", "name": name}, 400)
    try:
        link, token = await run_in_threadpool(
            links_of(request).create, name, viewer.id, viewer.user.name, days * 86400, time.time()
        )
    except InvalidScreenLink as invalid:
        return await page(request, {"error": str(invalid), "name": name, "lifetime": days}, 400)
    address = runtime_of(request).settings.base_url.rstrip("/") + f"/screen/{token}"
    return await page(request, {"created": link, "address": address}, 201)


async def revoke_link(request: Request) -> Response:
    await require_superadmin(request)
    link_id = request.path_params["id"]
    if not await run_in_threadpool(links_of(request).revoke, link_id):
        raise HTTPException(404, "That screen link does not exist any more.")
    return RedirectResponse("/admin/screens", status_code=303)


routes = [
    Route("/admin/screens", list_links, methods=["GET"]),
    Route("/admin/screens", create_link, methods=["POST"]),
    Route("/admin/screens/{id}/revoke", revoke_link, methods=["POST"]),
]
