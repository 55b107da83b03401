"""PostgreSQL restarted in the middle of an import: the batch that failed is forgotten and
written again once the database is back, so the job completes with every row once; a database
that stays down past the retry budget fails the job with a clear message and no partial batch."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import pytest

from tasks.actors.import_users import BATCH_ROWS
from tasks.data.db import create_schema
from tasks.data.users import add_user
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tasks.settings import Settings
from tasks.uploads import load_checkpoint
from tasks.write_behind import SIZES
from tests.faults.fault_kit import (
    PrivatePostgres,
    Workers,
    add_demo_courses,
    imported_users,
    users_csv,
)
from tests.support.waiting import wait_until

ROWS, BAD = 40_000, 40
OWNER = Person(1, "Rosa Root")


@pytest.fixture(scope="module")
def pg_runtime(postgres: PrivatePostgres, settings: Settings) -> Iterator[Runtime]:
    """A runtime on the private PostgreSQL (and the tests' Redis), with the demo courses."""
    runtime = Runtime(dataclasses.replace(settings, database_url=postgres.url))
    create_schema(runtime.engine)
    add_demo_courses(runtime.engine)
    with runtime.engine.begin() as conn:  # the worker checks that the owner may run the job
        assert add_user(conn, "root@example.com", OWNER.name, "superadmin").id == OWNER.id
    yield runtime
    runtime.engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_import_rides_out_a_database_restart(
    pg_runtime: Runtime,
    postgres: PrivatePostgres,
    store: JobStore,
    workers: Workers,
    wait_for_job: Callable[..., Job],
) -> None:
    data = users_csv(ROWS, BAD, seed=21, prefix="pg1-")
    job = launch_import(pg_runtime, OWNER, "superadmin", "pg-restart.csv", [data])
    workers.start(DATABASE_URL=postgres.url)
    wait_for_job(job.id, lambda j: j.done >= 2 * BATCH_ROWS, timeout_s=60)

    postgres.stop()
    down_at = time.monotonic()
    wait_until(lambda: "try 2 in" in workers.log_text(), 30, "the worker to retry a batch")
    time.sleep(1.0)  # the fault: the database stays down a while longer
    postgres.start()
    downtime = time.monotonic() - down_at

    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=120)
    assert ended.status is Status.COMPLETED, ended.message
    assert (ended.done, ended.total) == (ROWS, ROWS)
    assert ended.error_count == store.error_count(job.id) == BAD
    items = [error.item for error in store.errors(job.id, limit=BAD + 10).items]
    assert len(set(items)) == len(items) == BAD
    assert imported_users(pg_runtime.engine, "pg1-") == (ROWS - BAD, ROWS - BAD)
    print(f"database down {downtime:.1f}s; the import completed")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_database_down_past_the_budget_fails_the_job_clearly_without_a_partial_batch(
    pg_runtime: Runtime,
    postgres: PrivatePostgres,
    store: JobStore,
    workers: Workers,
    wait_for_job: Callable[..., Job],
) -> None:
    data = users_csv(ROWS, BAD, seed=22, prefix="pg2-")
    job = launch_import(pg_runtime, OWNER, "superadmin", "pg-down.csv", [data])
    workers.start(DATABASE_URL=postgres.url, DB_RETRY_S="3")
    wait_for_job(job.id, lambda j: j.done >= 2 * BATCH_ROWS, timeout_s=60)

    postgres.stop()
    try:
        ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=60)
    finally:
        postgres.start()

    assert ended.status is Status.FAILED
    assert ended.message.startswith("the database failed "), ended.message
    assert "s while " in ended.message
    assert ended.message.endswith("what came before was saved: run the job again later")
    with pg_runtime.engine.connect() as conn:
        committed = load_checkpoint(conn, job.id)
    # every batch holds a whole number of the smallest size: it ended at a batch's end
    assert ended.done == committed and committed % SIZES[0] == 0 and 0 < committed < ROWS
    assert ended.error_count == store.error_count(job.id)
    imported, distinct = imported_users(pg_runtime.engine, "pg2-")
    assert imported == distinct == committed - ended.error_count, "a batch was half written"
    print(f"failed after {committed:,} of {ROWS:,} rows: {ended.message}")
