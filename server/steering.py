"""The verbs that steer the line (tasks/jobs/line.py), shared by pages and API: fast-track a
queued job, pause a running one, resume a paused one; and where each queued job stands now.

As in actions.py: each takes the `Runtime`, the `Viewer` and the job's id, refuses with an
`HTTPException` whose sentence a person can act on (404 for a job the viewer may not see, 403
for what their role may not do, 409 for what the job's status does not allow) and changes
nothing then; each change is one transition with its audit entry (`JobStore.transition`). They
do blocking I/O: call them with `run_in_threadpool`.
"""

from __future__ import annotations

import logging
import time
from typing import NoReturn

from starlette.exceptions import HTTPException

from server.actions import owner_of, visible_job
from server.auth.sessions import Viewer
from tasks.jobs.model import Event, InvalidTransition, Job, Status
from tasks.jobs.places import Place
from tasks.jobs.records import AuditEntry, UnknownJob
from tasks.jobs.rescue import dead_after_s
from tasks.runtime import Runtime

log = logging.getLogger(__name__)


def places_now(runtime: Runtime, at: float | None = None) -> dict[str, Place]:
    """Each queued job's place in line and start estimate, as of `at` (now by default)."""
    settings = runtime.settings
    return runtime.line.places(
        time.time() if at is None else at,
        settings.jobs_per_person,
        dead_after_s(settings.heartbeat_interval_s),
    )


def fast_track_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Make a queued job the next to start (after those fast-tracked before it)."""
    job = visible_job(runtime.store, viewer, job_id)
    if not viewer.is_superadmin:
        raise HTTPException(403, "Only a Superadmin may fast-track a job.")
    job = _steer(runtime, viewer, job, Event.FAST_TRACK, "fast-tracked")
    log.info("job fast-tracked", extra={"job_id": job.id, "user_id": viewer.id})
    return job


def pause_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Ask a running job to pause: its worker stops at the next batch boundary."""
    job = _own_job(runtime, viewer, job_id)
    job = _steer(runtime, viewer, job, Event.PAUSE, "paused")
    log.info("job pause asked", extra={"job_id": job.id, "user_id": viewer.id})
    return job


def resume_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Put a paused job back in line, with a turn of its own: it goes on from its checkpoint."""
    job = _own_job(runtime, viewer, job_id)
    if job.status is not Status.PAUSED:
        _refuse(Event.RESUME, job.status)
    at = time.time()
    # In line first: a take skips a paused job in line, so there is no moment when the job is
    # queued but in no line (a crash between the two leaves it paused: resume it again).
    runtime.line.join(job.id, at)
    job = _steer(runtime, viewer, job, Event.RESUME, "resumed", at)
    runtime.queue_turn(job.id)
    log.info("job back in line", extra={"job_id": job.id, "user_id": viewer.id})
    return job


def _own_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    job = visible_job(runtime.store, viewer, job_id)
    if job.owner.id != viewer.id and not viewer.is_superadmin:
        raise HTTPException(404, f"There is no job {job_id!r}.")
    return job


WHAT_IT_NEEDS = {
    Event.FAST_TRACK: "Only a queued job can be fast-tracked",
    Event.PAUSE: "Only a running job can be paused",
    Event.RESUME: "Only a paused job can be resumed",
}


def _steer(
    runtime: Runtime, viewer: Viewer, job: Job, event: Event, action: str, at: float | None = None
) -> Job:
    at = time.time() if at is None else at
    entry = AuditEntry(action, owner_of(viewer), at)
    try:
        return runtime.store.transition(job.id, event, at=at, audit=entry)
    except InvalidTransition as exc:
        _refuse(event, exc.status)
    except UnknownJob:
        raise HTTPException(404, f"There is no job {job.id!r}.") from None


def _refuse(event: Event, status: Status) -> NoReturn:
    now = "is still pausing" if status is Status.PAUSING else f"is {status.value}"
    raise HTTPException(409, f"{WHAT_IT_NEEDS[event]}: this one {now}.")
