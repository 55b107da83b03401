"""A dead worker's jobs move again within seconds, with the shipped defaults (no DRAMATIQ_*
variable set): the job it ran resumes from its checkpoint and the ones it had prefetched start,
on a worker started after it or on one that was already there; a worker that was only paused
writes nothing once it lost its job; and only a job that no worker was alive to resume is failed
as "worker lost".

Dramatiq alone would give the dead worker's messages back after 60 s and a lucky maintenance
run, later than the reaper's 120 s: the waits below (20 s, the issue's bound under load) are far
shorter than that, so each test fails without jobdeck's rescue (tasks/jobs/rescue.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from tasks.jobs.model import Job, Person, Status
from tasks.jobs.reaper import WORKER_LOST
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tests.faults.fault_kit import Workers, add_demo_courses, imported_users, kill, users_csv
from tests.support.waiting import wait_until

ROWS, BAD = 100_000, 100
MOVES_AGAIN_WITHIN_S = 20  # the promise is 15 s; 20 s at most on a loaded machine


def runner_of(store: JobStore, job_id: str) -> str | None:
    """The worker id (host:pid:random) that holds the job's current run."""
    runner: str | None = store.redis.hget(store.key("job", job_id), "runner")
    return runner


def process_of(workers: Workers, runner: str) -> subprocess.Popen[bytes]:
    """The `dramatiq` process whose group holds the worker process `runner` (its child)."""
    group = os.getpgid(int(runner.split(":")[1]))
    return next(p for p in workers.alive() if p.pid == group)


def queued_messages(store: JobStore) -> int:
    """Messages waiting in Dramatiq's jobs queue (not yet fetched by any worker)."""
    waiting: int = store.redis.llen("jobdeck-dramatiq:jobs")
    return waiting


def assert_exact(store: JobStore, engine: Engine, job: Job, prefix: str) -> None:
    assert job.status is Status.COMPLETED, job.message
    assert (job.done, job.total) == (ROWS, ROWS)
    items = [error.item for error in store.errors(job.id, limit=BAD + 10).items]
    assert len(items) == len(set(items)) == job.error_count == BAD
    assert imported_users(engine, prefix) == (ROWS - BAD, ROWS - BAD)


@pytest.mark.slow
@pytest.mark.parametrize("worker_count", [1, 2])
def test_job_of_a_killed_worker_moves_again_within_seconds(
    worker_count: int,
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    data = users_csv(ROWS, BAD, seed=21, prefix="moved-")
    job = launch_import(runtime, superadmin, "superadmin", "moved.csv", [data])
    for _ in range(worker_count):
        workers.start(threads=4)  # as the Procfile runs it
    wait_for_job(job.id, lambda j: j.done >= ROWS * 0.2, timeout_s=120)
    holder = runner_of(store, job.id)
    assert holder is not None
    kill(process_of(workers, holder))
    killed_at = time.monotonic()
    at_kill = store.get(job.id)
    assert at_kill.status is Status.RUNNING and at_kill.done < ROWS
    if worker_count == 1:
        workers.start(threads=4)  # started again, as a user would

    moved = wait_for_job(job.id, lambda j: j.done > at_kill.done, timeout_s=MOVES_AGAIN_WITHIN_S)
    elapsed = time.monotonic() - killed_at
    assert runner_of(store, job.id) != holder
    print(f"\n{worker_count} worker(s): moved again {elapsed:.1f}s after SIGKILL "
          f"({at_kill.done} -> {moved.done} of {ROWS})")  # fmt: skip

    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)
    assert_exact(store, engine, ended, "moved-")
    resumed = re.search(rf"job resumed job_id={job.id} .*from_item=(\d+)", workers.log_text())
    assert resumed is not None and int(resumed[1]) >= at_kill.done - at_kill.done % 2000


@pytest.mark.slow
def test_jobs_a_killed_worker_had_prefetched_start_promptly(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    jobs = [
        launch_import(
            runtime,
            superadmin,
            "superadmin",
            f"pre-{n}.csv",
            [users_csv(ROWS, BAD, seed=30 + n, prefix=f"pre{n}-")],
        )  # fmt: skip
        for n in range(2)
    ]
    first = workers.start(threads=1)  # prefetches two messages: runs one, holds the other
    wait_until(
        lambda: (
            queued_messages(store) == 0
            and sorted(store.get(job.id).status.value for job in jobs) == ["queued", "running"]
        ),
        timeout_s=60,
        what="one job running and the other prefetched by the same worker",
    )
    waiting = next(job for job in jobs if store.get(job.id).status is Status.QUEUED)
    kill(first)
    killed_at = time.monotonic()
    workers.start(threads=2)

    wait_for_job(waiting.id, lambda j: j.done > 0, timeout_s=MOVES_AGAIN_WITHIN_S)
    print(f"\nprefetched job started {time.monotonic() - killed_at:.1f}s after SIGKILL")
    for n, job in enumerate(jobs):
        assert_exact(store, engine, wait_for_job(job.id, lambda j: j.is_final, 180), f"pre{n}-")


@pytest.mark.slow
def test_paused_worker_writes_nothing_once_its_job_was_resumed_elsewhere(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    data = users_csv(ROWS, BAD, seed=41, prefix="paused-")
    job = launch_import(runtime, superadmin, "superadmin", "paused.csv", [data])
    paused = workers.start(threads=2)
    wait_for_job(job.id, lambda j: j.done >= ROWS * 0.2, timeout_s=120)
    holder = runner_of(store, job.id)
    os.killpg(paused.pid, signal.SIGSTOP)  # taken for dead: it stops beating
    try:
        workers.start(threads=2)
        wait_until(
            lambda: runner_of(store, job.id) not in (None, holder),
            timeout_s=MOVES_AGAIN_WITHIN_S,
            what="the job claimed by the other worker",
        )
    finally:
        os.killpg(paused.pid, signal.SIGCONT)  # back, with its run of the job mid-batch
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)

    assert_exact(store, engine, ended, "paused-")
    paused_log = workers.logs[0].read_text()
    wait_until(lambda: "job lost to another run" in workers.logs[0].read_text(), 20,
               "the paused worker to see that it lost the job")  # fmt: skip
    assert "job finished" not in paused_log
    assert paused.poll() is None, "the paused worker died instead of carrying on"


@pytest.mark.slow
def test_job_that_no_worker_could_resume_is_failed_as_worker_lost(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    # WORKER_LOST_AFTER_S is 120 s as shipped; 5 s (its minimum) here so that the test need
    # not wait two minutes with no worker alive. Nothing else depends on its value.
    lost_after = {"WORKER_LOST_AFTER_S": "5"}
    add_demo_courses(engine)
    data = users_csv(ROWS, BAD, seed=51, prefix="lost-")
    job = launch_import(runtime, superadmin, "superadmin", "lost.csv", [data])
    first = workers.start(**lost_after)
    wait_for_job(job.id, lambda j: j.done > 0, timeout_s=120)
    kill(first)
    at_kill = store.get(job.id)
    assert at_kill.heartbeat_at is not None
    last_beat = at_kill.heartbeat_at
    wait_until(lambda: time.time() - last_beat > 7, timeout_s=30,
               what="WORKER_LOST_AFTER_S to pass with no worker alive")  # fmt: skip
    assert store.get(job.id).status is Status.RUNNING  # nobody was there to say otherwise

    workers.start(**lost_after)
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=30)
    assert ended.status is Status.FAILED and ended.message == WORKER_LOST
    assert ended.done == at_kill.done
    assert "job resumed" not in workers.logs[-1].read_text()
