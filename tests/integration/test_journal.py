"""The journal on both databases (PostgreSQL's COPY, SQLite's executemany): an import's batches
journal what they did to each line with its before-image and mark the rows they wrote; a
check writes nothing; a revert resumed after a crash reverts no row twice; a database made by
an earlier version gains the new columns. PostgreSQL joins where TEST_DATABASE_URL is set."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.actors.import_users import BATCH_ROWS, run_import
from tasks.actors.revert_job import run_revert
from tasks.data.db import connect, create_schema, enrollments, journal, users
from tasks.data.journal import CREATED, FAILED, UPDATED, Entry, entries_of
from tasks.data.users import add_user
from tasks.jobs.context import JobContext
from tasks.jobs.model import Event, Person
from tasks.jobs.store import JobStore
from tasks.uploads import claim_checkpoint, load_tally, save_upload
from tests.integration.test_bulk_users import db, rows_of
from tests.support.jobs import new_job

__all__ = ["db"]  # the fixture, shared with test_bulk_users.py
OWNER = Person(1, "Rosa Root")
FILE = """email,name,role,courses
new@example.org,New,user,CS101
old@example.org,Old Renamed,user,MATH200
bad@example,Bad,user,
"""


def run(engine: Engine, store: JobStore, data: str, **params: object) -> str:
    params = {"rows": data.count("\n") - 1, "on_existing": "update", "owner_role": "superadmin",
              **params}  # fmt: skip
    job = new_job(store, OWNER, params=params, total=params["rows"])
    with engine.begin() as conn:
        save_upload(conn, job.id, [data.encode()])
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    run_import(ctx, engine, job.id, params)
    ctx.close()
    return job.id


def test_an_import_journals_each_line_and_marks_what_it_wrote(db: Engine, store: JobStore) -> None:
    with db.begin() as conn:
        add_user(conn, "old@example.org", "Old", "user")
    job_id = run(db, store, FILE)
    with db.connect() as conn:
        entries = [e for a in (CREATED, UPDATED, FAILED) for e in entries_of(conn, job_id, a)]
        marks = set(conn.execute(sa.select(users.c.email, users.c.updated_by)).all())
        added = set(conn.execute(sa.select(enrollments.c.course_id, enrollments.c.job_id)).all())
    assert entries == [
        Entry(2, "created", "new@example.org"),
        Entry(3, "updated", "old@example.org", None, "Old", "user"),
        Entry(4, "failed", "bad@example"),
    ]
    with db.connect() as conn:  # one row per batch and action
        assert conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one() == 3
    assert marks == {("new@example.org", job_id), ("old@example.org", job_id)}
    assert added == {(1, job_id), (2, job_id)}


def test_a_check_writes_nothing_but_its_checkpoint(db: Engine, store: JobStore) -> None:
    with db.begin() as conn:
        add_user(conn, "old@example.org", "Old", "user")
    before = rows_of(db)
    job_id = run(db, store, FILE, mode="check")
    assert rows_of(db) == before
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one() == 0
        assert load_tally(conn, job_id) == {
            "create": 1, "update": 1, "unchanged": 0, "error": 1, "after": 0,
        }  # fmt: skip
    assert store.get(job_id).outcome == {"create": 1, "update": 1, "unchanged": 0, "error": 1}


def test_a_revert_resumed_after_a_crash_reverts_no_row_twice(db: Engine, store: JobStore) -> None:
    """The first run reverted one batch and died: the next run goes on after it, and its
    outcome counts every row once."""
    rows = BATCH_ROWS + 7
    data = "email,name\n" + "".join(f"u{i}@example.org,User {i}\n" for i in range(rows))
    source_id = run(db, store, data)
    params = {"rows": rows, "source_kind": "import_users", "owner_role": "superadmin"}
    undo = new_job(store, OWNER, kind="revert_job", params=params, total=rows, source_id=source_id)

    class Crash(Exception):
        pass

    first = JobContext(store, store.transition(undo.id, Event.START, at=time.time()))
    advance = first.advance

    def crash_after_first_batch(k: int = 1) -> None:
        advance(k)
        raise Crash

    first.advance = crash_after_first_batch  # type: ignore[method-assign]
    try:
        run_revert(first, db, undo.id, params, source_id)
    except Crash:
        pass
    assert len(rows_of(db)[0]) == 7
    with db.begin() as conn:
        claim_checkpoint(conn, undo.id, "gone")  # the dead run's claim, as a new run finds it
    again = JobContext(store, store.get(undo.id))
    run_revert(again, db, undo.id, params, source_id)
    again.close()
    assert rows_of(db)[0] == []
    assert store.get(undo.id).outcome == {"reverted": rows, "kept": 0, "error": 0}
    assert store.get(undo.id).error_count == 0


def test_a_database_of_an_earlier_version_gains_the_new_columns(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(254) NOT NULL UNIQUE, "
            "name VARCHAR(200) NOT NULL, role VARCHAR(20) NOT NULL, password_hash VARCHAR(200), "
            "is_active BOOLEAN NOT NULL, created_at FLOAT NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO users VALUES (1, 'a@example.org', 'A', 'user', NULL, 1, 0)"
        )
    create_schema(engine)
    create_schema(engine)  # twice: nothing left to add
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("enrollments")}
        row = conn.execute(sa.select(users.c.email, users.c.updated_by)).one()
    assert {"updated_at", "updated_by", "signed_in_at"} <= columns
    assert "enrollments_by_job" in indexes
    assert tuple(row) == ("a@example.org", None)
    engine.dispose()


def test_an_enrollment_journals_its_failed_pairs_and_marks_what_it_added(
    db: Engine, store: JobStore
) -> None:
    from tasks.actors.enroll_users import run_enrollment

    with db.begin() as conn:
        add_user(conn, "ann@example.org", "Ann", "user")
    data = "email,course\nann@example.org,CS101\nann@example.org,NOPE\nnobody@example.org,CS101\n"
    params = {"rows": 3, "owner_role": "superadmin"}
    job = new_job(store, OWNER, kind="enroll_users", params=params, total=3)
    with db.begin() as conn:
        save_upload(conn, job.id, [data.encode()])
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    run_enrollment(ctx, db, job.id, params)
    ctx.close()
    with db.connect() as conn:
        failed = list(entries_of(conn, job.id, FAILED))
        added = conn.execute(sa.select(enrollments.c.course_id, enrollments.c.job_id)).all()
    assert failed == [
        Entry(3, "failed", "ann@example.org", "NOPE"),
        Entry(4, "failed", "nobody@example.org", "CS101"),
    ]
    assert [tuple(a) for a in added] == [(1, job.id)]
