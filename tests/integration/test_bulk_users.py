"""The import's fast path on both databases (PostgreSQL's COPY, SQLite's JSON arrays): the users
and their enrollments written in file order, a taken email refused with nothing written, and
the whole `run_import` finding duplicates in the file and against the platform, updating, and
resuming from its checkpoint without writing a row twice. PostgreSQL joins where
TEST_DATABASE_URL is set (its case is skipped, with its reason, only when it is not)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.actors.enroll_users import run_enrollment
from tasks.actors.import_users import BATCH_ROWS, _Import, run_import
from tasks.data.bulk import (
    NewUser,
    add_enrollments,
    create_users,
    find_enrolled,
    find_users,
    stage_users,
)
from tasks.data.courses import add_course, count_enrollments
from tasks.data.db import connect, create_schema, enrollments, metadata, users
from tasks.data.retry import is_transient
from tasks.data.users import add_user, count_users
from tasks.jobs.context import JobContext
from tasks.jobs.model import Event, Person
from tasks.jobs.store import JobStore
from tasks.uploads import claim_checkpoint, load_checkpoint, save_checkpoint, save_upload
from tests.support.jobs import new_job

OWNER = Person(1, "Rosa Root")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh schema on a private SQLite file or on the TEST_DATABASE_URL PostgreSQL, with
    two courses (ids 1 and 2)."""
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'bulk.sqlite3'}")
    else:
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.skip("TEST_DATABASE_URL is not set: the COPY path is not tested")
        engine = connect(url)
        metadata.drop_all(engine)
    create_schema(engine)
    with engine.begin() as conn:
        add_course(conn, "CS101", "Computing")
        add_course(conn, "MATH200", "Algebra")
    yield engine
    engine.dispose()


def rows_of(engine: Engine) -> tuple[list[tuple[str, str, str]], set[tuple[str, int]]]:
    with engine.connect() as conn:
        people = conn.execute(
            sa.select(users.c.email, users.c.name, users.c.role).order_by(users.c.id)
        )
        pairs = conn.execute(
            sa.select(users.c.email, enrollments.c.course_id).join(
                enrollments, enrollments.c.user_id == users.c.id
            )
        )
        return [tuple(r) for r in people], {tuple(p) for p in pairs}  # type: ignore[misc]


def test_create_users_writes_them_in_order_with_their_courses(db: Engine) -> None:
    new = [
        NewUser("zed@example.org", "Zed", "user", [1, 2]),
        NewUser("amy@example.org", "Amy, Jr.", "power_user", []),
        NewUser("bea@example.org", 'Bea "B" \\N \t\n\r end', "user", [2]),
        NewUser("zoe@example.org", "Zoë 李 \u2028 [1] \x1e", "user", [1]),
    ]
    with db.begin() as conn:
        assert create_users(conn, new, time.time()) == 4
    people, pairs = rows_of(db)
    assert people == [
        ("zed@example.org", "Zed", "user"),
        ("amy@example.org", "Amy, Jr.", "power_user"),
        ("bea@example.org", 'Bea "B" \\N \t\n\r end', "user"),
        ("zoe@example.org", "Zoë 李 \u2028 [1] \x1e", "user"),
    ]
    assert pairs == {
        ("zed@example.org", 1), ("zed@example.org", 2), ("bea@example.org", 2),
        ("zoe@example.org", 1),
    }  # fmt: skip


def test_create_users_refuses_a_taken_email_and_writes_nothing(db: Engine) -> None:
    with db.begin() as conn:
        add_user(conn, "taken@example.org", "Taken", "user")
    new = [
        NewUser("fresh@example.org", "Fresh", "user", [1]),
        NewUser("taken@example.org", "Again", "user", [1]),
    ]
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        create_users(conn, new, time.time())
    assert count_users(db) == 1
    with db.connect() as conn:
        assert count_enrollments(conn) == 0
    with db.begin() as conn:  # the same pooled connection, ready for the next batch
        assert create_users(conn, new[:1], time.time()) == 1
    assert count_users(db) == 2


