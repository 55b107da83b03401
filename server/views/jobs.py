"""How the Background Jobs page draws a job: one function for the whole row, one for the part
that live updates swap, and the admin header's lines; `page_flavour()` hands them to the hub.

The page, the htmx responses and the hub all call these. Ids are short because the View All
page repeats them 200 times: the row is `j{id}`, its heading `j{id}d` and its state `j{id}s`.
A push swaps only the state (status, bar, numbers, error count); the row's buttons are drawn
in the browser from that state (web/static/jobdeck.js), so a push never replaces an open
dialog, a focused button or the viewer's own *Notify me* state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from server.hub.flavour import Flavour, Header
from server.views.templates import env
from tasks.jobs.model import Job, Status
from tasks.jobs.places import Place
from tasks.runtime import Runtime

OUTCOMES = {Status.COMPLETED: "completed", Status.FAILED: "failed", Status.ABORTED: "was aborted"}


def job_context(
    job: Job,
    at: float,
    retention_s: float,
    stalled_after_s: float,
    place: Place | None = None,
) -> dict[str, Any]:
    """What every template that draws `job` at time `at` is given (`place`: where it stands in
    line, while queued)."""
    running = job.running_time(at)
    return {
        "place": place if job.status is Status.QUEUED else None,
        "job": job,
        "at": at,
        "running_s": int(running) if running is not None else None,
        "rate": job.rate(at),
        "eta": job.eta(at),
        "stalled": job.is_stalled(at, stalled_after_s),
        "expires_at": job.expires_at(retention_s),
    }


def context_of(
    runtime: Runtime, places: Mapping[str, Place] | None = None
) -> Callable[[Job, float], dict[str, Any]]:
    """`job_context` with this process's retention and stall limit, and the queued jobs'
    `places` (server.steering.places_now; the hub's are kept current by its LineWatch)."""
    retention_s, stalled_after_s = runtime.store.retention_s, runtime.settings.stalled_after_s
    found = places if places is not None else {}
    return lambda job, at: job_context(job, at, retention_s, stalled_after_s, found.get(job.id))


def render_row(context: dict[str, Any], is_watching: bool, upsert: bool = False) -> str:
    return env.get_template("jobs/_row.html").render(
        **context, is_watching=is_watching, upsert=upsert
    )


def render_parts(context: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, str]:
    """Whatever changed (`kinds`: state, errors, actions), the page swaps only the state: it
    carries the error count and the status that the row's buttons are drawn from."""
    return {"state": env.get_template("jobs/_state.html").render(**context)} if kinds else {}


def render_indicator(running: int) -> str:
    return env.get_template("jobs/_indicator.html").render(running=running)


def render_recent(job: Job) -> str:
    """The job's line in the header's recent-jobs pop-up: inserted if new, else replaced."""
    line = env.get_template("jobs/_recent.html").render(job=job)
    return f'<div hx-swap-oob="afterbegin:#recent-list" data-upsert>{line}</div>{line}'


def render_notice(job: Job) -> str:
    outcome = OUTCOMES.get(job.status, job.status.value)
    return env.get_template("jobs/_notice.html").render(job=job, outcome=outcome)


def render_removed(job_id: str) -> str:
    return (
        f'<div id="j{job_id}" hx-swap-oob="delete"></div>'
        f'<div id="recent-{job_id}" hx-swap-oob="delete"></div>'
    )


def page_flavour(runtime: Runtime, places: Mapping[str, Place] | None = None) -> Flavour:
    """The Background Jobs page (and a job's own page), as the hub draws it; `places` is the
    hub's board of places in line, which it keeps current."""
    return Flavour(
        name="page",
        context=context_of(runtime, places),
        render_row=lambda context: render_row(context, is_watching=False, upsert=True),
        render_parts=render_parts,
        render_removed=render_removed,
        header=Header(render_indicator, render_recent, render_notice),
    )
