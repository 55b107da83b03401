"""A job acts with its owner's authority only while the owner still has it: checked when the
job starts or resumes and before each batch, on a real worker, Redis and database."""

from __future__ import annotations

import threading
import time

import dramatiq
import pytest
from sqlalchemy.engine import Engine

from tasks.data.users import add_user, update_user
from tasks.jobs.middleware import current_job
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore
from tasks.worker import broker

FIRST_BATCH_DONE = threading.Event()
GO_ON = threading.Event()
RAN: set[str] = set()


@dramatiq.actor(queue_name="jobs", max_retries=0, massive_action=True)
def two_batches(job_id: str) -> None:
    """Commits one batch, waits for the test, then commits a second."""
    ctx = current_job()
    RAN.add(job_id)
    ctx.set_total(2)
    ctx.save()
    ctx.advance()
    FIRST_BATCH_DONE.set()
    assert GO_ON.wait(30), "the test never let the job go on"
    ctx.save()
    ctx.advance()


def launch(store: JobStore, owner: Person, owner_role: str) -> Job:
    job = Job(id=new_job_id(), kind="probe", description="Two batches", owner=owner,
              created_at=time.time(), params={"owner_role": owner_role})  # fmt: skip
    store.create(job)
    two_batches.send(job.id)
    return job


def drain(worker: dramatiq.Worker) -> None:
    broker.join("jobs", timeout=30_000)
    worker.join()


@pytest.fixture(autouse=True)
def _events() -> None:
    FIRST_BATCH_DONE.clear()
    GO_ON.clear()


def owner(engine: Engine, role: str) -> Person:
    with engine.begin() as conn:
        user = add_user(conn, f"{role}@example.com", "Rosa Root", role)
    return Person(user.id, user.name)


def test_a_job_whose_owner_was_deactivated_before_it_started_fails_unrun(
    store: JobStore, engine: Engine, worker: dramatiq.Worker
) -> None:
    rosa = owner(engine, "superadmin")
    with engine.begin() as conn:
        update_user(conn, rosa.id, is_active=False)
    GO_ON.set()
    job = launch(store, rosa, "superadmin")
    drain(worker)
    failed = store.get(job.id)
    assert failed.status is Status.FAILED
    assert failed.message is not None and "Rosa Root was deactivated" in failed.message
    assert job.id not in RAN


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"role": "power_user"}, "launched this job as a Superadmin and is now a Power User"),
        ({"role": "user"}, "launched this job as a Superadmin and is now a user"),
        ({"is_active": False}, "Rosa Root was deactivated"),
    ],
)
def test_a_job_whose_owner_lost_the_right_stops_at_the_next_batch(
    store: JobStore, engine: Engine, worker: dramatiq.Worker, change: dict[str, object], says: str
) -> None:
    rosa = owner(engine, "superadmin")
    job = launch(store, rosa, "superadmin")
    assert FIRST_BATCH_DONE.wait(30)
    with engine.begin() as conn:
        update_user(conn, rosa.id, **change)
    GO_ON.set()
    drain(worker)
    failed = store.get(job.id)
    assert failed.status is Status.FAILED
    assert failed.message is not None and says in failed.message
    assert failed.done == 1, "the batch committed before the change is kept, no more"


def test_a_promoted_owner_keeps_running(
    store: JobStore, engine: Engine, worker: dramatiq.Worker
) -> None:
    pat = owner(engine, "power_user")
    job = launch(store, pat, "power_user")
    assert FIRST_BATCH_DONE.wait(30)
    with engine.begin() as conn:
        update_user(conn, pat.id, role="superadmin")
    GO_ON.set()
    drain(worker)
    assert store.get(job.id).status is Status.COMPLETED
