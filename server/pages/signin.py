"""The HTML pages: sign-in and sign-out, the admin home with its Admin Menu."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.auth.access import require_admin, viewer_of
from server.auth.sessions import Sessions, SignInRefused, is_local_path, session_id_of
from server.inputs import BodyTooLarge, limited
from server.views.templates import render

# An email, a password and a `next` path fit well within this; nothing bigger is read.
MAX_SIGN_IN_BODY = 16 * 1024

log = logging.getLogger(__name__)


async def login_form(request: Request) -> Response:
    target = request.query_params.get("next", "/admin")
    if await viewer_of(request) is not None and is_local_path(target):
        return RedirectResponse(target, status_code=303)
    return render(request, "login.html", {"next": target if is_local_path(target) else "/admin"})


async def login(request: Request) -> Response:
    try:
        form = await limited(request, MAX_SIGN_IN_BODY).form(
            max_files=0, max_fields=10, max_part_size=MAX_SIGN_IN_BODY
        )
    except BodyTooLarge:
        message = "That request is too large to be a sign-in."
        return render(request, "login.html", {"next": "/admin", "error": message}, 413)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = str(form.get("next") or "/admin")
    if not is_local_path(target):
        target = "/admin"
    sessions: Sessions = request.app.state.sessions
    address = request.client.host if request.client else "unknown"
    try:
        user, session_id = await sessions.sign_in(email, password, address)
    except SignInRefused as refused:
        log.info("sign-in refused", extra={"address": address, "status": refused.status})
        context = {"next": target, "email": email[:254], "error": refused.message}
        return render(request, "login.html", context, status_code=refused.status)
    old = session_id_of(request)
    if old:
        await run_in_threadpool(sessions.sign_out, old)
    request.session.clear()
    request.session["sid"] = session_id
    log.info("signed in", extra={"user_id": user.id, "role": user.role, "address": address})
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    session_id = session_id_of(request)
    if session_id:
        viewer = await viewer_of(request)
        sessions: Sessions = request.app.state.sessions
        await run_in_threadpool(sessions.sign_out, session_id)
        log.info("signed out", extra={"user_id": viewer.id if viewer else None})
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    if await viewer_of(request) is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/admin", status_code=303)


async def admin_home(request: Request) -> Response:
    viewer = await viewer_of(request)
    if viewer is not None and not viewer.may_run_jobs:
        return render(request, "user_home.html", {}, status_code=200)
    viewer = await require_admin(request)
    return render(request, "admin/home.html", {})


routes = [
    Route("/", home),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/admin", admin_home),
]
