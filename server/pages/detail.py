"""One job's page, `/admin/background-jobs/{id}`: every field, the audit, the errors with search.

Roles as on the Background Jobs page: a Power User sees only their own jobs (404 for anybody
else's), a Superadmin every job. The state, the error badge and the actions carry the same ids
as the list's row, so the hub's pushes keep this page live too. The error listing
(`error_listing`) is shared with the errors page.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.actions import runtime_of, visible_job
from server.auth.access import require_admin
from server.inputs import parse_error_cursor
from server.steering import places_now
from server.views.jobs import context_of
from server.views.templates import render
from tasks.jobs.budget import capping_budget
from tasks.jobs.model import Job
from tasks.jobs.records import JobError, Page
from tasks.jobs.store import JobStore

MAX_QUERY = 200


def error_listing(store: JobStore, job: Job, params: QueryParams, page_size: int) -> dict[str, Any]:
    """One page of a job's errors, searched by item or reason when `q` is given, and how many
    the ledger keeps (and why, `owner_budget`); the template context of
    `jobs/_error_table.html` and `jobs/_kept.html`."""
    cursor = parse_error_cursor(params.get("cursor"))
    query = params.get("q", "").strip()[:MAX_QUERY]
    page: Page[JobError]
    if query:
        page = store.search_errors(job.id, query, cursor, page_size)
    else:
        page = store.errors(job.id, cursor, page_size)
    kept = store.error_count(job.id)
    return {"errors": page.items, "cursor": cursor, "next_cursor": page.cursor, "q": query,
            "kept": kept, "owner_budget": capping_budget(store, job)}  # fmt: skip


def detail(store: JobStore, job: Job, viewer_id: int, params: QueryParams) -> dict[str, Any]:
    return {
        "audit": store.audit(job.id),
        "retried_in": store.get_many([job.follow_ups["retry"]])
        if "retry" in job.follow_ups
        else [],
        "is_watching": store.is_watching(job.id, viewer_id),
        "params_json": json.dumps(job.params, indent=2, sort_keys=True, ensure_ascii=False),
        **error_listing(store, job, params, 50),
    }


async def job_page(request: Request) -> Response:
    viewer = await require_admin(request)
    runtime = runtime_of(request)
    store = runtime.store
    job = await run_in_threadpool(visible_job, store, viewer, request.path_params["id"])
    context = await run_in_threadpool(detail, store, job, viewer.id, request.query_params)
    at = time.time()
    context.update(context_of(runtime, await run_in_threadpool(places_now, runtime, at))(job, at))
    tab = "mine" if job.owner.id == viewer.id else "all"
    # insert=0: the socket swaps this job's parts and adds no rows.
    context["ws_url"] = f"/ws/jobs?tab={tab}&list=1&insert=0"
    return render(request, "jobs/detail.html", context)


class JobIdConvertor(Convertor[str]):
    """Only a job id matches, so `/admin/background-jobs/{id}` never takes a literal path such
    as `/admin/background-jobs/wall`, wherever the routes are declared."""

    regex = "[0-9a-f]{16}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("job_id", JobIdConvertor())

routes = [Route("/admin/background-jobs/{id:job_id}", job_page)]
