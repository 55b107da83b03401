"""Crash safety: SIGKILL a real worker process in the middle of a 100,000-row import, start another,
and the job ends as if nothing happened: every valid row once, every bad row once in the ledger.
On SQLite and on a private PostgreSQL (the COPY path)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine

from tasks.data.db import create_schema
from tasks.data.users import add_user
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tasks.settings import Settings
from tests.faults.fault_kit import (
    PrivatePostgres,
    Workers,
    add_demo_courses,
    imported_users,
    kill,
    users_csv,
)

ROWS, BAD = 100_000, 500


@pytest.mark.slow
def test_worker_killed_mid_import_resumes_without_loss_or_repeat(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    kill_and_resume(runtime, store, superadmin, wait_for_job, workers)


@pytest.fixture
def pg_runtime(
    postgres: PrivatePostgres, settings: Settings, superadmin: Person
) -> Iterator[Runtime]:
    """A runtime on the private PostgreSQL (and the tests' Redis), with the demo courses and
    the Superadmin who launches the import (the worker checks that the owner may run it)."""
    runtime = Runtime(dataclasses.replace(settings, database_url=postgres.url))
    create_schema(runtime.engine)
    add_demo_courses(runtime.engine)
    with runtime.engine.begin() as conn:
        assert add_user(conn, "root@example.com", superadmin.name, "superadmin").id == superadmin.id
    yield runtime
    runtime.engine.dispose()


@pytest.mark.slow
def test_worker_killed_mid_import_on_postgresql_resumes_without_loss_or_repeat(
    pg_runtime: Runtime,
    postgres: PrivatePostgres,
    store: JobStore,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    kill_and_resume(pg_runtime, store, superadmin, wait_for_job, workers, DATABASE_URL=postgres.url)


def kill_and_resume(
    runtime: Runtime,
    store: JobStore,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
    **env: str,
) -> None:
    engine = runtime.engine
    data = users_csv(ROWS, BAD, seed=11, prefix="crash-")
    job = launch_import(runtime, superadmin, "superadmin", "crash.csv", [data])

    first = workers.start(**env)
    at_kill = wait_for_job(job.id, lambda j: j.done >= ROWS * 0.3, timeout_s=120)
    kill(first)
    assert at_kill.status is Status.RUNNING and at_kill.done <= ROWS * 0.6

    workers.start(**env)
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)

    second_log = workers.logs[-1].read_text()
    resumed = re.search(rf"job resumed job_id={job.id} .*from_item=(\d+)", second_log)
    assert resumed is not None, "the second worker started the job over"
    assert int(resumed[1]) >= at_kill.done

    assert ended.status is Status.COMPLETED, ended.message
    assert (ended.done, ended.total) == (ROWS, ROWS)
    assert ended.error_count == store.error_count(job.id) == BAD
    assert imported_users(engine, "crash-") == (ROWS - BAD, ROWS - BAD)
