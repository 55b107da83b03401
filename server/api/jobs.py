"""The JSON API's jobs: list and read them, their errors (JSON and CSV), abort, notify, remove.

Roles as on the pages (README): a Power User sees only their own jobs, and asking for anybody else's
answers 404 so that its existence is not confirmed; `scope=all` is for Superadmins only.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from server.actions import abort_job, delete_job, runtime_of, visible_job, watch_job
from server.api import schema
from server.api.openapi import (
    JOB_ID,
    NOT_YOURS,
    SIGNED_IN,
    SIGNED_IN_FROM_HERE,
    Answer,
    Operation,
    json_answer,
    query,
)
from server.auth.access import require_admin
from server.inputs import (
    ERROR_CURSOR,
    JOB_CURSOR,
    MAX_PAGE,
    MAX_SEARCH,
    parse_cursor,
    parse_error_cursor,
    parse_limit,
)
from server.steering import places_now
from server.views.templates import iso as render_iso
from tasks.jobs.budget import capping_budget
from tasks.jobs.model import Job, Status
from tasks.jobs.places import Place
from tasks.jobs.records import AuditEntry
from tasks.jobs.store import JobStore
from tasks.runtime import Runtime

CURSOR_DESCRIPTION = "The cursor the previous page gave; absent for the first page."


def iso(timestamp: float | None) -> str | None:
    """ISO 8601 in UTC for the JSON, or null."""
    return render_iso(timestamp) or None


def job_json(
    job: Job, runtime: Runtime, at: float, places: Mapping[str, Place] | None = None
) -> dict[str, Any]:
    """A job as `schema.Job` describes it (a dict: a page of 200 costs less than with models);
    `places`: where the queued jobs stand (server.steering.places_now)."""
    settings = runtime.settings
    place = places.get(job.id) if places is not None else None
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
        "stalled": job.is_stalled(at, settings.stalled_after_s),
        "aborted_by": (
            {"id": job.aborted_by.id, "name": job.aborted_by.name} if job.aborted_by else None
        ),
        "aborted_at": iso(job.aborted_at),
        "message": job.message or None,
        "expires_at": iso(job.expires_at(runtime.store.retention_s)),
        "url": f"{settings.base_url}/api/jobs/{job.id}",
        "errors_url": f"{settings.base_url}/admin/background-jobs/{job.id}/errors",
        "page_url": f"{settings.base_url}/admin/background-jobs/{job.id}",
        **line_json(job, place),
    }


def line_json(job: Job, place: Place | None) -> dict[str, Any]:
    """The job's place in line (issue 17), when queued."""
    return {
        "queue_position": place.position if place else None,
        "starts_at_estimate": iso(place.starts_at) if place else None,
        "waiting_reason": (place.waiting_reason(job.owner.name) or None) if place else None,
        "fast_tracked_at": iso(job.fast_tracked_at),
        "paused_at": iso(job.paused_at),
        "mode": job.params.get("mode", "run"),
        "outcome": job.outcome,
        "source_id": job.source_id,
        "follow_ups": job.follow_ups,
    }


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
    search = params.get("q", "")
    if len(search) > MAX_SEARCH:
        raise HTTPException(400, f"q is longer than {MAX_SEARCH} characters")
    try:
        page = await run_in_threadpool(
            runtime.store.list_jobs, owner, statuses, cursor, limit, search=search
        )
    except ValueError:
        raise HTTPException(400, "cursor is malformed: pass back the one a page gave you") from None
    at = time.time()
    places = await run_in_threadpool(places_now, runtime, at)
    return JSONResponse(
        {"jobs": [job_json(j, runtime, at, places) for j in page.items], "cursor": page.cursor}
    )


