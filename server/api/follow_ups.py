"""The JSON API's follow-ups of an ended job: commit a check, retry the failed rows (of the
stored upload, or of a corrected CSV), revert. Each answers 202 at once with the new job, whose
`source_id` is the job it came from."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.actions import runtime_of
from server.api import schema
from server.api.jobs import job_json
from server.api.launches import CSV_PART, REFUSALS
from server.api.openapi import JOB_ID, NOT_YOURS, SIGNED_IN_FROM_HERE, Body, Operation, json_answer
from server.auth.access import require_admin
from server.follow_ups import commit_job, retry_job, revert_job
from server.inputs import UploadRefused, received_upload, refusal
from tasks.csv_input import InvalidUpload


async def commit(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(commit_job, runtime, viewer, request.path_params["id"])
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


async def retry(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job_id = request.path_params["id"]
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with received_upload(request) as upload:
                job = await run_in_threadpool(
                    retry_job, runtime, viewer, job_id, upload.chunks(), upload.filename
                )
        else:
            job = await run_in_threadpool(retry_job, runtime, viewer, job_id)
    except (UploadRefused, InvalidUpload) as exc:
        status, message = refusal(exc)
        return JSONResponse({"error": message}, status_code=status)
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


async def revert(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job = await run_in_threadpool(revert_job, runtime, viewer, request.path_params["id"])
    return JSONResponse(job_json(job, runtime, time.time()), status_code=202)


STARTED = {202: json_answer("Queued: the new job.", schema.Job), **SIGNED_IN_FROM_HERE,
           **NOT_YOURS,
           429: json_answer("The person already has MAX_ACTIVE_JOBS_PER_USER jobs queued or "
                            "running.")}  # fmt: skip

routes = [
    Operation("POST", "/jobs/{id}/commit", commit,
              "Start the real action of an ended check, from its upload and options",
              {**STARTED, 409: json_answer("Not a check, not ended, or already started.")},
              [JOB_ID]),
    Operation("POST", "/jobs/{id}/retry", retry,
              "Retry exactly the failed rows of an ended import or enrollment, or send a "
              "corrected CSV (the same columns) holding only rows that failed",
              {**STARTED, **REFUSALS,
               409: json_answer("Nothing to retry, not ended, or already retried.")},
              [JOB_ID],
              body=Body({"multipart/form-data": schema.Upload}, CSV_PART)),
    Operation("POST", "/jobs/{id}/revert", revert,
              "Undo what an ended import or enrollment wrote, but for rows changed since",
              {**STARTED, 409: json_answer("Not ended, a check or a revert, or reverted already.")},
              [JOB_ID]),
]  # fmt: skip
