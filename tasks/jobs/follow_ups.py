"""Which jobs were launched from a job, kept on its record: at most one per verb ("commit" of a
check, "retry" of the failed rows, "revert"), so that a check is committed once, a job's
failed rows are retried once (a retry of the retry goes on from there) and a job is reverted
at most once, across any number of web processes (one Lua script claims the verb).
"""

from __future__ import annotations

import time
from typing import cast

from tasks.jobs.lua import lua
from tasks.jobs.records import UnknownJob
from tasks.jobs.store import JobStore

FOLLOW_UP = lua("follow_up")
VERBS = ("commit", "retry", "revert")


def claim_follow_up(store: JobStore, job_id: str, verb: str, follow_up_id: str) -> str | None:
    """Record `follow_up_id` as the job's `verb`: None, or the id of the job that already is
    (then nothing changes). Raises UnknownJob if the job is gone."""
    if verb not in VERBS:
        raise ValueError(f"unknown follow-up {verb!r}: expected one of {', '.join(VERBS)}")
    held = _run(store, job_id, verb, follow_up_id)
    return None if held == "ok" else held


def release_follow_up(store: JobStore, job_id: str, verb: str, follow_up_id: str) -> None:
    """Undo a claim whose launch failed (nothing if the job is gone or the claim is not it)."""
    try:
        _run(store, job_id, verb, "", follow_up_id)
    except UnknownJob:
        pass


def _run(store: JobStore, job_id: str, verb: str, new_id: str, released: str = "") -> str:
    keys = [store.key("job", job_id), store.channel, store.key("stats", "events")]
    args = [verb, new_id, repr(time.time()), released]
    outcome = cast(str | None, store.redis.eval(FOLLOW_UP, len(keys), *keys, *args))
    if outcome is None:
        raise UnknownJob(job_id)
    return outcome
