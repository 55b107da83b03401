"""One person's budget of kept errors (OWNER_MAX_KEPT_ERRORS): what a job may keep of its own.

A job's ledger keeps at most JOB_MAX_ERRORS errors; over the retention, one person could still
fill Redis by running job after job. So when a job first starts, it is given the smaller of
JOB_MAX_ERRORS and what is left of its owner's budget once their other jobs' ledgers are
counted, and it keeps that cap (`Job.error_cap`) for its life, resumed or not. The budget is
counted again at each start, from the ledgers themselves: a job deleted, or whose retention
ended, frees what it kept for the next one, with no counter to drift. Jobs of one owner that
start at the same time each count the others before they fill up, so together they may keep
more than the budget, by at most their own caps.
"""

from __future__ import annotations

from typing import cast

from tasks.jobs.model import Job
from tasks.jobs.store import JobStore


def kept_by_others(store: JobStore, job: Job) -> int:
    """How many errors the ledgers of the owner's other jobs keep (one pipelined ZCARD each)."""
    owned = cast(list[str], store.redis.zrange(store.key("jobs", "owner", job.owner.id), 0, -1))
    pipe = store.redis.pipeline(transaction=False)
    for job_id in owned:
        if job_id != job.id:
            pipe.zcard(store.key("job", job_id, "errors"))
    return sum(int(n) for n in pipe.execute())


def error_cap(store: JobStore, job: Job) -> int:
    """The most errors `job` may keep, were it to start now."""
    left = max(0, store.owner_max_kept - kept_by_others(store, job))
    return min(store.max_errors, left)


def capping_budget(store: JobStore, job: Job) -> int | None:
    """The owner's budget (OWNER_MAX_KEPT_ERRORS) if it, not JOB_MAX_ERRORS, capped the job's
    ledger: what the pages and the CSV then name as the reason; else None."""
    if job.error_cap is not None and job.error_cap < store.max_errors:
        return store.owner_max_kept
    return None
