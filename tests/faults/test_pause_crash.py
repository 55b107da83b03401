"""A paused job survives its worker: pause a 100,000-row import on a real worker process,
SIGKILL that worker while the job is paused, start another, and nothing changes (the job holds
no thread and no message while paused); resume it, and it goes on from its checkpoint to the
end: every valid row once, every bad row once in the ledger."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from server.auth.sessions import Viewer
from server.steering import pause_job, resume_job
from tasks.data.users import add_user
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tests.faults.fault_kit import Workers, add_demo_courses, imported_users, kill, users_csv
from tests.support.waiting import wait_until

ROWS, BAD = 100_000, 500


@pytest.mark.slow
def test_a_job_paused_when_its_worker_is_killed_resumes_to_exact_counts(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    with engine.begin() as conn:
        rosa = add_user(conn, "root@example.com", "Rosa Root", "superadmin")
    viewer = Viewer(rosa, session_id="fault-test")
    data = users_csv(ROWS, BAD, seed=17, prefix="paused-")
    job = launch_import(runtime, Person(rosa.id, rosa.name), "superadmin", "paused.csv", [data])

    first = workers.start()
    wait_for_job(job.id, lambda j: j.done >= ROWS * 0.1, timeout_s=120)
    pause_job(runtime, viewer, job.id)
    paused = wait_for_job(job.id, lambda j: j.status is not Status.PAUSING, timeout_s=60)
    assert paused.status is Status.PAUSED, paused
    assert 0 < paused.done < ROWS and paused.done == paused.checkpoint
    assert imported_users(engine, "paused-")[0] <= paused.done

    kill(first)  # while paused: it held no thread and no message of the job
    workers.start()
    wait_until(lambda: "worker taken for dead" in workers.log_text(), 60,
               "the new worker to give back the killed one's messages")  # fmt: skip
    assert store.get(job.id) == paused, "a worker restart changed the paused job"

    resume_job(runtime, viewer, job.id)
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)
    assert ended.status is Status.COMPLETED, ended.message
    assert (ended.done, ended.total) == (ROWS, ROWS)
    assert ended.error_count == store.error_count(job.id) == BAD
    assert imported_users(engine, "paused-") == (ROWS - BAD, ROWS - BAD)
    second_log = workers.logs[-1].read_text()
    went_on = re.search(rf"job started job_id={job.id} .*from_item=(\d+)", second_log)
    assert went_on is not None, "the job did not go on from its checkpoint"
    assert int(went_on[1]) == paused.checkpoint
    assert ended.started_at == paused.started_at and ended.paused_s > 0
    assert ended.running_time(time.time()) < ended.finished_at - ended.started_at  # type: ignore[operator]
