"""The forms that launch massive actions: Import users and Enroll users (CSV uploads).

A refused upload or an invalid file draws the form again with the reason and the status that
says so (413, 415, 422, …); a launched job sends the person to *My Jobs*, where it is live.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.actions import enroll_from, import_from, runtime_of
from server.auth.access import require_admin
from server.inputs import UploadRefused, received_upload, refusal
from server.views.templates import render
from tasks.csv_input import InvalidUpload

MY_JOBS = "/admin/background-jobs?tab=mine"


async def import_form(request: Request) -> Response:
    await require_admin(request)
    return render(request, "jobs/import.html", {})


async def import_submit(request: Request) -> Response:
    viewer = await require_admin(request)
    try:
        async with received_upload(request) as upload:
            await run_in_threadpool(import_from, runtime_of(request), viewer, upload)
    except (UploadRefused, InvalidUpload) as exc:
        status, message = refusal(exc)
        return render(request, "jobs/import.html", {"error": message}, status)
    return RedirectResponse(MY_JOBS, status_code=303)


async def enroll_form(request: Request) -> Response:
    await require_admin(request)
    return render(request, "jobs/enroll.html", {})


async def enroll_submit(request: Request) -> Response:
    viewer = await require_admin(request)
    try:
        async with received_upload(request) as upload:
            description = f"Enroll users in courses from {upload.filename}"
            chunks = upload.chunks()
            await run_in_threadpool(enroll_from, runtime_of(request), viewer, chunks, description)
    except (UploadRefused, InvalidUpload) as exc:
        status, message = refusal(exc)
        return render(request, "jobs/enroll.html", {"error": message}, status)
    return RedirectResponse(MY_JOBS, status_code=303)


routes = [
    Route("/admin/imports/users", import_form, methods=["GET"]),
    Route("/admin/imports/users", import_submit, methods=["POST"]),
    Route("/admin/enrollments", enroll_form, methods=["GET"]),
    Route("/admin/enrollments", enroll_submit, methods=["POST"]),
]
