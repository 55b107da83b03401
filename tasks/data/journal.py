"""The journal: what each import or enrollment batch did to each line of its upload, kept in the
platform's database beside the rows themselves (the `journal` table, tasks/data/db.py).

A batch writes its entries in its own transaction, with its rows and its checkpoint, so that a
crash never leaves the journal and the data apart: `created` (the user's email), `updated`
(the email, and the name and role the user had before), `failed` (the line's email, and its
course for an enrollment: what a corrected file is matched by). The enrollments a job added
carry its id in `enrollments.job_id`, and the users it wrote carry it in `users.updated_by`
(with `updated_at`): a later write by anyone else replaces the marker, which is how a revert
tells a row that was changed since. A retry's lines to do again are `todo` entries, copied
from its source's `failed` ones when it is launched. Written like the rows: COPY on
PostgreSQL, executemany on SQLite; removed with the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tasks.data.bulk import copy
from tasks.data.db import journal

CREATED, UPDATED, FAILED, TODO = "created", "updated", "failed", "todo"
WRITES = (CREATED, UPDATED)


@dataclass(frozen=True, slots=True)
class Entry:
    line: int
    action: str
    email: str | None = None
    course: str | None = None
    before_name: str | None = None
    before_role: str | None = None


_COLUMNS = "job_id, line, action, email, course, before_name, before_role, at"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def write_entries(conn: Connection, job_id: str, entries: Sequence[Entry], at: float) -> None:
    """Add `entries` to the journal of `job_id`, in the caller's transaction."""
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        data = "".join(
            f"{job_id}\t{e.line}\t{e.action}\t{_copy_field(e.email)}\t{_copy_field(e.course)}"
            f"\t{_copy_field(e.before_name)}\t{_copy_field(e.before_role)}\t{at!r}\n"
            for e in entries
        )
        copy(conn, f"COPY journal ({_COLUMNS}) FROM STDIN", data)
        return
    conn.exec_driver_sql(
        f"INSERT INTO journal ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (job_id, e.line, e.action, e.email, e.course, e.before_name, e.before_role, at)
            for e in entries
        ],
    )


def count_entries(conn: Connection, job_id: str, actions: Iterable[str]) -> int:
    query = sa.select(sa.func.count()).where(
        journal.c.job_id == job_id, journal.c.action.in_(list(actions))
    )
    return int(conn.execute(query).scalar_one())


def entries_after(
    conn: Connection, job_id: str, actions: Iterable[str], after_line: int, limit: int
) -> list[tuple[Entry, float]]:
    """The next `limit` entries of these actions after line `after_line`, in line order, each
    with the time it was written."""
    query = (
        sa.select(journal)
        .where(
            journal.c.job_id == job_id,
            journal.c.line > after_line,
            journal.c.action.in_(list(actions)),
        )
        .order_by(journal.c.line)
        .limit(limit)
    )
    return [
        (Entry(r.line, r.action, r.email, r.course, r.before_name, r.before_role), r.at)
        for r in conn.execute(query)
    ]


def lines_of(conn: Connection, job_id: str, action: str) -> set[int]:
    query = sa.select(journal.c.line).where(journal.c.job_id == job_id, journal.c.action == action)
    return set(conn.execute(query).scalars())


def failed_keys(conn: Connection, job_id: str) -> dict[tuple[str, str], int]:
    """The failed lines of `job_id` by (email, course) (course '' for a users import)."""
    query = sa.select(journal.c.email, journal.c.course, journal.c.line).where(
        journal.c.job_id == job_id, journal.c.action == FAILED
    )
    return {(email or "", course or ""): line for email, course, line in conn.execute(query)}


def copy_failed_as_todo(conn: Connection, source_id: str, job_id: str, at: float) -> int:
    """Make the failed lines of `source_id` the lines `job_id` is to do; how many."""
    columns = sa.select(
        sa.literal(job_id),
        journal.c.line,
        sa.literal(TODO),
        journal.c.email,
        journal.c.course,
        sa.literal(at),
    ).where(journal.c.job_id == source_id, journal.c.action == FAILED)
    inserted = conn.execute(
        sa.insert(journal).from_select(
            ["job_id", "line", "action", "email", "course", "at"], columns
        )
    )
    return int(inserted.rowcount)


def delete_journal(conn: Connection, job_ids: Sequence[str]) -> None:
    conn.execute(sa.delete(journal).where(journal.c.job_id.in_(list(job_ids))))