async def get_job(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    at = time.time()
    data = job_json(job, runtime, at, await run_in_threadpool(places_now, runtime, at))
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
    cursor = parse_error_cursor(request.query_params.get("cursor"))
    limit = parse_limit(request.query_params.get("limit"))
    page = await run_in_threadpool(runtime.store.errors, job.id, cursor, limit)
    kept = await run_in_threadpool(runtime.store.error_count, job.id)
    errors = [{"item": e.item, "message": e.message, "at": iso(e.at)} for e in page.items]
    return JSONResponse(
        {"errors": errors, "cursor": page.cursor, "count": job.error_count, "kept": kept}
    )


# A formula may start a cell, or start after any character a spreadsheet may read as a
# separator (`;` is the European default, a tab for tab-separated reading), spaces allowed.
_FORMULA_START = re.compile(r"(^|[,;\t\r\n|])( *)(?=[=+\-@])")


def spreadsheet_safe(cell: str) -> str:
    """Neutralise whatever a spreadsheet would run as a formula: an apostrophe before every
    `=`, `+`, `-` or `@` that opens the cell or follows a separator, and before a leading tab
    or carriage return. The CSV also quotes every cell (`error_rows`)."""
    cell = _FORMULA_START.sub(r"\1\2'", cell)
    return "'" + cell if cell[:1] in ("\t", "\r") else cell


def error_rows(store: JobStore, job: Job) -> Iterator[str]:
    """The ledger as CSV; when it keeps fewer than the job found, a last row says so (and why,
    when the owner's budget capped it)."""
    job_id, found = job.id, job.error_count
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
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
    kept = store.error_count(job_id)
    if kept < found:
        note = f"only the first {kept:,} errors are kept, of {found:,} found"
        budget = capping_budget(store, job)
        if budget is not None:
            note += (f" (one person's jobs keep at most {budget:,} errors between them,"
                     " OWNER_MAX_KEPT_ERRORS)")  # fmt: skip
        writer.writerow(["…", f"{note}: the others are counted, not kept", ""])
        yield buffer.getvalue()


async def download_errors(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(visible_job, runtime.store, viewer, request.path_params["id"])
    return StreamingResponse(
        error_rows(runtime.store, job),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="job-{job.id}-errors.csv"'},
    )


async def abort(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(abort_job, runtime, viewer, request.path_params["id"])
    return JSONResponse(
        job_json(job, runtime, time.time()), status_code=200 if job.is_final else 202
    )


async def notify(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(watch_job, runtime, viewer, request.path_params["id"])
    at = time.time()
    data = job_json(job, runtime, at, await run_in_threadpool(places_now, runtime, at))
    data["notify"] = True
    return JSONResponse(data)


async def delete(request: Request) -> Response:
    viewer = await require_admin(request)
    await run_in_threadpool(delete_job, runtime_of(request), viewer, request.path_params["id"])
    return Response(status_code=204)


STATUSES = "|".join(s.value for s in Status)
ERROR_PARAMETERS = [
    JOB_ID,
    query("cursor", {"type": "string", "pattern": ERROR_CURSOR}, CURSOR_DESCRIPTION),
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}),
]
LIST_PARAMETERS = [
    query("scope", {"type": "string", "enum": ["mine", "all"]},
          "'all' (Superadmins only) or 'mine'."),
    query("status", {"type": "string", "pattern": f"^({STATUSES})(,({STATUSES}))*$"},
          "Comma-separated statuses."),
    query("cursor", {"type": "string", "pattern": JOB_CURSOR}, CURSOR_DESCRIPTION),
    ERROR_PARAMETERS[2],
    query("q", {"type": "string", "maxLength": MAX_SEARCH},
          "Only the jobs whose description or owner's name contains this, in any case."),
]  # fmt: skip

routes = [
    Operation("GET", "/jobs", list_jobs, "List jobs, newest first",
              {200: json_answer("A page of jobs.", schema.JobPage),
               400: json_answer("A malformed parameter."), **SIGNED_IN},
              LIST_PARAMETERS),
    Operation("GET", "/jobs/{id}", get_job, "One job",
              {200: json_answer("The job.", schema.JobDetail), **SIGNED_IN, **NOT_YOURS},
              [JOB_ID]),
    Operation("DELETE", "/jobs/{id}", delete, "Remove an ended job, its errors and its input",
              {204: Answer("Removed."), 409: json_answer("The job has not ended."),
               **SIGNED_IN_FROM_HERE, **NOT_YOURS},
              [JOB_ID]),
    Operation("GET", "/jobs/{id}/errors", list_errors, "A job's errors, in the order they happened",
              {200: json_answer("A page of errors.", schema.ErrorPage),
               400: json_answer("A malformed parameter."), **SIGNED_IN, **NOT_YOURS},
              ERROR_PARAMETERS),
    Operation("GET", "/jobs/{id}/errors.csv", download_errors,
              "All of a job's errors as CSV (formulas neutralised)",
              {200: Answer("item,message,at", {"text/csv": None}), **SIGNED_IN, **NOT_YOURS},
              [JOB_ID]),
    Operation("POST", "/jobs/{id}/abort", abort, "Abort a job",
              {200: json_answer("Aborted (it was still queued).", schema.Job),
               202: json_answer("Aborting: the worker stops at its next check.", schema.Job),
               409: json_answer("Already ended or being aborted."),
               **SIGNED_IN_FROM_HERE, **NOT_YOURS},
              [JOB_ID]),
    Operation("POST", "/jobs/{id}/notify", notify, "Email me when this job ends",
              {200: json_answer("Noted.", schema.WatchedJob),
               409: json_answer("The job has already ended."),
               **SIGNED_IN_FROM_HERE, **NOT_YOURS},
              [JOB_ID]),
]  # fmt: skip
