"""Many users at once, at the database's speed: the look-up of a batch's emails and of their
enrollments, the creation of new users with their enrollments, and enrollments alone, in the
caller's transaction (the import's and the enrollment's batches).

Each is a fixed number of statements whatever the batch's size, with its rows passed in bulk:
on PostgreSQL the emails as one JSON array joined to `users`, and the new users and their
enrollments each by one plain COPY into their table, the users' ids taken from their sequence
beforehand (the way the fastest path writes them: an INSERT ... SELECT from a staging table
cost the server half as much again); on SQLite the emails, the new users and their
enrollments each as one JSON array read by `json_each`. New users are put in that form
(`stage_users`) before the transaction that writes them, so that an import does it while its
batch before is written. Nothing here checks a value: the caller has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str  # checked and normalized
    name: str
    role: str
    course_ids: Sequence[int]


@dataclass(frozen=True, slots=True)
class StagedUsers:
    """New users as `create_users` sends them to one kind of database (`stage_users`)."""

    dialect: str
    count: int
    # PostgreSQL: COPY text of the users, ids included, and of their enrollments, each line's
    # time and job left as _WRITTEN; SQLite: JSON [[email, name, role]] and [[email, course_id]]
    users: str
    enrollments: str


def stage_users(conn: Connection, new: Sequence[NewUser]) -> StagedUsers:
    """`new` in the form `create_users` sends it to the database of `conn`. On PostgreSQL the
    users' ids are taken from their sequence here (one query), so that the users and their
    enrollments are each one plain COPY; ids taken by a batch that is not written are gaps."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        ids = _next_user_ids(conn, len(new))
        users = [
            f"{user_id}\t{_copy_text(user.email)}\t{_copy_text(user.name)}\t{user.role}"
            f"\t{_WRITTEN}\n"
            for user_id, user in zip(ids, new, strict=True)
        ]
        pairs = [
            f"{user_id}\t{course_id}\t{_WRITTEN}\n"
            for user_id, user in zip(ids, new, strict=True)
            for course_id in user.course_ids
        ]
        return StagedUsers(dialect, len(new), "".join(users), "".join(pairs))
    users_json = _json([[user.email, user.name, user.role] for user in new])
    pairs_json = _json([[user.email, course_id] for user in new for course_id in user.course_ids])
    return StagedUsers(dialect, len(new), users_json, pairs_json)


# `count` values of the users' id sequence (PostgreSQL names a SERIAL's sequence so; named,
# not looked up, so that the server resolves it once and not for every value). One row comes
# back: the first and last value, and all of them only when another session's took some in
# between.
_NEXT_USER_IDS = """
SELECT min(id), max(id),
       CASE WHEN max(id) - min(id) + 1 = count(*) THEN NULL ELSE string_agg(id::text, ',') END
FROM (SELECT nextval('users_id_seq') AS id FROM generate_series(1, %(count)s)) AS taken
"""


def _next_user_ids(conn: Connection, count: int) -> Sequence[int]:
    """`count` new ids from the users' sequence, ascending (so that ids follow the file)."""
    if not count:
        return []
    first, last, every = conn.exec_driver_sql(_NEXT_USER_IDS, {"count": count}).one()
    if every is None:
        return range(first, last + 1)
    return sorted(map(int, every.split(",")))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def find_users(conn: Connection, emails: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(id, role) of the users that have these emails, by email, in one query."""
    rows = _by_emails(conn, "id, role", emails)
    return {email: (user_id, role) for email, user_id, role in rows}


def find_people(conn: Connection, emails: Sequence[str]) -> dict[str, tuple[int, str, str]]:
    """(id, role, name) of the users that have these emails, by email, in one query."""
    rows = _by_emails(conn, "id, role, name", emails)
    return {email: (user_id, role, name) for email, user_id, role, name in rows}


def _by_emails(conn: Connection, columns: str, emails: Sequence[str]) -> list[Any]:
    if not emails:
        return []
    if conn.dialect.name == "postgresql":
        # One JSON text, not an array: psycopg's dumping of 5,000 strings as an array and the
        # server's reading of it took 25 ms a batch, this takes 10.
        sql = (
            f"SELECT users.email, {columns} FROM json_array_elements_text(%(emails)s::json) "
            "AS wanted (email) JOIN users ON users.email = wanted.email"
        )
        return list(conn.exec_driver_sql(sql, {"emails": _json(list(emails))}).all())
    sql = f"SELECT email, {columns} FROM users WHERE email IN (SELECT value FROM json_each(?))"
    return list(conn.exec_driver_sql(sql, (_json(list(emails)),)).all())


def create_users(
    conn: Connection,
    new: Sequence[NewUser] | StagedUsers,
    at: float,
    job_id: str | None = None,
) -> int:
    """Create these users (none may exist yet: a taken email raises IntegrityError) and enroll
    each in its courses, as written by `job_id`; returns the number of enrollments made."""
    staged = new if isinstance(new, StagedUsers) else stage_users(conn, new)
    if staged.dialect != conn.dialect.name:
        raise ValueError(f"users staged for {staged.dialect}, written to {conn.dialect.name}")
    if not staged.count:
        return 0
    if staged.dialect == "postgresql":
        return _create_by_copy(conn, staged, at, job_id)
    return _create_from_json(conn, staged, at, job_id)


# Where a staged line's last columns go: replaced when the batch is written by its time (twice
# for a user: created and updated) and its job. A character no value can hold as it is
# (_copy_text writes it as an escape).
_WRITTEN = "\x1e"
_USER_COLUMNS = "id, email, name, role, created_at, updated_at, updated_by, is_active"
_ENROLLMENT_COLUMNS = "user_id, course_id, enrolled_at, job_id"


def _create_by_copy(conn: Connection, staged: StagedUsers, at: float, job_id: str | None) -> int:
    job = _copy_text(job_id)
    users = staged.users.replace(_WRITTEN, f"{at!r}\t{at!r}\t{job}\tt")
    _copy(conn, f"COPY users ({_USER_COLUMNS}) FROM STDIN", users)
    pairs = staged.enrollments.replace(_WRITTEN, f"{at!r}\t{job}")
    _copy(conn, f"COPY enrollments ({_ENROLLMENT_COLUMNS}) FROM STDIN", pairs)
    return pairs.count("\n")


# COPY's text format: these characters are written as escapes.
_COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", _WRITTEN: "\\036"}
)


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x1e]")


def _copy_text(value: str | None) -> str:
    """`value` as COPY's text format writes it (None: NULL)."""
    if value is None:
        return "\\N"
    # A search first: a value rarely holds one, and `translate` costs 1 µs for any value.
    return value.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def _copy(conn: Connection, statement: str, data: str) -> None:
    """COPY ... FROM STDIN of `data`, already in COPY's text format: built with one join, it
    costs far less than a `write_row` per row. The driver's errors are raised as SQLAlchemy's
    (a taken email as IntegrityError, a lost server as OperationalError), as a statement's are."""
    if not data:
        return
    dbapi: Any = conn.connection.dbapi_connection
    cursor = dbapi.cursor()
    try:
        with cursor.copy(statement) as copy:
            copy.write(data.encode())
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, type(dbapi).Error) from exc
    finally:
        cursor.close()


