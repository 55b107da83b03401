"""The JSON API: list and read jobs, their errors, abort, notify, remove, and launch actions.

Roles as in DESIGN.md: a Power User sees only their own jobs, and asking for anybody else's
answers 404 so that its existence is not confirmed; `scope=all` is for Superadmins only.
Launching answers 202 at once with the queued job.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.access import require_admin
from server.auth import Viewer
from server.rendering import iso as render_iso
from server.uploads import UploadRefused, read_upload
from tasks.csv_input import InvalidUpload
from tasks.jobs.model import Event, InvalidTransition, Job, Person, Status
from tasks.jobs.store import AuditEntry, JobStore, UnknownJob, is_job_id
from tasks.runtime import Runtime
from tasks.uploads import delete_checkpoint, delete_upload

MAX_PAGE = 200
# A page's cursor, as list_jobs makes it: the last job's creation time (a float's repr) and id.
JOB_CURSOR = r"^[0-9]{1,12}(\.[0-9]{1,20})?(e[+-]?[0-9]{1,3})?:[0-9a-f]{16}$"
ERROR_CURSOR = r"^[0-9]{1,12}$"
MAX_ENROLL_JSON_BYTES = 5 * 1024 * 1024

log = logging.getLogger(__name__)


def iso(timestamp: float | None) -> str | None:
    """ISO 8601 in UTC for the JSON, or null."""
    return render_iso(timestamp) or None


def job_json(job: Job, runtime: Runtime, at: float) -> dict[str, Any]:
    settings = runtime.settings
    return {
        "id": job.id,
        "kind": job.kind,
        "description": job.description,
        "owner": {"id": job.owner.id, "name": job.owner.name},
        "status": job.status.value,
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "error_count": job.error_count,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "heartbeat_at": iso(job.heartbeat_at),
        "running_time_s": job.running_time(at),
        "stalled": job.is_stalled(at, settings.worker_lost_after_s / 2),
        "aborted_by": (
            {"id": job.aborted_by.id, "name": job.aborted_by.name} if job.aborted_by else None
        ),
        "aborted_at": iso(job.aborted_at),
        "message": job.message or None,
        "expires_at": iso(job.expires_at(runtime.store.retention_s)),
        "url": f"{settings.base_url}/api/jobs/{job.id}",
        "errors_url": f"{settings.base_url}/admin/background-jobs/{job.id}/errors",
        "page_url": f"{settings.base_url}/admin/background-jobs/{job.id}",
    }


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


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def parse_cursor(raw: str | None) -> str | None:
    """The cursor of a page of jobs, or None for the first; HTTP 400 for anything else (a
    made-up one, such as 'nan:…', would otherwise reach Redis as a score)."""
    if not raw:
        return None
    if not re.fullmatch(JOB_CURSOR, raw):
        raise HTTPException(400, "cursor is malformed: pass back the one a page gave you")
    return raw


def parse_limit(raw: str | None, default: int = 50) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise HTTPException(400, f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


async def list_jobs(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    params = request.query_params
    scope = params.get("scope", "all" if viewer.is_superadmin else "mine")
    if scope not in ("mine", "all"):
        raise HTTPException(400, "scope must be 'mine' or 'all'")
    if scope == "all" and not viewer.is_superadmin:
        raise HTTPException(403, "Only Superadmins may list every job.")
    statuses = []
    for raw in filter(None, params.get("status", "").split(",")):
        try:
            statuses.append(Status(raw))
        except ValueError:
            known = ", ".join(s.value for s in Status)
            raise HTTPException(400, f"unknown status {raw[:40]!r}: use {known}") from None
    owner = viewer.id if scope == "mine" else None
    cursor = parse_cursor(params.get("cursor"))
    limit = parse_limit(params.get("limit"))
    try:
        page = await run_in_threadpool(runtime.store.list_jobs, owner, statuses, cursor, limit)
    except ValueError:
        raise HTTPException(400, "cursor is malformed: pass back the one a page gave you") from None
    at = time.time()
    return JSONResponse(
        {"jobs": [job_json(j, runtime, at) for j in page.items], "cursor": page.cursor}
    )


async def get_job(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    data = job_json(job, runtime, time.time())
    data["notify"] = await run_in_threadpool(runtime.store.is_watching, job.id, viewer.id)
    data["audit"] = [audit_json(e) for e in await run_in_threadpool(runtime.store.audit, job.id)]
    return JSONResponse(data)


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {"action": entry.action, "by": {"id": entry.by.id, "name": entry.by.name},
            "at": iso(entry.at)}  # fmt: skip


async def list_errors(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    raw_cursor = request.query_params.get("cursor") or "0"
    if not re.fullmatch(ERROR_CURSOR, raw_cursor):
        raise HTTPException(400, "cursor is malformed: pass back the one a page gave you")
    limit = parse_limit(request.query_params.get("limit"))
    page = await run_in_threadpool(runtime.store.errors, job.id, int(raw_cursor), limit)
    errors = [{"item": e.item, "message": e.message, "at": iso(e.at)} for e in page.items]
    return JSONResponse({"errors": errors, "cursor": page.cursor, "count": job.error_count})


def spreadsheet_safe(cell: str) -> str:
    """Neutralise a cell that a spreadsheet would run as a formula."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def error_rows(store: JobStore, job_id: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["item", "message", "at"])
    cursor: int | None = 0
    while cursor is not None:
        page = store.errors(job_id, cursor, 1000)
        for error in page.items:
            writer.writerow([spreadsheet_safe(error.item), spreadsheet_safe(error.message),
                             iso(error.at)])  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        cursor = int(page.cursor) if page.cursor else None