def test_find_users_reads_thousands_of_emails_in_one_query(db: Engine) -> None:
    new = [NewUser(f"u{i}@example.org", f"U {i}", "user", []) for i in range(6000)]
    with db.begin() as conn:
        create_users(conn, new, time.time())
    wanted = [f"u{i}@example.org" for i in range(0, 12_000, 2)]
    with db.connect() as conn:
        found = find_users(conn, wanted)
    assert sorted(found) == sorted(f"u{i}@example.org" for i in range(0, 6000, 2))
    assert {role for _, role in found.values()} == {"user"}


FILE = """email,name,role,courses
ann@example.org,Ann Lee,user,CS101
old@example.org,Old Renamed,power_user,MATH200
ANN@example.org,Ann Again,user,
boss@example.org,Boss,,CS101
bad@@example.org,Bad,user,
cat@example.org,Cat,,CS101;MATH200;CS101
"""


def import_file(
    engine: Engine, store: JobStore, data: str, on_existing: str, owner_role: str = "power_user"
) -> tuple[str, list[tuple[str, str]]]:
    rows = data.count("\n") - 1
    params = {"rows": rows, "on_existing": on_existing, "owner_role": owner_role}
    job = new_job(store, OWNER, params=params, total=rows)
    with engine.begin() as conn:
        save_upload(conn, job.id, [data.encode()])
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    run_import(ctx, engine, job.id, params)
    ctx.close()
    ledger = [(e.item, e.message) for e in store.errors(job.id, limit=100).items]
    return job.id, ledger


def test_import_finds_duplicates_in_the_file_and_on_the_platform(
    db: Engine, store: JobStore
) -> None:
    with db.begin() as conn:
        add_user(conn, "old@example.org", "Old", "user")
        add_user(conn, "boss@example.org", "Boss", "superadmin")
    # As a Superadmin: the file gives a power_user role, which a Power User may not give.
    _, ledger = import_file(db, store, FILE, "skip", owner_role="superadmin")
    assert ledger == [
        ("line 4", "duplicate of line 2 ('ann@example.org')"),
        ("line 6", "'bad@@example.org' is not a valid email address"),
    ]
    people, pairs = rows_of(db)
    assert people == [
        ("old@example.org", "Old", "user"),  # skipped: untouched
        ("boss@example.org", "Boss", "superadmin"),
        ("ann@example.org", "Ann Lee", "user"),
        ("cat@example.org", "Cat", "user"),
    ]
    assert pairs == {("ann@example.org", 1), ("cat@example.org", 1), ("cat@example.org", 2)}


def test_import_updates_existing_users_but_not_a_superadmin(db: Engine, store: JobStore) -> None:
    with db.begin() as conn:
        add_user(conn, "old@example.org", "Old", "user")
        add_user(conn, "boss@example.org", "Boss", "superadmin")
    # A Power User may not give power_user (test_import_users.py): old@ is renamed only.
    data = FILE.replace("Old Renamed,power_user", "Old Renamed,user")
    _, ledger = import_file(db, store, data, "update")
    assert ("line 5", "'boss@example.org' is a superadmin: only a Superadmin may update it") in (
        ledger
    )
    people, pairs = rows_of(db)
    assert ("old@example.org", "Old Renamed", "user") in people
    assert ("old@example.org", 2) in pairs and ("boss@example.org", 1) not in pairs


def test_a_resumed_import_writes_no_row_twice(db: Engine, store: JobStore) -> None:
    """A worker died after committing the first batch: the next one starts after it, and the
    duplicate of a committed row is still found."""
    rows = BATCH_ROWS + 10
    lines = [f"u{i}@example.org,User {i},," for i in range(rows - 1)] + ["u3@example.org,Again,,"]
    data = "email,name,role,courses\n" + "\n".join(lines) + "\n"
    params = {"rows": rows, "on_existing": "skip", "owner_role": "superadmin"}
    job = new_job(store, OWNER, params=params, total=rows)
    first = [NewUser(f"u{i}@example.org", f"User {i}", "user", []) for i in range(BATCH_ROWS)]
    with db.begin() as conn:
        save_upload(conn, job.id, [data.encode()])
        claim_checkpoint(conn, job.id, "first-run")
        create_users(conn, first, time.time())  # what the first worker committed
        save_checkpoint(conn, job.id, BATCH_ROWS, "first-run")
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    run_import(ctx, db, job.id, params)
    ctx.close()
    assert count_users(db) == rows - 1
    ledger = [(e.item, e.message) for e in store.errors(job.id).items]
    assert ledger == [(f"line {rows + 1}", "duplicate of line 5 ('u3@example.org')")]
    with db.connect() as conn:
        assert load_checkpoint(conn, job.id) == rows


