"""The Starlette application, and the web process's composition root: `create_app()` builds
the Runtime, the hub with its metrics, and the access re-check once, and mounts each wing.
Nothing happens at import."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import web
from server import api, pages
from server.auth.access import NotSignedIn, is_api, not_signed_in, viewer_of
from server.auth.cross_site import CrossSiteGuard, SecurityHeaders
from server.auth.hosts import HostGuard
from server.auth.screen_links import ScreenLinks, hide_tokens_from
from server.auth.sessions import SESSION_TTL_S, Sessions
from server.hub import endpoint, revocation
from server.hub.fanout import CLOSE_TIMEOUT_S, Hub
from server.hub.line_watch import LineWatch
from server.hub.metrics import HubMetrics
from server.ops.health import Health
from server.ops.metrics import MetricsEndpoint
from server.views.jobs import page_flavour
from server.views.templates import render
from server.views.wall import wall_flavour
from tasks.data.db import create_schema
from tasks.jobs.places import Place
from tasks.logs import configure_logging
from tasks.runtime import Runtime
from tasks.settings import Settings


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if is_api(request):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    await viewer_of(request)
    return render(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                  status_code=exc.status_code)  # fmt: skip


def proxy_headers(settings: Settings) -> list[Middleware]:
    """X-Forwarded-For and -Proto believed only from FORWARDED_ALLOW_IPS (uvicorn itself is run
    with --no-proxy-headers): by default nobody's, so that no caller, loopback included, can
    choose the address that sign-in limits and /metrics go by."""
    if not settings.forwarded_allow_ips:
        return []
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)]


class App(Starlette):
    """Starlette whose every response, a server error's included, has the security headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_environ(os.environ)
    configure_logging(settings.production)
    hide_tokens_from(logging.getLogger("uvicorn.access"))
    runtime = Runtime(settings)
    sessions = Sessions(runtime)
    places: dict[str, Place] = {}  # the queued jobs' places, as the hub last drew them
    hub = Hub(runtime, page_flavour(runtime, places), HubMetrics(), LineWatch(runtime, places))
    health = Health(runtime)
    metrics = MetricsEndpoint(runtime, hub)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        create_schema(runtime.engine)
        await hub.start()
        recheck = asyncio.create_task(revocation.watch(hub, sessions), name="hub-revocation")
        try:
            yield
        finally:
            recheck.cancel()
            await asyncio.wait([recheck], timeout=CLOSE_TIMEOUT_S)  # as Hub.stop waits
            await hub.stop()
            health.close()
            sessions.close()

    app = App(
        routes=[
            *pages.routes,
            Mount("/api", routes=api.routes),
            *endpoint.routes,
            *health.routes,
            *metrics.routes,
            Mount("/static", StaticFiles(directory=str(web.STATIC)), name="static"),
        ],
        middleware=[
            Middleware(HostGuard, base_url=settings.base_url),
            *proxy_headers(settings),
            Middleware(CrossSiteGuard, base_url=settings.base_url),
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="jobdeck_session",
                max_age=SESSION_TTL_S,
                same_site="lax",
                https_only=settings.is_https,
            ),
        ],
        exception_handlers={HTTPException: http_error, NotSignedIn: not_signed_in},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.sessions = sessions
    app.state.hub = hub
    app.state.wall_flavour = wall_flavour(runtime)
    app.state.screens = ScreenLinks(runtime.store.redis, runtime.store.prefix)
    return app
