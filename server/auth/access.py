"""Who may see what, at the edge: the viewer of a request, and the answers for strangers.

`viewer_of()` is the one way an endpoint learns who is asking. Pages send a stranger to the
sign-in page and back; the API answers 401 in JSON. A signed-in user who may not run jobs gets
403 on every `/admin/` page and API route.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from server.auth.sessions import Sessions, Viewer, session_id_of


class NotSignedIn(Exception):
    pass


async def viewer_of(conn: HTTPConnection) -> Viewer | None:
    if "viewer" not in conn.scope.setdefault("state", {}):
        sessions: Sessions = conn.app.state.sessions
        viewer = await run_in_threadpool(sessions.viewer, session_id_of(conn))
        conn.scope["state"]["viewer"] = viewer
    cached: Viewer | None = conn.scope["state"]["viewer"]
    return cached


async def require_admin(conn: HTTPConnection) -> Viewer:
    """A Superadmin or Power User, else NotSignedIn (→ sign-in) or HTTP 403."""
    viewer = await viewer_of(conn)
    if viewer is None:
        raise NotSignedIn()
    if not viewer.may_run_jobs:
        raise HTTPException(403, "Only Superadmins and Power Users may open this page.")
    return viewer


def is_api(conn: HTTPConnection) -> bool:
    return conn.url.path.startswith("/api/")


async def not_signed_in(request: Request, exc: Exception) -> Response:
    if is_api(request):
        return JSONResponse({"error": "Sign in first."}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