def test_add_enrollments_keeps_a_pair_enrolled_meanwhile_as_it_is(db: Engine) -> None:
    new = [NewUser(f"p{i}@example.org", f"P {i}", "user", []) for i in range(3)]
    with db.begin() as conn:
        create_users(conn, new, time.time())
        ids = [user_id for user_id, _ in find_users(conn, [u.email for u in new]).values()]
        add_enrollments(conn, [(ids[0], 1)], 1.0)  # someone else's, first
    with db.begin() as conn:
        add_enrollments(conn, [(ids[0], 1), (ids[0], 2), (ids[1], 2)], 2.0)
    with db.connect() as conn:
        assert find_enrolled(conn, ids) == {(ids[0], 1), (ids[0], 2), (ids[1], 2)}
        assert find_enrolled(conn, [ids[2]]) == set()
        first = sa.select(enrollments.c.enrolled_at).where(
            enrollments.c.user_id == ids[0], enrollments.c.course_id == 1
        )
        assert conn.execute(first).scalar_one() == 1.0


def test_a_user_created_by_someone_else_after_the_look_up_makes_the_batch_plan_again(
    db: Engine, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second batch is looked up while the first is written; somebody creates one of its
    users right after. Its insert fails, and the batch is forgotten (its errors too), looked up
    again and written: that user is skipped as existing, every other row written once."""
    rows = BATCH_ROWS + 10
    lines = [f"u{i}@example.org,User {i},," for i in range(rows - 1)] + ["bad@@x,Bad,,"]
    data = "email,name,role,courses\n" + "\n".join(lines) + "\n"
    racer = f"u{BATCH_ROWS + 3}@example.org"
    look_up = _Import.find_existing
    calls: list[list[str]] = []

    def find_then_race(engine: Engine, emails: list[str]) -> dict[str, tuple[int, str, str]]:
        found = look_up(engine, emails)
        calls.append(emails)
        if racer in emails and len(calls) == 2:
            with engine.begin() as conn:
                add_user(conn, racer, "Somebody Else's", "user")
        return found

    monkeypatch.setattr(_Import, "find_existing", staticmethod(find_then_race))
    _, ledger = import_file(db, store, data, "skip")
    assert [racer in emails for emails in calls] == [False, True, True]
    assert ledger == [(f"line {rows + 1}", "'bad@@x' is not a valid email address")]
    assert count_users(db) == rows - 1
    people, _ = rows_of(db)
    assert (racer, "Somebody Else's", "user") in people
    assert len({email for email, _, _ in people}) == rows - 1


def test_batches_on_one_connection_each_write_only_their_own_users(db: Engine) -> None:
    """A batch that rolled back on a connection (its COPY refused midway on PostgreSQL) leaves
    nothing there for the next batches on the same connection, which write only their own."""
    engine = connect(str(db.url.render_as_string(hide_password=False)))
    engine.pool = sa.pool.StaticPool(creator=engine.pool._creator)  # one connection for all
    first = [NewUser(f"a{i}@example.org", f"A {i}", "user", [1]) for i in range(3)]
    second = [NewUser(f"b{i}@example.org", f"B {i}", "user", [2]) for i in range(2)]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        create_users(conn, first + first[:1], time.time())  # rolled back, the table with it
    with engine.begin() as conn:
        assert create_users(conn, first, time.time()) == 3
    with engine.begin() as conn:
        assert create_users(conn, second, time.time()) == 2
    engine.dispose()
    people, pairs = rows_of(db)
    assert [email for email, _, _ in people] == [u.email for u in first + second]
    assert pairs == {(u.email, 1) for u in first} | {(u.email, 2) for u in second}


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_ids_taken_apart_by_another_session_still_follow_the_file(db: Engine) -> None:
    """On PostgreSQL a batch takes its users' ids from their sequence first; when another
    session takes values in between (here: a sequence that steps by 3), the batch uses exactly
    the values it took, in the file's order, and enrolls each user under its own id."""
    with db.begin() as conn:
        conn.exec_driver_sql("ALTER SEQUENCE users_id_seq INCREMENT BY 3")
    new = [NewUser(f"s{i}@example.org", f"S {i}", "user", [1 + i % 2]) for i in range(5)]
    with db.begin() as conn:
        assert create_users(conn, new, time.time(), "job-1") == 5
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(users.c.id, users.c.email, enrollments.c.course_id, enrollments.c.job_id)
            .join(enrollments, enrollments.c.user_id == users.c.id)
            .order_by(users.c.id)
        ).all()
    ids = [user_id for user_id, *_ in rows]
    assert [b - a for a, b in zip(ids, ids[1:], strict=False)] == [3, 3, 3, 3]
    assert [(email, course, job) for _, email, course, job in rows] == [
        (f"s{i}@example.org", 1 + i % 2, "job-1") for i in range(5)
    ]


