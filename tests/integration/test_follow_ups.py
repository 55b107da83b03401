"""Safe massive actions on a real worker, Redis and database: a check writes nothing and counts
exactly, its commit does the real run; a retry does exactly the failed rows (of the stored
upload, or of a corrected file); a revert leaves the platform as it was, but for the rows
someone changed since, which it lists."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.csv_input import InvalidUpload
from tasks.data.bulk import add_enrollments
from tasks.data.courses import add_course, count_enrollments
from tasks.data.db import enrollments, users
from tasks.data.users import add_user, find_user, record_sign_in, update_user
from tasks.follow_up import Asker, FollowUpRefused, commit_check, retry_failed, revert
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_enrollment, launch_import, pairs_csv
from tasks.runtime import Runtime
from tests.integration.test_import_users import errors_of


def platform(engine: Engine) -> tuple[set[tuple[str, str, str]], set[tuple[str, int]]]:
    """Every user (email, name, role) and every enrollment (email, course id)."""
    with engine.connect() as conn:
        people = set(conn.execute(sa.select(users.c.email, users.c.name, users.c.role)).all())
        pairs = set(
            conn.execute(
                sa.select(users.c.email, enrollments.c.course_id).join(
                    enrollments, enrollments.c.user_id == users.c.id
                )
            ).all()
        )
    return people, pairs  # type: ignore[return-value]


def users_file(rows: int, bad_every: int, courses: str = "CS101") -> Iterator[bytes]:
    """`rows` users with a course; row i is bad (no name) when i % bad_every == bad_every - 1."""
    yield b"email,name,role,courses\n"
    for start in range(0, rows, 5000):
        yield "".join(
            f"u{i}@example.org,,user,{courses}\n"
            if i % bad_every == bad_every - 1
            else f"u{i}@example.org,User {i},user,{courses}\n"
            for i in range(start, min(rows, start + 5000))
        ).encode()


@pytest.fixture
def asker(superadmin: Person) -> Asker:
    return Asker(superadmin, "superadmin")


def test_check_writes_nothing_counts_exactly_and_its_commit_creates_the_valid_rows(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:  # one already there and identical, one to update
        same = add_user(conn, "u0@example.org", "User 0", "user")
        add_enrollments(conn, [(same.id, catalogue["CS101"])], 0.0)
        add_user(conn, "u1@example.org", "Old Name", "user")
    before = platform(engine)
    check = launch_import(
        runtime, superadmin, "superadmin", "staff.csv", users_file(20_000, 500),
        on_existing="update", mode="check",
    )  # fmt: skip
    assert check.description == "Check users from staff.csv (20,000 rows)"

    drain()

    ended = store.get(check.id)
    assert (ended.status, ended.done, ended.error_count) == (Status.COMPLETED, 20_000, 40)
    assert ended.outcome == {"create": 19_958, "update": 1, "unchanged": 1, "error": 40}
    assert platform(engine) == before

    run = commit_check(runtime, asker, ended)
    assert (run.source_id, run.params["mode"], run.total) == (check.id, "run", 20_000)
    assert run.description == "Import users from staff.csv (20,000 rows)"
    assert store.get(check.id).follow_ups == {"commit": run.id}
    with pytest.raises(FollowUpRefused, match=f"already started as job {run.id}"):
        commit_check(runtime, asker, store.get(check.id))

    drain()

    assert store.get(run.id).status is Status.COMPLETED
    assert store.get(run.id).error_count == 40
    people, pairs = platform(engine)
    assert len(people) == 1 + 20_000 - 40
    assert len(pairs) == 20_000 - 40
    with engine.connect() as conn:
        updated = find_user(conn, "u1@example.org")
    assert updated is not None and updated.name == "User 1"


def test_enrollment_retry_after_the_missing_course_is_created_enrolls_the_failed_rows(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        for n in range(30):
            add_user(conn, f"l{n}@example.org", f"Learner {n}", "user")
    emails = [f"l{n}@example.org" for n in range(30)]
    job = launch_enrollment(
        runtime, superadmin, "superadmin", pairs_csv(emails, ["CS101", "NEW1"]), "Enroll"
    )
    drain()
    source = store.get(job.id)
    assert (source.done, source.error_count) == (60, 30)
    with pytest.raises(FollowUpRefused, match="no failed rows"):
        retry_failed(runtime, asker, store.get(retry_of_nothing(runtime, superadmin, drain)))
    with engine.begin() as conn:
        new_course = add_course(conn, "NEW1", "A course made after the first run").id

    retry = retry_failed(runtime, asker, source)
    assert (retry.total, retry.source_id) == (30, job.id)
    assert retry.description == "Retry 30 failed rows of “Enroll”"
    drain()

    ended = store.get(retry.id)
    assert (ended.status, ended.done, ended.error_count) == (Status.COMPLETED, 30, 0)
    _, pairs = platform(engine)
    assert pairs == {(e, c) for e in emails for c in (catalogue["CS101"], new_course)}
    with pytest.raises(FollowUpRefused, match=f"already retried in job {retry.id}"):
        retry_failed(runtime, asker, store.get(job.id))


def retry_of_nothing(runtime: Runtime, owner: Person, drain: Callable[[], None]) -> str:
    """An import without a failed row."""
    job = launch_import(
        runtime, owner, "superadmin", "ok.csv", [b"email,name\nok@example.org,Ok\n"]
    )
    drain()
    return job.id


def test_retry_with_a_corrected_file_fixes_the_failed_rows_and_refuses_other_rows(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    job = launch_import(runtime, superadmin, "superadmin", "s.csv", users_file(100, 10))
    drain()
    source = store.get(job.id)
    assert source.error_count == 10
    before = platform(engine)

    with pytest.raises(InvalidUpload, match=r"line 3 \('u0@example.org'\) did not fail in job"):
        wrong = b"email,name\nu9@example.org,Nine\nu0@example.org,Zero Again\n"
        retry_failed(runtime, asker, source, [wrong], "fix.csv")
    assert platform(engine) == before
    assert store.get(job.id).follow_ups == {}

    fixed = "".join(f"u{i}@example.org,User {i} fixed\n" for i in range(9, 100, 10))
    retry = retry_failed(runtime, asker, source, [b"email,name\n", fixed.encode()], "fix.csv")
    assert (
        retry.description
        == "Retry 10 failed rows of “Import users from s.csv (100 rows)” from fix.csv"
    )
    drain()

    assert store.get(retry.id).error_count == 0
    people, _ = platform(engine)
    assert len(people) == 1 + 100
    assert ("u9@example.org", "User 9 fixed", "user") in people
    assert ("u0@example.org", "User 0", "user") in people


def test_revert_leaves_the_platform_as_it_was_but_for_rows_changed_since(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        for n in range(500):
            add_user(conn, f"old{n}@example.org", f"Old {n}", "user")
    before = platform(engine)
    rows = [f"new{n}@example.org,New {n},user,CS101\n" for n in range(10_000)]
    rows += [f"old{n}@example.org,Renamed {n},power_user,MATH200\n" for n in range(500)]
    job = launch_import(
        runtime, superadmin, "superadmin", "big.csv",
        [b"email,name,role,courses\n", "".join(rows).encode()], on_existing="update",
    )  # fmt: skip
    drain()
    assert store.get(job.id).error_count == 0
    with engine.begin() as conn:  # meanwhile: a person renames one, one signs in, one enrolled
        update_user(conn, find_user(conn, "old7@example.org").id, name="Seven")  # type: ignore[union-attr]
        record_sign_in(conn, find_user(conn, "new3@example.org").id, 4e9)  # type: ignore[union-attr]
        other = find_user(conn, "new5@example.org")
        assert other is not None
        add_enrollments(conn, [(other.id, catalogue["SEC-110"])], 0.0, "another-job")
    with pytest.raises(FollowUpRefused, match="only once it has ended"):
        revert(runtime, asker, running_copy(store.get(job.id)))

    undo = revert(runtime, asker, store.get(job.id))
    assert (undo.kind, undo.total, undo.source_id) == ("revert_job", 10_500, job.id)
    drain()

    ended = store.get(undo.id)
    assert ended.status is Status.COMPLETED
    assert ended.outcome == {"reverted": 10_497, "kept": 3, "error": 0}
    assert sorted(errors_of(store, undo.id)) == [
        ("line 10009", "kept 'old7@example.org': changed since the import"),
        ("line 5", "kept 'new3@example.org': signed in since the import"),
        (
            "line 7",
            "kept 'new5@example.org': enrolled in a course by someone else since the import",
        ),
    ]
    people, pairs = platform(engine)
    kept_people = {
        ("old7@example.org", "Seven", "power_user"),
        ("new3@example.org", "New 3", "user"),
        ("new5@example.org", "New 5", "user"),
    }
    assert people == (before[0] - {("old7@example.org", "Old 7", "user")}) | kept_people
    assert pairs == {
        ("old7@example.org", catalogue["MATH200"]),
        ("new3@example.org", catalogue["CS101"]),
        ("new5@example.org", catalogue["CS101"]),
        ("new5@example.org", catalogue["SEC-110"]),
    }
    with pytest.raises(FollowUpRefused, match=f"already reverted by job {undo.id}"):
        revert(runtime, asker, store.get(job.id))
    with pytest.raises(FollowUpRefused, match="A revert cannot be reverted"):
        revert(runtime, asker, ended)


def running_copy(job: Job) -> Job:
    import dataclasses

    return dataclasses.replace(job, status=Status.RUNNING, finished_at=None)


def test_revert_of_an_enrollment_removes_the_enrollments_it_added(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        ann = add_user(conn, "ann@example.org", "Ann", "user")
        add_user(conn, "bob@example.org", "Bob", "user")
        add_enrollments(conn, [(ann.id, catalogue["CS101"])], 0.0)
    before = platform(engine)
    job = launch_enrollment(
        runtime, superadmin, "superadmin",
        pairs_csv(["ann@example.org", "bob@example.org"], ["CS101", "MATH200"]), "Enroll",
    )  # fmt: skip
    drain()
    assert store.get(job.id).error_count == 1  # ann was in CS101 already
    check = launch_enrollment(
        runtime, superadmin, "superadmin", pairs_csv(["bob@example.org"], ["CS101"]), "E",
        mode="check",
    )  # fmt: skip
    drain()
    with pytest.raises(FollowUpRefused, match="A check wrote nothing"):
        revert(runtime, asker, store.get(check.id))

    undo = revert(runtime, asker, store.get(job.id))
    assert undo.total == 3
    drain()

    assert store.get(undo.id).outcome == {"reverted": 3, "kept": 0, "error": 0}
    assert platform(engine) == before
    with engine.connect() as conn:
        assert count_enrollments(conn) == 1


def test_an_enrollment_retry_with_a_corrected_file_is_matched_by_email_and_course(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        add_user(conn, "ann@example.org", "Ann", "user")
    data = b"email,course\nann@example.org,CS101\nann@example.org,CS-101\n"
    job = launch_enrollment(runtime, superadmin, "superadmin", [data], "Enroll Ann")
    drain()
    source = store.get(job.id)
    with pytest.raises(InvalidUpload, match=r"line 2 \('ann@example.org' in 'CS101'\) did not"):
        retry_failed(runtime, asker, source, [b"email,course\nann@example.org,CS101\n"], "f.csv")
    fixed = b"email,course\nann@example.org,CS-101\n"
    with pytest.raises(InvalidUpload, match="did not fail"):  # the course, corrected: no match
        retry_failed(runtime, asker, source, [b"email,course\nann@example.org,SEC-110\n"], "f")
    with engine.begin() as conn:
        add_course(conn, "CS-101", "The course the file meant")
    retry = retry_failed(runtime, asker, source, [fixed], "fixed.csv")
    drain()
    assert store.get(retry.id).error_count == 0
    with engine.connect() as conn:
        assert count_enrollments(conn) == 2


def test_a_retry_of_a_retry_does_what_still_fails(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    asker: Asker,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        add_user(conn, "ann@example.org", "Ann", "user")
    data = b"email,course\nann@example.org,CS101\nann@example.org,LATE1\n"
    job = launch_enrollment(runtime, superadmin, "superadmin", [data], "Enroll Ann")
    drain()
    first = retry_failed(runtime, asker, store.get(job.id))  # the course is still missing
    drain()
    assert (store.get(first.id).done, store.get(first.id).error_count) == (1, 1)
    with engine.begin() as conn:
        late = add_course(conn, "LATE1", "A course made late").id
    second = retry_failed(runtime, asker, store.get(first.id))
    assert (second.source_id, second.total) == (first.id, 1)
    drain()
    assert store.get(second.id).error_count == 0
    assert errors_of(store, second.id) == []
    _, pairs = platform(engine)
    assert pairs == {("ann@example.org", catalogue["CS101"]), ("ann@example.org", late)}


def test_an_expired_job_takes_its_journal_with_its_input(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    from tasks.data.db import journal, uploads
    from tasks.jobs.reaper import Reaper

    job = launch_import(runtime, superadmin, "superadmin", "s.csv", users_file(10, 5))
    drain()
    ended = store.get(job.id)

    def left() -> tuple[int, int]:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(
                    sa.select(sa.func.count()).where(table.c.job_id == job.id)
                ).scalar_one()
                for table in (journal, uploads)
            )

    assert left() == (2, 1)  # created, failed; one chunk of input
    Reaper(runtime, on_end=lambda _: None).sweep(ended.finished_at + store.retention_s + 1)  # type: ignore[operator]
    assert left() == (0, 0)
