"""The JSON API's launches: import users from a CSV upload, enroll users in courses (a CSV
upload, or JSON lists of emails and courses). Each answers 202 at once with the queued job."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.actions import enroll_from, enroll_pairs, import_from, runtime_of
from server.api.jobs import job_json
from server.auth.access import require_admin
from server.inputs import UploadRefused, received_upload, refusal
from tasks.csv_input import InvalidUpload
from tasks.launch import pairs_csv

MAX_ENROLL_JSON_BYTES = 5 * 1024 * 1024


async def launch_import(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    try:
        async with received_upload(request) as upload:
            job = await run_in_threadpool(import_from, runtime, viewer, upload)
    except (UploadRefused, InvalidUpload) as exc:
        status, message = refusal(exc)
        return JSONResponse({"error": message}, status_code=status)
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


async def enrollment_json(request: Request) -> tuple[Iterator[bytes], str]:
    """The pairs CSV and description of a JSON enrollment body."""
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
    return pairs_csv(emails, courses), description


async def launch_enrollment(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            chunks, description = await enrollment_json(request)
            job = await run_in_threadpool(enroll_pairs, runtime, viewer, chunks, description)
        else:
            async with received_upload(request) as upload:
                job = await run_in_threadpool(enroll_from, runtime, viewer, upload)
    except (UploadRefused, InvalidUpload) as exc:
        status, message = refusal(exc)
        return JSONResponse({"error": message}, status_code=status)
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


routes = [
    Route("/imports/users", launch_import, methods=["POST"]),
    Route("/enrollments", launch_enrollment, methods=["POST"]),
]
