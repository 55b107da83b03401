"""The journal: what each import or enrollment batch did to each line of its upload, kept in the
platform's database beside the rows themselves (the `journal` table, tasks/data/db.py).

A batch writes its entries in its own transaction, with its rows and its checkpoint, so that a
crash never leaves the journal and the data apart: `created` (the user's email), `updated`
(the email, and the name and role the user had before), `failed` (the line's email, and its
course for an enrollment: what a corrected file is matched by). They are kept as one row per
batch and action, its entries a JSON list, keyed by the first line it holds: a row per line
cost the import a fifth of its speed on SQLite, a row per batch costs it next to nothing, and
a revert reads one row per batch. The enrollments a job added carry its id in
`enrollments.job_id`, and the users it wrote carry it in `users.updated_by` (with
`updated_at`): a later write by anyone else replaces the marker, which is how a revert tells
a row that was changed since. A retry's lines to do again are `todo` rows, copied from its
source's `failed` ones when it is launched. Removed with the job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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


@dataclass(frozen=True, slots=True)
class Chunk:
    """One batch's entries of one action, as written at `at`."""

    line: int  # the first line it holds: its key
    entries: list[Entry]
    at: float


@dataclass(frozen=True, slots=True)
class EncodedEntries:
    """One batch's entries as the journal keeps them (`encode_entries`): made before the
    transaction that writes them, so that an import does it while its batch before is written."""

    rows: list[dict[str, object]]  # one per action: line, action, size and the JSON entries


def encode_entries(entries: Sequence[Entry]) -> EncodedEntries:
    by_action: dict[str, list[Entry]] = {}
    for entry in entries:
        by_action.setdefault(entry.action, []).append(entry)
    rows: list[dict[str, object]] = [
        {
            "line": min(e.line for e in chunk),
            "action": action,
            "size": len(chunk),
            "entries": json.dumps(
                [[e.line, e.email, e.course, e.before_name, e.before_role] for e in chunk],
                separators=(",", ":"),
            ),
        }
        for action, chunk in by_action.items()
    ]
    return EncodedEntries(rows)


def write_entries(
    conn: Connection, job_id: str, entries: Sequence[Entry] | EncodedEntries, at: float
) -> None:
    """Add `entries` (one batch's: no line in an earlier batch) to the journal of `job_id`, in
    the caller's transaction: one row per action."""
    encoded = entries if isinstance(entries, EncodedEntries) else encode_entries(entries)
    if encoded.rows:
        conn.execute(
            sa.insert(journal), [{**row, "job_id": job_id, "at": at} for row in encoded.rows]
        )


def _chunk(row: sa.Row[tuple[object, ...]]) -> Chunk:
    m = row._mapping
    entries = [Entry(e[0], m["action"], *e[1:]) for e in json.loads(m["entries"])]
    return Chunk(m["line"], entries, m["at"])


def _of(job_id: str, actions: Iterable[str]) -> sa.ColumnElement[bool]:
    return sa.and_(journal.c.job_id == job_id, journal.c.action.in_(list(actions)))


def count_entries(conn: Connection, job_id: str, actions: Iterable[str]) -> int:
    query = sa.select(sa.func.coalesce(sa.func.sum(journal.c.size), 0)).where(_of(job_id, actions))
    return int(conn.execute(query).scalar_one())


def next_chunk(
    conn: Connection, job_id: str, actions: Iterable[str], after_line: int
) -> Chunk | None:
    """The first chunk of these actions whose key is after `after_line`, or None."""
    query = (
        sa.select(journal)
        .where(_of(job_id, actions), journal.c.line > after_line)
        .order_by(journal.c.line)
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _chunk(row)


def entries_of(conn: Connection, job_id: str, action: str) -> Iterator[Entry]:
    query = sa.select(journal).where(_of(job_id, [action])).order_by(journal.c.line)
    for row in conn.execute(query).all():
        yield from _chunk(row).entries


def lines_of(conn: Connection, job_id: str, action: str) -> set[int]:
    return {entry.line for entry in entries_of(conn, job_id, action)}


def failed_keys(conn: Connection, job_id: str) -> dict[tuple[str, str], int]:
    """The failed lines of `job_id` by (email, course) (course '' for a users import)."""
    return {(e.email or "", e.course or ""): e.line for e in entries_of(conn, job_id, FAILED)}


def copy_failed_as_todo(conn: Connection, source_id: str, job_id: str, at: float) -> None:
    """Make the failed lines of `source_id` the lines `job_id` is to do."""
    columns = sa.select(
        sa.literal(job_id), journal.c.line, sa.literal(TODO), journal.c.size,
        journal.c.entries, sa.literal(at),
    ).where(_of(source_id, [FAILED]))  # fmt: skip
    names = ["job_id", "line", "action", "size", "entries", "at"]
    conn.execute(sa.insert(journal).from_select(names, columns))


def delete_journal(conn: Connection, job_ids: Sequence[str]) -> None:
    conn.execute(sa.delete(journal).where(journal.c.job_id.in_(list(job_ids))))
