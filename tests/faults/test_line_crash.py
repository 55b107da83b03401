"""The line holds when a worker dies: three imports wait in line behind one thread, the worker
is SIGKILLed in the middle of the first; another worker gives back its turns and goes on. Every
job ends once, completed, with every valid row written once: none lost, none run twice."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import Engine

from tasks.data.users import add_user
from tasks.jobs.model import Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tests.faults.fault_kit import Workers, add_demo_courses, imported_users, kill, users_csv
from tests.support.waiting import wait_until

ROWS, BAD = 40_000, 100


@pytest.mark.slow
def test_jobs_waiting_in_line_behind_a_killed_worker_each_run_once(
    runtime: Runtime, store: JobStore, engine: Engine, workers: Workers
) -> None:
    add_demo_courses(engine)
    with engine.begin() as conn:
        rosa = add_user(conn, "root@example.com", "Rosa Root", "superadmin")
    owner = Person(rosa.id, rosa.name)
    jobs = [
        launch_import(
            runtime,
            owner,
            "superadmin",
            f"line-{n}.csv",
            [users_csv(ROWS, BAD, seed=20 + n, prefix=f"line{n}-")],
        )  # fmt: skip
        for n in range(3)
    ]
    # ONE thread: the first job holds it, the other two wait in line (and their turns with
    # them, prefetched by the worker that is killed).
    first = workers.start(threads=1)
    wait_until(lambda: store.get(jobs[0].id).done >= ROWS * 0.2, 120, "the first import to run")
    assert [store.get(j.id).status for j in jobs[1:]] == [Status.QUEUED] * 2
    kill(first)

    workers.start(threads=1)
    wait_until(lambda: all(store.get(j.id).is_final for j in jobs), 240, "every import to end")
    log = workers.log_text()
    for n, job in enumerate(jobs):
        ended = store.get(job.id)
        assert ended.status is Status.COMPLETED, ended.message
        assert (ended.done, ended.error_count) == (ROWS, BAD)
        assert imported_users(engine, f"line{n}-") == (ROWS - BAD, ROWS - BAD)
        assert len(re.findall(rf"job started job_id={job.id}", log)) == 1  # started once
    assert re.search(rf"job resumed job_id={jobs[0].id}", log), "the first import started over"
