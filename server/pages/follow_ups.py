"""The pages' follow-ups of an ended job: Start import (commit a check), Retry the failed rows
(at once, or with a corrected file on its page), Revert (asked on its page first).

Each launch sends the person to the new job's page, where it is live; a refusal is the error
page with its sentence (409, 404, …), and a corrected file that is refused draws the retry
page again with the reason.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.actions import runtime_of, visible_job
from server.auth.access import require_admin
from server.follow_ups import commit_job, retry_job, revert_job
from server.inputs import UploadRefused, received_upload, refusal
from server.views.templates import render
from tasks.csv_input import InvalidUpload
from tasks.jobs.model import Job

RETRY_FORM, REVERT_FORM = "jobs/retry.html", "jobs/revert.html"


def to_page(job: Job) -> Response:
    return RedirectResponse(f"/admin/background-jobs/{job.id}", status_code=303)


async def commit(request: Request) -> Response:
    viewer = await require_admin(request)
    job_id = request.path_params["id"]
    return to_page(await run_in_threadpool(commit_job, runtime_of(request), viewer, job_id))


async def retry_form(request: Request) -> Response:
    viewer = await require_admin(request)
    store = runtime_of(request).store
    job = await run_in_threadpool(visible_job, store, viewer, request.path_params["id"])
    return render(request, RETRY_FORM, {"job": job})


async def retry(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    job_id = request.path_params["id"]
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return to_page(await run_in_threadpool(retry_job, runtime, viewer, job_id))
    try:
        async with received_upload(request) as upload:
            job = await run_in_threadpool(
                retry_job, runtime, viewer, job_id, upload.chunks(), upload.filename
            )
    except (UploadRefused, InvalidUpload) as exc:
        status, message = refusal(exc)
        source = await run_in_threadpool(visible_job, runtime.store, viewer, job_id)
        return render(request, RETRY_FORM, {"job": source, "error": message}, status)
    return to_page(job)


async def revert_form(request: Request) -> Response:
    viewer = await require_admin(request)
    store = runtime_of(request).store
    job = await run_in_threadpool(visible_job, store, viewer, request.path_params["id"])
    return render(request, REVERT_FORM, {"job": job})


async def revert(request: Request) -> Response:
    viewer = await require_admin(request)
    job_id = request.path_params["id"]
    return to_page(await run_in_threadpool(revert_job, runtime_of(request), viewer, job_id))


PREFIX = "/admin/background-jobs/{id:job_id}"
routes = [
    Route(f"{PREFIX}/commit", commit, methods=["POST"]),
    Route(f"{PREFIX}/retry", retry_form, methods=["GET"]),
    Route(f"{PREFIX}/retry", retry, methods=["POST"]),
    Route(f"{PREFIX}/revert", revert_form, methods=["GET"]),
    Route(f"{PREFIX}/revert", revert, methods=["POST"]),
]
