"""How a job is drawn: one function for the whole row, one for the part that live updates swap.

The page, the htmx responses and the hub all call these. Ids are short because the View All
page repeats them 200 times: the row is `j{id}`, its heading `j{id}d` and its state `j{id}s`.
A push swaps only the state (status, bar, numbers, error count); the row's buttons are drawn
in the browser from that state (web/static/jobdeck.js), so a push never replaces an open
dialog, a focused button or the viewer's own *Notify me* state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.rendering import env
from tasks.jobs.model import Job, Status
from tasks.jobs.store import JobStore

RECENT = 5
OUTCOMES = {Status.COMPLETED: "completed", Status.FAILED: "failed", Status.ABORTED: "was aborted"}


def job_context(job: Job, at: float, retention_s: float, stalled_after_s: float) -> dict[str, Any]:
    running = job.running_time(at)
    return {
        "job": job,
        "at": at,
        "running_s": int(running) if running is not None else None,
        "rate": job.rate(at),
        "eta": job.eta(at),
        "stalled": job.is_stalled(at, stalled_after_s),
        "expires_at": job.expires_at(retention_s),
    }


def render_row(context: dict[str, Any], is_watching: bool, upsert: bool = False) -> str:
    return env.get_template("jobs/_row.html").render(
        **context, is_watching=is_watching, upsert=upsert
    )


def render_parts(context: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, str]:
    """Whatever changed (`kinds`: state, errors, actions), the page swaps only the state: it
    carries the error count and the status that the row's buttons are drawn from."""
    return {"state": env.get_template("jobs/_state.html").render(**context)} if kinds else {}


def running_counts(store: JobStore, owner_ids: Iterable[int]) -> dict[int, int]:
    """How many of each person's jobs have not ended yet (for the header indicator)."""
    counts = dict.fromkeys(owner_ids, 0)
    if counts:
        for job in store.get_many(store.active_ids()):
            if job.owner.id in counts:
                counts[job.owner.id] += 1
    return counts


def running_count(store: JobStore, owner_id: int) -> int:
    return running_counts(store, [owner_id])[owner_id]


def header_state(store: JobStore, owner_id: int) -> dict[str, Any]:
    """The header indicator on every admin page: my running jobs and my latest few."""
    recent = store.list_jobs(owner_id=owner_id, limit=RECENT).items
    return {"running": running_count(store, owner_id), "recent": recent}


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


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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


env.filters["duration"] = format_seconds
env.filters["spoken_duration"] = spoken_seconds
