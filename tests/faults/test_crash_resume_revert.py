"""Crash safety of a revert: SIGKILL a real worker process in the middle of reverting a
100,000-row import, start another, and the revert ends as if nothing happened: every row the
import wrote reverted once, nothing kept, the outcome counting each row once."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from tasks.data.users import count_users
from tasks.follow_up import Asker, revert
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tests.faults.fault_kit import Workers, add_demo_courses, kill, users_csv

ROWS, BAD = 100_000, 500


@pytest.mark.slow
def test_worker_killed_mid_revert_resumes_without_reverting_a_row_twice(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    data = users_csv(ROWS, BAD, seed=12, prefix="undo-")
    job = launch_import(runtime, superadmin, "superadmin", "undo.csv", [data])
    first = workers.start()
    imported = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)
    assert (imported.status, imported.error_count) == (Status.COMPLETED, BAD)
    assert count_users(engine) == 1 + ROWS - BAD

    undo = revert(runtime, Asker(superadmin, "superadmin"), imported)
    at_kill = wait_for_job(undo.id, lambda j: j.done >= (ROWS - BAD) * 0.3, timeout_s=120)
    kill(first)
    assert at_kill.status is Status.RUNNING and at_kill.done < ROWS - BAD

    workers.start()
    ended = wait_for_job(undo.id, lambda j: j.is_final, timeout_s=180)

    resumed = re.search(rf"job resumed job_id={undo.id} .*from_item=(\d+)", workers.log_text())
    assert resumed is not None, "the second worker started the revert over"
    assert int(resumed[1]) >= at_kill.done
    assert ended.status is Status.COMPLETED, ended.message
    assert (ended.done, ended.total) == (ROWS - BAD, ROWS - BAD)
    assert ended.outcome == {"reverted": ROWS - BAD, "kept": 0, "error": 0}
    assert ended.error_count == 0
    assert count_users(engine) == 1
