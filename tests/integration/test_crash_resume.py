"""Crash safety: SIGKILL a real worker process in the middle of a 100,000-row import, start another,
and the job ends as if nothing happened: every valid row once, every bad row once in the ledger."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.data.courses import add_course
from tasks.data.db import users
from tasks.demo import COURSES, demo_csv
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
ROWS, BAD = 100_000, 500


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    """The log file of each worker started, in order."""
    return []


@pytest.fixture
def start_worker(
    tmp_path: Path, logs: list[Path]
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `dramatiq tasks.worker` in its own process group; every one is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        logs.append(tmp_path / f"worker-{len(started) + 1}.log")
        log = open(logs[-1], "wb")  # noqa: SIM115
        args = [str(Path(sys.executable).parent / "dramatiq"), "tasks.worker"]
        args += ["--processes", "1", "--threads", "2", "--queues", "jobs", "mail"]
        process = subprocess.Popen(
            args, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and the processes it forked (its whole group)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


@pytest.mark.slow
def test_worker_killed_mid_import_resumes_without_loss_or_repeat(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    start_worker: Callable[[], subprocess.Popen[bytes]],
    logs: list[Path],
) -> None:
    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)
    data = "".join(demo_csv(ROWS, BAD, seed=11)).encode()
    job = launch_import(runtime, superadmin, "superadmin", "crash.csv", [data])

    first = start_worker()
    at_kill = wait_for_job(job.id, lambda j: j.done >= ROWS * 0.3, timeout_s=120)
    kill(first)
    assert at_kill.status is Status.RUNNING and at_kill.done <= ROWS * 0.6

    start_worker()
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)

    resumed = re.search(rf"job resumed job_id={job.id} .*from_item=(\d+)", logs[-1].read_text())
    assert resumed is not None, "the second worker started the job over"
    assert int(resumed[1]) >= at_kill.done

    assert ended.status is Status.COMPLETED, ended.message
    assert (ended.done, ended.total) == (ROWS, ROWS)
    assert ended.error_count == store.error_count(job.id) == BAD
    with engine.connect() as conn:
        imported, distinct = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(users.c.email))).where(
                users.c.id != superadmin.id
            )
        ).one()
    assert imported == distinct == ROWS - BAD