def test_an_enrollment_writes_each_new_pair_once_and_names_the_rest(
    db: Engine, store: JobStore
) -> None:
    """enroll_users on both databases: across two batches, each new pair is enrolled once with
    the job's id, and a pair already enrolled, repeated, or naming an unknown user or course is
    an error naming it."""
    with db.begin() as conn:
        ids = [add_user(conn, f"e{i}@example.org", f"E {i}", "user").id for i in range(3)]
        add_enrollments(conn, [(ids[0], 1)], 1.0)
    pairs = [(f"e{i % 3}@example.org", ("CS101", "MATH200")[i % 2]) for i in range(BATCH_ROWS)]
    lines = ["email,course"] + [f"{email},{code}" for email, code in pairs]
    lines += ["nobody@example.org,CS101", "e2@example.org,NOPE"]
    rows = len(lines) - 1
    params = {"rows": rows, "owner_role": "superadmin"}
    job = new_job(store, OWNER, kind="enroll_users", params=params, total=rows)
    with db.begin() as conn:
        save_upload(conn, job.id, [("\n".join(lines) + "\n").encode()])
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    run_enrollment(ctx, db, job.id, params)
    ctx.close()
    with db.connect() as conn:
        written = conn.execute(
            sa.select(enrollments.c.user_id, enrollments.c.course_id, enrollments.c.job_id)
        ).all()
    assert sorted(written) == [
        (ids[0], 1, None), (ids[0], 2, job.id), (ids[1], 1, job.id), (ids[1], 2, job.id),
        (ids[2], 1, job.id), (ids[2], 2, job.id),
    ]  # fmt: skip
    ledger = [e.message for e in store.errors(job.id, limit=rows).items]
    assert len(ledger) == rows - 5
    assert ledger[0] == "'e0@example.org' is already enrolled in 'CS101'"
    assert ledger[-2:] == ["no user with email 'nobody@example.org'", "no course with code 'NOPE'"]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_copy_on_a_lost_connection_is_a_passing_failure_tried_again(db: Engine) -> None:
    """The server ends the connection before a batch's COPY: the driver's error comes out as
    SQLAlchemy's OperationalError, which the import tries again with backoff (a raw psycopg
    error was neither, and failed the job)."""
    new = [NewUser("lost@example.org", "Lost", "user", [1])]
    with db.connect() as conn:
        staged = stage_users(conn, new)
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.rollback()
        with db.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        with pytest.raises(sa.exc.OperationalError) as caught:
            create_users(conn, staged, time.time())
        conn.invalidate()
    assert is_transient(caught.value)
    assert count_users(db) == 0
