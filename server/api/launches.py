"""The JSON API's launches: import users from a CSV upload, enroll users in courses (a CSV
upload, or JSON lists of emails and courses). Each answers 202 at once with the queued job."""

from __future__ import annotations

import time
from collections.abc import Iterator

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.actions import enroll_from, enroll_pairs, import_from, runtime_of
from server.api import schema
from server.api.jobs import job_json
from server.api.openapi import SIGNED_IN_FROM_HERE, Body, Operation, json_answer
from server.auth.access import require_admin
from server.inputs import UploadRefused, received_upload, refusal
from tasks.csv_input import MAX_BYTES, InvalidUpload
from tasks.jobs.records import TooManyActiveJobs
from tasks.launch import pairs_csv

MB = 1024 * 1024
MAX_ENROLL_JSON_BYTES = 5 * MB


async def launch_import(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    try:
        async with received_upload(request) as upload:
            job = await run_in_threadpool(import_from, runtime, viewer, upload)
    except (UploadRefused, InvalidUpload, TooManyActiveJobs) as exc:
        status, message = refusal(exc)
        return JSONResponse({"error": message}, status_code=status)
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


def enrollment_lists(body: bytes | bytearray) -> schema.EnrollmentLists:
    """A JSON enrollment body (`schema.EnrollmentLists`), its emails and courses each once;
    UploadRefused(400) with a sentence naming what is wrong."""
    try:
        lists = schema.EnrollmentLists.model_validate_json(body)
    except ValidationError as invalid:
        raise UploadRefused(400, refusal_of(invalid.errors()[0])) from None
    lists.emails = list(dict.fromkeys(lists.emails))
    lists.courses = list(dict.fromkeys(lists.courses))
    return lists


def refusal_of(error: ErrorDetails) -> str:
    if error["type"] == "json_invalid":
        return "The body is not valid JSON."
    where = error["loc"]
    if where and where[0] == "mode":
        return "mode must be 'run' or 'check' (a dry run that writes nothing)."
    if not where or where[0] not in ("emails", "courses"):
        return 'Send {"emails": [...], "courses": [...]}.'
    if len(where) == 1:
        return f"{where[0]} must be a non-empty list of strings."
    return f"every entry of {where[0]} must be a string of 1-254 characters."


def check_enrollment_size(emails: list[str], courses: list[str], max_rows: int) -> None:
    """Refuse (413) by arithmetic what the pairs CSV could not hold: more rows, or more bytes
    (`email,course` and a newline per pair, before any quoting), than an uploaded file may
    have. Nothing is built before."""
    pairs = len(emails) * len(courses)
    if pairs > max_rows:
        raise UploadRefused(
            413,
            f"{len(emails):,} emails × {len(courses):,} courses make {pairs:,} enrollments; "
            f"at most {max_rows:,} can be sent at once: split the lists.",
        )
    size = (
        sum(len(e.encode()) for e in emails) * len(courses)
        + sum(len(c.encode()) for c in courses) * len(emails)
        + 2 * pairs
    )
    if size > MAX_BYTES:
        raise UploadRefused(
            413,
            f"These {pairs:,} enrollments make a file of {size / MB:.0f} MB; at most "
            f"{MAX_BYTES // MB} MB can be sent at once: split the lists.",
        )


async def enrollment_json(request: Request) -> tuple[Iterator[bytes], str, str]:
    """The pairs CSV (streamed as it is read), description and mode of a JSON enrollment
    body."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ENROLL_JSON_BYTES:
            raise UploadRefused(413, "The request is larger than 5 MB.")
    lists = enrollment_lists(body)
    emails, courses = lists.emails, lists.courses
    del body
    check_enrollment_size(emails, courses, runtime_of(request).settings.import_max_rows)
    pairs = len(emails) * len(courses)
    description = (
        f"Enroll {len(emails):,} users in {len(courses):,} courses ({pairs:,} enrollments)"
    )
    return pairs_csv(emails, courses), description, lists.mode


async def launch_enrollment(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            chunks, description, mode = await enrollment_json(request)
            job = await run_in_threadpool(enroll_pairs, runtime, viewer, chunks, description, mode)
        else:
            async with received_upload(request) as upload:
                job = await run_in_threadpool(enroll_from, runtime, viewer, upload)
    except (UploadRefused, InvalidUpload, TooManyActiveJobs) as exc:
        status, message = refusal(exc)
        return JSONResponse({"error": message}, status_code=status)
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


REFUSALS = {
    **SIGNED_IN_FROM_HERE,
    400: json_answer("The request could not be read."),
    413: json_answer("Over the size limit (an upload is cut off while it streams)."),
    429: json_answer("The person already has MAX_ACTIVE_JOBS_PER_USER jobs queued or running."),
    415: json_answer("Not multipart/form-data (or JSON, where accepted)."),
    422: json_answer("The file is not a usable CSV: the message says why."),
}
CSV_PART = {"multipart/form-data": {"file": {"contentType": "text/csv"}}}

routes = [
    Operation("POST", "/imports/users", launch_import, "Import users from a CSV file",
              {202: json_answer("Queued.", schema.Job), **REFUSALS},
              body=Body({"multipart/form-data": schema.UsersUpload}, CSV_PART)),
    Operation("POST", "/enrollments", launch_enrollment,
              "Enroll users in courses: a CSV (email, course) or two JSON lists",
              {202: json_answer("Queued.", schema.Job), **REFUSALS},
              body=Body({"multipart/form-data": schema.EnrollmentUpload,
                         "application/json": schema.EnrollmentLists}, CSV_PART)),
]  # fmt: skip
