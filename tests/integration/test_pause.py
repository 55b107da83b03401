"""Pause and resume on a real worker: a pause stops the job at its next batch boundary with its
checkpoint, frees its thread for the next job in line, and freezes the job; resume puts it back
in line and it goes on from the checkpoint, every item done once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tasks.data.users import add_user
from tasks.jobs.model import Event, Job, Person, Status
from tasks.runtime import Runtime
from tests.support.held_jobs import GATES, launch_held, worker_with_threads
from tests.support.waiting import wait_until


@pytest.fixture
def ada(engine: Engine) -> Person:
    with engine.begin() as conn:
        user = add_user(conn, "ada@example.com", "Ada Lovelace", "power_user")
    return Person(user.id, user.name)


@pytest.fixture
def one_thread() -> Iterator[None]:
    # ONE thread: the paused job must give it up for the queued job to start at all.
    with worker_with_threads(1):
        yield


def get(runtime: Runtime, job: Job) -> Job:
    return runtime.store.get(job.id)


def ask(runtime: Runtime, job: Job, event: Event) -> None:
    """Ask for a pause (or abort), and wait until the job's worker has heard of it: its next
    write after the asking (a heartbeat at the latest) reads the new status."""
    asked = runtime.store.transition(job.id, event, at=time.time())
    wait_for(runtime, job, "its worker to hear", lambda j: j.seq > asked.seq)


def wait_for(runtime: Runtime, job: Job, what: str, done: object) -> Job:
    wait_until(lambda: bool(done(get(runtime, job))), 20, f"{job.description}: {what}")  # type: ignore[operator]
    return get(runtime, job)


def test_pause_frees_the_thread_and_resume_goes_on_from_the_checkpoint(
    runtime: Runtime, ada: Person, one_thread: None
) -> None:
    job = launch_held(runtime, ada, items=10, name="Import")
    waiting = launch_held(runtime, ada, items=2, name="Next")
    GATES.let(job.id, 4)
    wait_for(runtime, job, "4 items done", lambda j: j.done == 4)

    ask(runtime, job, Event.PAUSE)
    GATES.let(job.id, 5)  # one more item: the boundary at which it stops
    paused = wait_for(runtime, job, "paused", lambda j: j.status is Status.PAUSED)
    assert (paused.done, paused.checkpoint) == (5, 5)
    assert paused.running_time(time.time()) == paused.running_time(time.time() + 3600)

    GATES.let(waiting.id)
    wait_for(runtime, waiting, "the next job done", lambda j: j.status is Status.COMPLETED)
    assert get(runtime, job) == paused  # nothing moved while paused

    runtime.store.transition(job.id, Event.RESUME, at=time.time())
    runtime.line.join(job.id, time.time())
    runtime.queue_turn(job.id)
    GATES.let(job.id)
    ended = wait_for(runtime, job, "completed", lambda j: j.status is Status.COMPLETED)
    assert (ended.done, ended.total) == (10, 10)
    assert GATES.started == [job.id, waiting.id, job.id]
    assert GATES.items[job.id] == 10  # from its checkpoint: no item done twice
    assert ended.started_at == paused.started_at and ended.paused_s > 0


def test_a_pause_asked_during_the_last_batch_lets_the_job_complete(
    runtime: Runtime, ada: Person, one_thread: None
) -> None:
    job = launch_held(runtime, ada, items=3)
    GATES.let(job.id, 2)
    wait_for(runtime, job, "2 items done", lambda j: j.done == 2)
    ask(runtime, job, Event.PAUSE)
    GATES.let(job.id)  # its last item is its last boundary: nothing is left to pause
    ended = wait_for(runtime, job, "ended", lambda j: j.is_final)
    assert ended.status is Status.COMPLETED and ended.done == 3


def test_a_paused_job_aborted_stays_where_it_paused(
    runtime: Runtime, ada: Person, one_thread: None
) -> None:
    job = launch_held(runtime, ada, items=10)
    GATES.let(job.id, 3)
    wait_for(runtime, job, "3 items done", lambda j: j.done == 3)
    ask(runtime, job, Event.PAUSE)
    GATES.let(job.id, 4)
    wait_for(runtime, job, "paused", lambda j: j.status is Status.PAUSED)
    aborted = runtime.store.transition(job.id, Event.ABORT, at=time.time())
    assert aborted.status is Status.ABORTED and aborted.done == 4
