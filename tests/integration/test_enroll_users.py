"""The `enroll_users` action on a real worker, Redis and database: one item per (email, course)
pair, and every pair that cannot be enrolled named in the error ledger with its reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.actors.enroll_users import BATCH_ROWS, _Enrollment, run_enrollment
from tasks.csv_input import InvalidUpload
from tasks.data.courses import enroll
from tasks.data.db import enrollments
from tasks.data.users import add_user
from tasks.jobs.context import JobContext
from tasks.jobs.model import Event, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_enrollment, pairs_csv
from tasks.runtime import Runtime
from tasks.uploads import save_upload
from tests.support.jobs import new_job


@pytest.fixture
def learners(engine: Engine) -> dict[str, int]:
    with engine.begin() as conn:
        return {
            email: add_user(conn, email, name, "user").id
            for email, name in (
                ("ann@example.org", "Ann"),
                ("bob@example.org", "Bob"),
                ("cid@example.org", "Cid"),
            )
        }


def enrolled(engine: Engine) -> set[tuple[int, int]]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(enrollments.c.user_id, enrollments.c.course_id)).all())


def test_enrollment_of_every_pair_names_each_pair_that_fails(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    power_user: Person,
    learners: dict[str, int],
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        enroll(conn, [(learners["bob@example.org"], catalogue["CS101"])])
    emails = ["ann@example.org", "Bob@Example.org", "nobody@example.org", "cid@example.org"]
    courses = ["CS101", "MATH200", "NOPE"]
    job = launch_enrollment(
        runtime,
        power_user,
        "power_user",
        pairs_csv(emails, courses),
        "Enroll 4 users in 3 courses (12 enrollments)",
    )
    assert (job.total, job.description) == (12, "Enroll 4 users in 3 courses (12 enrollments)")

    drain()

    ended = store.get(job.id)
    assert (ended.status, ended.done, ended.total) == (Status.COMPLETED, 12, 12)
    assert ended.error_count == 7
    errors = sorted((e.item, e.message) for e in store.errors(job.id, limit=100).items)
    assert errors == sorted(
        [
            ("bob@example.org / CS101", "'bob@example.org' is already enrolled in 'CS101'"),
            *[
                ("nobody@example.org / " + c, "no user with email 'nobody@example.org'")
                for c in courses
            ],
            *[
                (e + " / NOPE", "no course with code 'NOPE'")
                for e in ("ann@example.org", "bob@example.org", "cid@example.org")
            ],
        ]
    )
    ids = [learners[e] for e in ("ann@example.org", "bob@example.org", "cid@example.org")]
    assert enrolled(engine) == {(u, catalogue[c]) for u in ids for c in ("CS101", "MATH200")}


def test_a_pair_repeated_in_the_file_is_already_enrolled_the_second_time(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    learners: dict[str, int],
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    data = b"email,course\nann@example.org,CS101\n,CS101\nann@example.org,\nANN@example.org,CS101\n"
    job = launch_enrollment(runtime, superadmin, "superadmin", [data])
    assert job.description == "Enroll users in courses (4 enrollments)"

    drain()

    assert store.get(job.id).status is Status.COMPLETED
    assert sorted((e.item, e.message) for e in store.errors(job.id).items) == [
        (" / CS101", "email is empty"),
        ("ann@example.org / ", "course code is empty"),
        ("ann@example.org / CS101", "'ann@example.org' is already enrolled in 'CS101'"),
    ]
    assert enrolled(engine) == {(learners["ann@example.org"], catalogue["CS101"])}


def test_enrollment_file_without_a_course_column_is_refused(
    runtime: Runtime, store: JobStore, superadmin: Person
) -> None:
    with pytest.raises(InvalidUpload, match="no 'course' column"):
        launch_enrollment(runtime, superadmin, "superadmin", [b"email\nann@example.org\n"])
    assert store.list_jobs().items == []


def test_many_pairs_across_batches_are_counted_exactly(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        for i in range(400):
            add_user(conn, f"l{i}@example.org", f"Learner {i}", "user")
    emails = [f"l{i}@example.org" for i in range(450)]  # the last 50 do not exist
    job = launch_enrollment(runtime, superadmin, "superadmin", pairs_csv(emails, list(catalogue)))

    drain()

    ended = store.get(job.id)
    assert (ended.status, ended.done, ended.total) == (Status.COMPLETED, 1350, 1350)
    assert ended.error_count == store.error_count(job.id) == 150
    assert len(enrolled(engine)) == 1200


def test_a_pair_of_the_batch_being_written_is_already_enrolled_in_the_next(
    store: JobStore,
    engine: Engine,
    learners: dict[str, int],
    catalogue: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next batch is looked up while the one before is written: here the first batch's
    write waits until the second is planned, so its pairs are not in the database yet when
    the second looks; the second's repeat of one is still an error, not enrolled twice."""
    pairs = [("ann@example.org", "CS101")] + [("bob@example.org", "MATH200")] * (BATCH_ROWS - 1)
    pairs += [("ann@example.org", "CS101"), ("cid@example.org", "CS101")]
    data = "email,course\n" + "".join(f"{email},{code}\n" for email, code in pairs)
    planned, write, plan = threading.Event(), _Enrollment.write, _Enrollment.plan

    def plan_then_tell(self: _Enrollment, *args: Any) -> Any:
        found = plan(self, *args)
        if found.size < BATCH_ROWS:  # the second batch
            planned.set()
        return found

    def write_once_planned(self: _Enrollment, *args: Any) -> None:
        assert planned.wait(10)
        write(self, *args)

    monkeypatch.setattr(_Enrollment, "plan", plan_then_tell)
    monkeypatch.setattr(_Enrollment, "write", write_once_planned)
    params = {"rows": len(pairs), "owner_role": "superadmin"}
    job = new_job(store, Person(1, "Rosa Root"), params=params, total=len(pairs))
    with engine.begin() as conn:
        save_upload(conn, job.id, [data.encode()])
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    run_enrollment(ctx, engine, job.id, params)
    ctx.close()

    errors = {(e.item, e.message) for e in store.errors(job.id, limit=10_000).items}
    repeat = ("ann@example.org / CS101", "'ann@example.org' is already enrolled in 'CS101'")
    assert repeat in errors
    assert len(errors) == 2  # and bob's repeats, all one item
    assert store.error_count(job.id) == BATCH_ROWS - 2 + 1
    assert enrolled(engine) == {
        (learners["ann@example.org"], catalogue["CS101"]),
        (learners["bob@example.org"], catalogue["MATH200"]),
        (learners["cid@example.org"], catalogue["CS101"]),
    }