# In the array's order (its key), so that ids follow the file; the enrollments find their user
# by email through the unique index.
_CREATE_FROM_JSON = """
INSERT INTO users (email, name, role, password_hash, is_active, created_at, updated_at,
                   updated_by)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       NULL, 1, ?1, ?1, ?2
FROM json_each(?3) ORDER BY key
"""
_ENROLL_FROM_JSON = """
INSERT INTO enrollments (user_id, course_id, enrolled_at, job_id)
SELECT users.id, json_extract(pair.value, '$[1]'), ?1, ?2
FROM json_each(?3) AS pair JOIN users ON users.email = json_extract(pair.value, '$[0]')
"""


def _create_from_json(conn: Connection, staged: StagedUsers, at: float, job_id: str | None) -> int:
    conn.exec_driver_sql(_CREATE_FROM_JSON, (at, job_id, staged.users))
    enrolled: int = conn.exec_driver_sql(
        _ENROLL_FROM_JSON, (at, job_id, staged.enrollments)
    ).rowcount
    return enrolled


def find_enrolled(conn: Connection, user_ids: Iterable[int]) -> set[tuple[int, int]]:
    """The (user_id, course_id) enrollments of these users, in one query."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    if conn.dialect.name == "postgresql":
        sql = "SELECT user_id, course_id FROM enrollments WHERE user_id = ANY(%(ids)s)"
        rows = conn.exec_driver_sql(sql, {"ids": ids})
    else:
        sql = (
            "SELECT user_id, course_id FROM enrollments "
            "WHERE user_id IN (SELECT value FROM json_each(?))"
        )
        rows = conn.exec_driver_sql(sql, (_json(ids),))
    return {(user_id, course_id) for user_id, course_id in rows.all()}


def add_enrollments(
    conn: Connection, pairs: Sequence[tuple[int, int]], at: float, job_id: str | None = None
) -> None:
    """Enroll each (user_id, course_id) pair, as added by `job_id`; one enrolled meanwhile by
    someone else stays as it is (ON CONFLICT DO NOTHING)."""
    if not pairs:
        return
    if conn.dialect.name != "postgresql":
        # One statement over a JSON array: an executemany binds each row holding the GIL,
        # which the enrollment's other thread needs to read and look up its next batch.
        # (`WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.)
        conn.exec_driver_sql(
            "INSERT INTO enrollments (user_id, course_id, enrolled_at, job_id) "
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?1, ?2 "
            "FROM json_each(?3) WHERE true ON CONFLICT DO NOTHING",
            (at, job_id, _json(pairs)),
        )
        return
    job = _copy_text(job_id)
    written = f"\t{at!r}\t{job}\n"
    data = "".join(f"{user_id}\t{course_id}{written}" for user_id, course_id in pairs)
    # The caller looked the pairs up: none is enrolled yet, but for one that somebody else
    # enrolled since. A plain COPY costs the server a third less than an INSERT ... ON CONFLICT
    # from a staging table; that one is the way back when the COPY meets such a pair.
    try:
        with conn.begin_nested():
            _copy(conn, f"COPY enrollments ({_ENROLLMENT_COLUMNS}) FROM STDIN", data)
        return
    except sa.exc.IntegrityError:
        pass
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS enrollment_rows (user_id integer, course_id integer,"
        " enrolled_at double precision, job_id text) ON COMMIT DELETE ROWS"
    )
    _copy(conn, "COPY enrollment_rows FROM STDIN", data)
    conn.exec_driver_sql(
        f"INSERT INTO enrollments ({_ENROLLMENT_COLUMNS}) SELECT * FROM enrollment_rows "
        "ON CONFLICT DO NOTHING"
    )
