"""How a job is drawn: one function for the whole row, one for the parts that live updates swap.

The page, the htmx responses and the hub all call these. Parts carry their own ids
(`job-{id}-state`, `-errors`, `-actions`, `-notify`), so a push swaps only them and never an
open dialog, a focused button or the viewer's own *Notify me* state.
"""

from __future__ import annotations

from typing import Any

from server.rendering import env
from tasks.jobs.model import Job

PART_TEMPLATES = {
    "state": "jobs/_state.html",
    "errors": "jobs/_errors_badge.html",
    "actions": "jobs/_actions.html",
}


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
    parts = {kind: env.get_template(PART_TEMPLATES[kind]).render(**context) for kind in kinds}
    if "actions" in kinds and context["job"].is_final:
        parts["notify"] = f'<span id="job-{context["job"].id}-notify"></span>'
    return parts


def render_removed(job_id: str) -> str:
    return f'<div id="job-{job_id}" hx-swap-oob="delete"></div>'


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


env.filters["duration"] = format_seconds
