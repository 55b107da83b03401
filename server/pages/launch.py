"""The forms that launch massive actions: Import users and Enroll users (CSV uploads).

A refused upload or an invalid file draws the form again with the reason and the status that
says so (413, 415, 422, …); a launched job sends the person to *My Jobs*, where it is live.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.actions import enroll_from, import_from, runtime_of
from server.auth.access import require_admin
from server.auth.sessions import Viewer
from server.inputs import Upload, UploadRefused, received_upload, refusal
from server.views.templates import render
from tasks.csv_input import InvalidUpload
from tasks.jobs.model import Job
from tasks.jobs.records import TooManyActiveJobs
from tasks.runtime import Runtime

MY_JOBS = "/admin/background-jobs?tab=mine"
IMPORT_FORM, ENROLL_FORM = "jobs/import.html", "jobs/enroll.html"


async def launched(
    request: Request, form: str, launch: Callable[[Runtime, Viewer, Upload], Job]
) -> Response:
    """Launch from the form's upload; the form again with the reason if it is refused."""
    viewer = await require_admin(request)
    try:
        async with received_upload(request) as upload:
            await run_in_threadpool(launch, runtime_of(request), viewer, upload)
    except (UploadRefused, InvalidUpload, TooManyActiveJobs) as exc:
        status, message = refusal(exc)
        return render(request, form, {"error": message}, status)
    return RedirectResponse(MY_JOBS, status_code=303)


async def import_form(request: Request) -> Response:
    await require_admin(request)
    return render(request, IMPORT_FORM, {})


async def import_submit(request: Request) -> Response:
    return await launched(request, IMPORT_FORM, import_from)


async def enroll_form(request: Request) -> Response:
    await require_admin(request)
    return render(request, ENROLL_FORM, {})


async def enroll_submit(request: Request) -> Response:
    return await launched(request, ENROLL_FORM, enroll_from)


routes = [
    Route("/admin/imports/users", import_form, methods=["GET"]),
    Route("/admin/imports/users", import_submit, methods=["POST"]),
    Route("/admin/enrollments", enroll_form, methods=["GET"]),
    Route("/admin/enrollments", enroll_submit, methods=["POST"]),
]
