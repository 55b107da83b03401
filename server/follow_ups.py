"""The verbs on an ended job that pages and API share: start a check's import, retry its failed
rows, revert it (tasks/follow_up.py does the work).

The owner and Superadmins may act on a job; a Power User asking about another's job gets 404
(`visible_job`), as everywhere. A refusal is an `HTTPException` with a sentence to act on.
They do blocking I/O: call them with `run_in_threadpool`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.exceptions import HTTPException

from server.actions import owner_of, visible_job
from server.auth.sessions import Viewer
from server.inputs import refusal
from tasks.follow_up import Asker, FollowUpRefused, commit_check, retry_failed, revert
from tasks.jobs.model import Job
from tasks.jobs.records import TooManyActiveJobs
from tasks.runtime import Runtime


def _act(runtime: Runtime, viewer: Viewer, job_id: str, verb: Callable[[Job, Asker], Job]) -> Job:
    source = visible_job(runtime.store, viewer, job_id)
    try:
        return verb(source, Asker(owner_of(viewer), viewer.user.role))
    except FollowUpRefused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    except PermissionError as refused:
        raise HTTPException(403, str(refused)) from None
    except TooManyActiveJobs as refused:
        raise HTTPException(*refusal(refused)) from None


def commit_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    return _act(runtime, viewer, job_id, lambda job, asker: commit_check(runtime, asker, job))


def retry_job(
    runtime: Runtime,
    viewer: Viewer,
    job_id: str,
    corrected: Iterable[bytes] | None = None,
    filename: str = "",
) -> Job:
    """Retry the failed rows (of the stored upload, or of a corrected file: InvalidUpload when
    it holds a row that had not failed)."""
    return _act(
        runtime,
        viewer,
        job_id,
        lambda job, asker: retry_failed(runtime, asker, job, corrected, filename),
    )


def revert_job(runtime: Runtime, viewer: Viewer, job_id: str) -> Job:
    return _act(runtime, viewer, job_id, lambda job, asker: revert(runtime, asker, job))
