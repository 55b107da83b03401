"""Worker chaos: two real worker processes run ten imports at once while a random one of them
is SIGKILLed every few seconds and started again. Every job still ends in its true final state:
each valid row imported exactly once, each bad row exactly once in its ledger."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tests.faults.fault_kit import Workers, add_demo_courses, imported_users, kill, users_csv

JOBS, ROWS, BAD = 10, 40_000, 40
CHAOS_S = 24.0  # how long workers keep being killed
KILL_EVERY_S = (1.0, 2.5)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_imports_survive_workers_killed_at_random(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    workers: Workers,
    wait_for_job: Callable[..., Job],
) -> None:
    add_demo_courses(engine)
    jobs = [
        launch_import(
            runtime,
            superadmin,
            "superadmin",
            f"chaos-{n}.csv",
            [users_csv(ROWS, BAD, seed=100 + n, prefix=f"c{n}-")],
        )  # fmt: skip
        for n in range(JOBS)
    ]
    workers.start()
    workers.start()
    chance = random.Random()
    kills = 0
    started = time.monotonic()
    while time.monotonic() - started < CHAOS_S:
        time.sleep(chance.uniform(*KILL_EVERY_S))  # the fault's own rhythm, not a wait
        if all(store.get(job.id).is_final for job in jobs):
            break
        kill(chance.choice(workers.alive()))
        kills += 1
        workers.start()
    assert kills >= 3, "the jobs ended before the chaos began: make them longer"

    ended = [wait_for_job(job.id, lambda j: j.is_final, timeout_s=150) for job in jobs]
    for n, job in enumerate(ended):
        assert job.status is Status.COMPLETED, (job.id, job.message)
        assert (job.done, job.total) == (ROWS, ROWS)
        assert job.error_count == store.error_count(job.id) == BAD
        ledger = store.errors(job.id, limit=BAD + 10).items
        items = [error.item for error in ledger]
        assert len(set(items)) == len(items) == BAD, f"errors repeated in job {n}: {items}"
        assert imported_users(engine, f"c{n}-") == (ROWS - BAD, ROWS - BAD)
    resumes = workers.log_text().count("job resumed")
    assert resumes > 0, "no job was ever resumed: nothing was tested"
    print(f"chaos: {kills} kills, {resumes} resumes, {time.monotonic() - started:.1f}s")
