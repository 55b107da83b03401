"""Many users at once, at the database's speed: the look-up of a batch's emails and of their
enrollments, the creation of new users with their enrollments, and enrollments alone, in the
caller's transaction (the import's and the enrollment's batches).

Each is a fixed number of statements whatever the batch's size, with its rows passed in bulk:
on PostgreSQL the emails as one JSON array joined to `users` and the new users by COPY into a
temporary table, from which one INSERT ... SELECT creates them and enrolls them; on SQLite the
emails, the new users and their enrollments each as one JSON array read by `json_each`. New
users are put in that form (`stage_users`) before the transaction that writes them, so that an
import does it while its batch before is written. Nothing here checks a value: the caller has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
    users: str  # PostgreSQL: COPY text, courses included; SQLite: JSON [[email, name, role]]
    enrollments: str  # SQLite: JSON [[email, course_id]]; PostgreSQL: ""


def stage_users(dialect: str, new: Sequence[NewUser]) -> StagedUsers:
    """`new` in the form `create_users` sends it to a database of kind `dialect`."""
    if dialect == "postgresql":
        lines = [
            f"{line}\t{_copy_text(user.email)}\t{_copy_text(user.name)}\t{user.role}"
            f"\t{{{','.join(map(str, user.course_ids))}}}\n"
            for line, user in enumerate(new)
        ]
        return StagedUsers(dialect, len(new), "".join(lines), "")
    users = _json([[user.email, user.name, user.role] for user in new])
    pairs = _json([[user.email, course_id] for user in new for course_id in user.course_ids])
    return StagedUsers(dialect, len(new), users, pairs)


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
    staged = new if isinstance(new, StagedUsers) else stage_users(conn.dialect.name, new)
    if staged.dialect != conn.dialect.name:
        raise ValueError(f"users staged for {staged.dialect}, written to {conn.dialect.name}")
    if not staged.count:
        return 0
    if staged.dialect == "postgresql":
        return _create_by_copy(conn, staged, at, job_id)
    return _create_from_json(conn, staged, at, job_id)


# The staging tables stay with their connection, emptied at each commit: made for every batch
# and dropped at its end, the table's catalog rows cost a batch 15 ms (as much as its COPY).
# While one exists, CREATE ... IF NOT EXISTS only sends a notice, which psycopg drops.
_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS import_rows (
    line integer, email text, name text, role text, course_ids text
) ON COMMIT DELETE ROWS
"""

# The users in file order; the main statement sees the CTE's rows through RETURNING only, and
# the enrollments' foreign key checks, run at the statement's end, see the new users.
_CREATE_AND_ENROLL = """
WITH created AS (
    INSERT INTO users (email, name, role, password_hash, is_active, created_at, updated_at,
                       updated_by)
    SELECT email, name, role, NULL, true, %(at)s, %(at)s, %(job)s FROM import_rows ORDER BY line
    RETURNING id, email
)
INSERT INTO enrollments (user_id, course_id, enrolled_at, job_id)
SELECT created.id, course_id, %(at)s, %(job)s
FROM created JOIN import_rows USING (email), unnest(import_rows.course_ids::integer[]) AS course_id
"""


def _create_by_copy(conn: Connection, staged: StagedUsers, at: float, job_id: str | None) -> int:
    conn.exec_driver_sql(_STAGING)
    _copy(conn, "COPY import_rows FROM STDIN", staged.users)
    enrolled: int = conn.exec_driver_sql(_CREATE_AND_ENROLL, {"at": at, "job": job_id}).rowcount
    return enrolled


# COPY's text format: these four characters are written as escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy(conn: Connection, statement: str, data: str) -> None:
    """COPY ... FROM STDIN of `data`, already in COPY's text format: built with one join, it
    costs far less than a `write_row` per row."""
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            copy.write(data.encode())
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
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS enrollment_rows (user_id integer, course_id integer)"
        " ON COMMIT DELETE ROWS"
    )
    data = "".join(f"{user_id}\t{course_id}\n" for user_id, course_id in pairs)
    _copy(conn, "COPY enrollment_rows FROM STDIN", data)
    conn.exec_driver_sql(
        "INSERT INTO enrollments (user_id, course_id, enrolled_at, job_id) "
        "SELECT user_id, course_id, %(at)s, %(job)s FROM enrollment_rows ON CONFLICT DO NOTHING",
        {"at": at, "job": job_id},
    )
