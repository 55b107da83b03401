"""The verbs that pages and the API share: the job a viewer may see, abort, notify, remove, and
launch a massive action from an upload.

Each takes the `Runtime`, the `Viewer` and what the person sent, and raises `HTTPException`
with a sentence the person can act on; the page or API handler around it only draws the
answer. They do blocking I/O: call them with `run_in_threadpool`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from server.auth.sessions import Viewer
from server.inputs import Upload, UploadRefused
from tasks.data.journal import delete_journal
from tasks.jobs.model import Event, InvalidTransition, Job, Person, Status
from tasks.jobs.notify import queue_job_mail, queue_job_mails
from tasks.jobs.records import AuditEntry, UnknownJob, is_job_id
from tasks.jobs.store import JobStore
from tasks.launch import launch_enrollment, launch_import
from tasks.runtime import Runtime
from tasks.uploads import delete_checkpoint, delete_upload

log = logging.getLogger(__name__)


def runtime_of(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


def owner_of(viewer: Viewer) -> Person:
    return Person(viewer.id, viewer.user.name)


def visible_job(store: JobStore, viewer: Viewer, job_id: str) -> Job:
    """The job if this viewer may see it; 404 otherwise (unknown, malformed or not theirs)."""
    if not is_job_id(job_id):
        raise HTTPException(404, f"There is no job {job_id[:40]!r}.")
    try:
        job = store.get(job_id)
    except UnknownJob:
        raise HTTPException(404, f"There is no job {job_id!r}.") from None
    if not job.may_be_seen_by(viewer.id, viewer.is_superadmin):
        raise HTTPException(404, f"There is no job {job_id!r}.")
    return job


def abort_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Abort as `viewer`: final at once when queued, `aborting` until the worker stops."""
    job = visible_job(runtime.store, viewer, job_id)
    if job.owner.id != viewer.id and not viewer.is_superadmin:
        raise HTTPException(404, f"There is no job {job_id!r}.")
    at = time.time()
    by = owner_of(viewer)
    entry = AuditEntry("aborted", by, at)
    try:
        job = runtime.store.transition(
            job.id, Event.ABORT, at=at, audit=entry, aborted_by=by, aborted_at=at
        )
    except InvalidTransition as exc:
        if exc.status is Status.ABORTING:
            raise HTTPException(409, "This job is already being aborted.") from None
        raise HTTPException(409, f"This job has already ended ({exc.status.value}).") from None
    ids = {"job_id": job.id, "user_id": viewer.id, "owner_id": job.owner.id}
    log.info("job aborted", extra={**ids, "status": job.status.value})
    if job.is_final:
        queue_job_mails(runtime, job)
    return job


def watch_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Record the viewer's wish for an email when the job ends."""
    store = runtime.store
    job = visible_job(store, viewer, job_id)
    if job.is_final:
        raise HTTPException(409, f"This job has already ended ({job.status.value}).")
    if store.add_watcher(job.id, viewer.id):
        store.add_audit(job.id, AuditEntry("notify", owner_of(viewer), time.time()))
        log.info("notify requested", extra={"job_id": job.id, "user_id": viewer.id})
    job = store.get(job.id)
    if job.is_final and not store.claim_mail_queue(job.id):
        queue_job_mail(runtime, job.id, viewer.id)  # it ended meanwhile, after the mails went
    elif job.is_final:
        queue_job_mails(runtime, job)
    return job


def delete_job(runtime: Runtime, viewer: Viewer, job_id: str) -> None:
    job = visible_job(runtime.store, viewer, job_id)
    if not job.is_final:
        raise HTTPException(409, "A job can be removed only once it has ended.")
    runtime.store.delete(job.id)
    with runtime.engine.begin() as conn:  # its input and checkpoint go with it
        delete_upload(conn, job.id)
        delete_checkpoint(conn, job.id)
        delete_journal(conn, [job.id])
    log.info("job removed", extra={"job_id": job.id, "user_id": viewer.id})


def import_from(runtime: Runtime, viewer: Viewer, upload: Upload) -> Job:
    """Queue an import of an uploaded users file; UploadRefused or InvalidUpload if bad."""
    on_existing = upload.fields.get("on_existing") or "skip"
    if on_existing not in ("skip", "update"):
        raise UploadRefused(400, "on_existing must be 'skip' (leave existing users) or 'update'.")
    return launch_import(
        runtime, owner_of(viewer), viewer.user.role, upload.filename, upload.chunks(), on_existing,
        mode_of(upload.fields.get("mode")),
    )  # fmt: skip


def mode_of(raw: str | None) -> str:
    """A launch's `mode`: "run" (the default) or "check"; UploadRefused(400) otherwise."""
    mode = raw or "run"
    if mode not in ("run", "check"):
        raise UploadRefused(400, "mode must be 'run' or 'check' (a dry run that writes nothing).")
    return mode


def enroll_from(runtime: Runtime, viewer: Viewer, upload: Upload) -> Job:
    """Queue the enrollments of an uploaded `email,course` CSV; InvalidUpload if bad."""
    description = f"Enroll users in courses from {upload.filename}"
    mode = mode_of(upload.fields.get("mode"))
    return enroll_pairs(runtime, viewer, upload.chunks(), description, mode)


def enroll_pairs(
    runtime: Runtime,
    viewer: Viewer,
    chunks: Iterable[bytes],
    description: str,
    mode: str = "run",
) -> Job:
    """Queue the enrollments of an `email,course` CSV given in chunks; InvalidUpload if bad."""
    return launch_enrollment(runtime, owner_of(viewer), viewer.user.role, chunks, description, mode)
