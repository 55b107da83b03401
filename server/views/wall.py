"""How the wallboard draws a job: large, read-only (no abort, no notify, an error count and no
details), and placed by status: jobs not ended yet in `#wall-running`, ended ones in `#wall-ended`.

A change of status redraws the whole row and moves it (`data-move`: web/static/wall.js removes
the old one first), so running jobs stay first; other events swap only the state and the count.
"""

from __future__ import annotations

from typing import Any

from server.hub.flavour import Flavour
from server.views.jobs import context_of, render_removed
from server.views.templates import env
from tasks.jobs.model import Status
from tasks.runtime import Runtime

WORDS = {
    Status.QUEUED.value: "Queued",
    Status.RUNNING.value: "Running",
    Status.ABORTING.value: "Stopping…",
    Status.COMPLETED.value: "Completed",
    Status.FAILED.value: "Failed",
    Status.ABORTED.value: "Aborted",
    Status.PAUSING.value: "Pausing…",
    Status.PAUSED.value: "Paused",
}
ICONS = {
    Status.QUEUED.value: "◷",
    Status.RUNNING.value: "▶",
    Status.ABORTING.value: "■",
    Status.COMPLETED.value: "✓",
    Status.FAILED.value: "✕",
    Status.ABORTED.value: "■",
    Status.PAUSING.value: "⏸",
    Status.PAUSED.value: "⏸",
}


def render_wall_row(context: dict[str, Any], moving: bool = True) -> str:
    return env.get_template("wall/_row.html").render(
        **context, moving=moving, words=WORDS, icons=ICONS
    )


def render_wall_parts(context: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, str]:
    if "actions" in kinds:  # the status changed: the row may belong in the other section
        return {"row": render_wall_row(context)}
    parts = {"state": env.get_template("wall/_state.html").render(**context, words=WORDS,
                                                                   icons=ICONS)}  # fmt: skip
    if "errors" in kinds:
        parts["errors"] = env.get_template("wall/_errors.html").render(**context)
    return parts


def wall_flavour(runtime: Runtime) -> Flavour:
    """The wallboard, as the hub draws it: no admin header."""
    return Flavour(
        name="wall",
        context=context_of(runtime),
        render_row=render_wall_row,
        render_parts=render_wall_parts,
        render_removed=render_removed,
        header=None,
    )
