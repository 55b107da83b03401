"""The JSON API's steering of the line: fast-track a queued job, pause a running one, resume a
paused one (server/steering.py). Each answers the job as it is now, with its place in line."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.actions import runtime_of
from server.api import schema
from server.api.jobs import job_json
from server.api.openapi import JOB_ID, NOT_YOURS, SIGNED_IN_FROM_HERE, Operation, json_answer
from server.auth.access import require_admin
from server.auth.sessions import Viewer
from server.steering import fast_track_job, pause_job, places_now, resume_job
from tasks.jobs.model import Job
from tasks.runtime import Runtime


def steering(
    verb: Callable[[Runtime, Viewer, str], Job], status_code: int
) -> Callable[..., object]:
    async def endpoint(request: Request) -> Response:
        viewer = await require_admin(request)
        runtime = runtime_of(request)
        job = await run_in_threadpool(verb, runtime, viewer, request.path_params["id"])
        at = time.time()
        places = await run_in_threadpool(places_now, runtime, at)
        return JSONResponse(job_json(job, runtime, at, places), status_code=status_code)

    return endpoint


routes = [
    Operation("POST", "/jobs/{id}/fast-track", steering(fast_track_job, 200),
              "Fast-track a queued job: next to start, after those fast-tracked before it",
              {200: json_answer("Fast-tracked.", schema.Job),
               403: json_answer("Only a Superadmin may fast-track."),
               409: json_answer("The job is not queued."),
               **SIGNED_IN_FROM_HERE, **NOT_YOURS},
              [JOB_ID]),
    Operation("POST", "/jobs/{id}/pause", steering(pause_job, 202),
              "Pause a running job at its next batch boundary, keeping its checkpoint",
              {202: json_answer("Pausing: the worker stops at its next batch.", schema.Job),
               409: json_answer("The job is not running."),
               **SIGNED_IN_FROM_HERE, **NOT_YOURS},
              [JOB_ID]),
    Operation("POST", "/jobs/{id}/resume", steering(resume_job, 200),
              "Put a paused job back in line: it goes on from its checkpoint",
              {200: json_answer("Back in line.", schema.Job),
               409: json_answer("The job is not paused."),
               **SIGNED_IN_FROM_HERE, **NOT_YOURS},
              [JOB_ID]),
]  # fmt: skip