async def download_errors(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    return StreamingResponse(
        error_rows(runtime.store, job.id),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="job-{job.id}-errors.csv"'},
    )


def abort_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Abort as `viewer`: final at once when queued, `aborting` until the worker stops."""
    from tasks.actors.mail import queue_job_mails

    job = visible_job(runtime.store, viewer, job_id)
    if job.owner.id != viewer.id and not viewer.is_superadmin:
        raise HTTPException(404, f"There is no job {job_id!r}.")
    at = time.time()
    by = Person(viewer.id, viewer.user.name)
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
        queue_job_mails(runtime.store, job)
    return job


async def abort(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(abort_job, runtime, viewer, request.path_params["id"])
    return JSONResponse(
        job_json(job, runtime, time.time()), status_code=200 if job.is_final else 202
    )


def watch_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    """Record the viewer's wish for an email when the job ends."""
    from tasks.actors.mail import queue_job_mails, send_job_mail

    job = visible_job(runtime.store, viewer, job_id)
    if job.is_final:
        raise HTTPException(409, f"This job has already ended ({job.status.value}).")
    if runtime.store.add_watcher(job.id, viewer.id):
        runtime.store.add_audit(job.id, AuditEntry("notify", owner_of(viewer), time.time()))
        log.info("notify requested", extra={"job_id": job.id, "user_id": viewer.id})
    job = runtime.store.get(job.id)
    if job.is_final and not runtime.store.claim_mail_queue(job.id):
        send_job_mail.send(job.id, viewer.id)  # it ended meanwhile, after the mails were queued
    elif job.is_final:
        queue_job_mails(runtime.store, job)
    return job


async def notify(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(watch_job, runtime, viewer, request.path_params["id"])
    data = job_json(job, runtime, time.time())
    data["notify"] = True
    return JSONResponse(data)


def delete_job(runtime: Runtime, viewer: Viewer, job_id: str) -> None:
    job = visible_job(runtime.store, viewer, job_id)
    if not job.is_final:
        raise HTTPException(409, "A job can be removed only once it has ended.")
    runtime.store.delete(job.id)
    with runtime.engine.begin() as conn:  # its input and checkpoint go with it
        delete_upload(conn, job.id)
        delete_checkpoint(conn, job.id)
    log.info("job removed", extra={"job_id": job.id, "user_id": viewer.id})


async def delete(request: Request) -> Response:
    viewer = await require_admin(request)
    await run_in_threadpool(delete_job, runtime_of(request), viewer, request.path_params["id"])
    return Response(status_code=204)


def owner_of(viewer: Viewer) -> Person:
    return Person(viewer.id, viewer.user.name)


async def launch_import(request: Request) -> Response:
    from tasks.launch import launch_import as launch

    viewer = await require_admin(request)
    runtime = runtime_of(request)
    try:
        upload = await read_upload(request)
        on_existing = upload.fields.get("on_existing") or "skip"
        if on_existing not in ("skip", "update"):
            raise UploadRefused(400, "on_existing must be 'skip' or 'update'")
        job = await run_in_threadpool(launch, runtime, owner_of(viewer), viewer.user.role,
                                      upload.filename, upload.chunks(), on_existing)  # fmt: skip
    except UploadRefused as refused:
        return JSONResponse({"error": refused.message}, status_code=refused.status)
    except InvalidUpload as invalid:
        return JSONResponse({"error": str(invalid)}, status_code=422)
    finally:
        if "upload" in locals():
            upload.close()
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


def enrollment_lists(body: bytes) -> tuple[list[str], list[str]]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise UploadRefused(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise UploadRefused(400, 'Send {"emails": [...], "courses": [...]}.')
    emails, courses = data.get("emails"), data.get("courses")
    for name, value in (("emails", emails), ("courses", courses)):
        if not isinstance(value, list) or not value:
            raise UploadRefused(400, f"{name} must be a non-empty list of strings.")
        if not all(isinstance(v, str) and 0 < len(v) <= 254 for v in value):
            raise UploadRefused(400, f"every entry of {name} must be a string of 1-254 characters.")
    assert isinstance(emails, list) and isinstance(courses, list)
    return list(dict.fromkeys(emails)), list(dict.fromkeys(courses))


async def launch_enrollment(request: Request) -> Response:
    from tasks.launch import launch_enrollment as launch
    from tasks.launch import pairs_csv

    viewer = await require_admin(request)
    runtime = runtime_of(request)
    upload = None
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_ENROLL_JSON_BYTES:
                    raise UploadRefused(413, "The request is larger than 5 MB.")
            emails, courses = enrollment_lists(body)
            pairs = len(emails) * len(courses)
            description = (
                f"Enroll {len(emails):,} users in {len(courses):,} courses ({pairs:,} enrollments)"
            )
            chunks: Iterator[bytes] = pairs_csv(emails, courses)
        else:
            upload = await read_upload(request)
            description = f"Enroll users in courses from {upload.filename}"
            chunks = upload.chunks()
        job = await run_in_threadpool(launch, runtime, owner_of(viewer), viewer.user.role,
                                      chunks, description)  # fmt: skip
    except UploadRefused as refused:
        return JSONResponse({"error": refused.message}, status_code=refused.status)
    except InvalidUpload as invalid:
        return JSONResponse({"error": str(invalid)}, status_code=422)
    finally:
        if upload is not None:
            upload.close()
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


routes = [
    Route("/api/jobs", list_jobs, methods=["GET"]),
    Route("/api/jobs/{id}", get_job, methods=["GET"]),
    Route("/api/jobs/{id}", delete, methods=["DELETE"]),
    Route("/api/jobs/{id}/errors", list_errors, methods=["GET"]),
    Route("/api/jobs/{id}/errors.csv", download_errors, methods=["GET"]),
    Route("/api/jobs/{id}/abort", abort, methods=["POST"]),
    Route("/api/jobs/{id}/notify", notify, methods=["POST"]),
    Route("/api/imports/users", launch_import, methods=["POST"]),
    Route("/api/enrollments", launch_enrollment, methods=["POST"]),
]
