"""The line of queued jobs on a real worker: fast track and fair share decide which job a free
thread takes (tasks/jobs/line.py), whatever order Dramatiq delivers the turns in."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from server.steering import places_now
from tasks.data.users import add_user
from tasks.jobs.model import Event, Job, Person, Status
from tasks.runtime import Runtime
from tests.support.held_jobs import GATES, launch_held, worker_with_threads
from tests.support.waiting import wait_until


def person(engine: Engine, email: str, name: str, role: str = "power_user") -> Person:
    with engine.begin() as conn:
        user = add_user(conn, email, name, role)
    return Person(user.id, user.name)


@pytest.fixture
def sue(engine: Engine) -> Person:
    return person(engine, "sue@example.com", "Sue Super", "superadmin")


def positions(runtime: Runtime, *jobs: Job) -> list[int]:
    places = places_now(runtime)
    return [places[job.id].position for job in jobs]


def status(runtime: Runtime, job: Job) -> Status:
    return runtime.store.get(job.id).status


def wait_status(runtime: Runtime, job: Job, wanted: Status) -> None:
    wait_until(lambda: status(runtime, job) is wanted, 20, f"{job.description} {wanted.value}")


@pytest.fixture
def one_thread() -> Iterator[None]:
    # ONE thread: a full house with a single slot, so that every queued job waits for that one
    # thread and the order in which they start is exactly the order the line gives them.
    with worker_with_threads(1):
        yield


def test_a_fast_tracked_job_starts_next_then_the_rest_in_launch_order(
    runtime: Runtime, sue: Person, one_thread: None
) -> None:
    running = launch_held(runtime, sue, name="R")
    wait_status(runtime, running, Status.RUNNING)
    a, b, c, d = (launch_held(runtime, sue, name=name) for name in "ABCD")
    runtime.store.transition(d.id, Event.FAST_TRACK, at=d.created_at + 1)

    assert positions(runtime, a, b, c, d) == [2, 3, 4, 1]
    GATES.let(running.id, 2)  # R has a rate now: every start can be told
    wait_until(lambda: runtime.store.get(running.id).done == 2, 20, "R at 2 items")
    first = places_now(runtime)
    assert all(first[j.id].starts_at is not None for j in (a, b, c, d))
    assert first[d.id].starts_at < first[a.id].starts_at < first[b.id].starts_at  # type: ignore[operator]

    GATES.let(running.id)
    wait_status(runtime, d, Status.RUNNING)
    assert [status(runtime, j) for j in (a, b, c)] == [Status.QUEUED] * 3
    assert positions(runtime, a, b, c) == [1, 2, 3]  # as R ended, each moved up one
    GATES.let(d.id)
    wait_status(runtime, a, Status.RUNNING)
    assert positions(runtime, b, c) == [1, 2]

    for job in (a, b, c):
        GATES.let(job.id)
    wait_status(runtime, c, Status.COMPLETED)
    assert GATES.started == [running.id, d.id, a.id, b.id, c.id]


def test_fast_tracked_jobs_go_in_the_order_they_were_fast_tracked(
    runtime: Runtime, sue: Person, one_thread: None
) -> None:
    running = launch_held(runtime, sue, name="R")
    wait_status(runtime, running, Status.RUNNING)
    a, b, c = (launch_held(runtime, sue, name=name) for name in "ABC")
    runtime.store.transition(c.id, Event.FAST_TRACK, at=c.created_at + 1)
    runtime.store.transition(b.id, Event.FAST_TRACK, at=c.created_at + 2)
    GATES.open_all()
    wait_status(runtime, a, Status.COMPLETED)
    assert GATES.started == [running.id, c.id, b.id, a.id]


def test_another_owners_job_takes_the_first_free_thread_before_a_sixth_of_one_owner(
    runtime: Runtime, engine: Engine
) -> None:
    priya = person(engine, "priya@example.com", "Priya Power")
    omar = person(engine, "omar@example.com", "Omar Other")
    with worker_with_threads(2):  # two threads, both taken by Priya's first two jobs
        mine = [launch_held(runtime, priya, name=f"P{i}") for i in range(1, 6)]
        wait_until(lambda: len(GATES.started) == 2, 20, "two of Priya's jobs to start")
        theirs = launch_held(runtime, omar, name="O1")
        first = runtime.store.get(GATES.started[0])
        places = places_now(runtime)
        assert places[theirs.id].position == 1 and not places[theirs.id].is_held_by_share
        for held in mine[2:]:
            reason = places[held.id].waiting_reason("Priya Power")
            assert reason == "waiting: 2 of Priya Power's jobs are running"

        GATES.let(first.id)
        wait_status(runtime, theirs, Status.RUNNING)
        assert GATES.started[2] == theirs.id
        assert [status(runtime, j) for j in mine[2:]] == [Status.QUEUED] * 3

        GATES.open_all()
        wait_until(lambda: all(status(runtime, j).is_final for j in mine), 30, "Priya's jobs")
    assert set(GATES.started) == {j.id for j in [*mine, theirs]}
    assert len(GATES.started) == 6  # each job ran once


def test_one_owner_alone_gets_every_thread(runtime: Runtime, engine: Engine) -> None:
    priya = person(engine, "priya@example.com", "Priya Power")
    with worker_with_threads(3):  # nobody else waits: the share does not hold anyone back
        mine = [launch_held(runtime, priya, name=f"P{i}") for i in range(1, 5)]
        wait_until(lambda: len(GATES.started) == 3, 20, "three of Priya's jobs to start")
        assert status(runtime, mine[3]) is Status.QUEUED


def test_a_job_in_line_whose_turn_was_never_queued_gets_one_from_the_reaper(
    runtime: Runtime, sue: Person
) -> None:
    """As a web process that died between putting the job in line and queuing its turn leaves
    it: the reaper of a live worker queues the missing turn, once."""
    job = launch_held(runtime, sue, name="Orphan", queue_turn=False, joined_s_ago=60)
    with_turn = launch_held(runtime, sue, name="With its turn", joined_s_ago=60)
    with worker_with_threads(1):
        GATES.open_all()
        wait_status(runtime, job, Status.COMPLETED)
        wait_status(runtime, with_turn, Status.COMPLETED)
    assert sorted(GATES.started) == sorted([job.id, with_turn.id])  # each once


def test_no_turn_is_missing_while_every_job_in_line_has_one(runtime: Runtime, sue: Person) -> None:
    for name in "ABC":
        launch_held(runtime, sue, name=name, joined_s_ago=60)
    from tasks.runtime import BROKER_NAMESPACE as namespace

    assert runtime.line.missing_turns(namespace, "jobs", time.time()) == 0
    launch_held(runtime, sue, name="D", queue_turn=False, joined_s_ago=60)
    launch_held(runtime, sue, name="E (just now)", queue_turn=False)
    assert runtime.line.missing_turns(namespace, "jobs", time.time() - 10) == 1
