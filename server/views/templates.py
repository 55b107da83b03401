"""Templates: one Jinja2 environment (autoescaped) for the pages, responses and pushes."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

import web
from tasks.jobs.model import format_duration
from tasks.jobs.overview import overview_of

templates = Jinja2Templates(directory=str(web.TEMPLATES))
env = templates.env
# Templates are read once per process: without this, every render (each fragment of each job on
# every tick, each row of a page) would first stat its file to see whether it changed.
env.auto_reload = False


# time.gmtime and strftime: half the cost of a datetime (a page of 50 jobs formats 400 times).
def iso(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def utc_text(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


env.filters["iso"] = iso
env.filters["utc_text"] = utc_text
env.filters["thousands"] = lambda n: f"{n:,}" if n is not None else "?"
env.filters["duration"] = format_duration


def spoken_seconds(seconds: float | None) -> str:
    """A time left in words a person reads at once: "45 s", "1 min 33 s", "2 h 5 min"."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


env.filters["spoken_duration"] = spoken_seconds


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


env.filters["ordinal"] = ordinal


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page or fragment for `request`, with the viewer in its context."""
    viewer = request.scope.get("state", {}).get("viewer")
    if viewer is not None and viewer.may_run_jobs and "header" not in context:
        context["header"] = overview_of(request.app.state.runtime.store, viewer.id)
    context = {"viewer": viewer, **context}
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response
