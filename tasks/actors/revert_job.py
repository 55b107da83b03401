"""The `revert_job` massive action: undo what an ended import or enrollment wrote.

An import's revert walks the source's journal (tasks/data/journal.py) in line order, one of
its batches (its created or its updated lines) at a time: it removes the users the import
created, gives the users it updated back their name and role, and removes the enrollments the
import added to them. It leaves alone every row that someone changed since, and says why in
its ledger ("kept"): the user was written again (by a person or another job:
`users.updated_by` is no longer the import), signed in since, was enrolled by someone else
(removing the user would take that enrollment with it), or is gone. An enrollment's revert
removes the enrollments it added (`enrollments.job_id`). Each batch is one transaction with
its checkpoint and its tally (the outcome so far and the journal row done last), so a revert
resumed after a crash does no row twice."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tasks.broker import worker_runtime
from tasks.csv_input import shorten
from tasks.data.db import enrollments, users
from tasks.data.journal import CREATED, WRITES, Entry, next_chunk
from tasks.data.retry import DEFAULT_BACKOFF, Backoff, retry_transient
from tasks.jobs.context import JobContext
from tasks.jobs.middleware import current_job, massive_action
from tasks.outcome import REVERT_OUTCOME, Tally
from tasks.uploads import claim_checkpoint, load_tally, save_checkpoint

BATCH_ROWS = 5000


def _kept_because(
    entry: Entry, written_at: float, found: Any, source_id: str, others: set[int]
) -> str | None:
    """Why the row of `entry` must be left as it is now, or None if it may be reverted."""
    if found is None:
        return "no longer there"
    if found.updated_by != source_id:
        return "changed since the import"
    if found.signed_in_at is not None and found.signed_in_at > written_at:
        return "signed in since the import"
    if entry.action == CREATED and found.id in others:
        return "enrolled in a course by someone else since the import"
    return None


def _revert_users(
    ctx: JobContext, conn: Connection, job_id: str, source_id: str, batch: list[tuple[Entry, float]]
) -> tuple[int, int]:
    """Revert one batch of the journal's entries, in the caller's transaction: (reverted, kept)."""
    emails = [entry.email for entry, _ in batch if entry.email]
    found = {
        r.email: r
        for r in conn.execute(
            sa.text("SELECT id, email, updated_by, signed_in_at FROM users WHERE "
                    + _member(conn, "email", "emails")),
            {"emails": _listed(conn, emails)},
        )
    }  # fmt: skip
    others = set(
        conn.execute(
            sa.text("SELECT DISTINCT user_id FROM enrollments WHERE "
                    + _member(conn, "user_id", "ids")
                    + " AND (job_id IS NULL OR job_id <> :job)"),
            {"ids": _listed(conn, [r.id for r in found.values()]), "job": source_id},
        ).scalars()
    )  # fmt: skip
    removed: list[int] = []
    restored: list[dict[str, object]] = []
    kept = 0
    for entry, written_at in batch:
        row = found.get(entry.email or "")
        reason = _kept_because(entry, written_at, row, source_id, others)
        if reason is not None or row is None:
            kept += 1
            ctx.error(f"line {entry.line}", f"kept {shorten(entry.email or '')!r}: {reason}")
        elif entry.action == CREATED:
            removed.append(row.id)
        else:
            restored.append({"uid": row.id, "old_name": entry.before_name,
                             "old_role": entry.before_role})  # fmt: skip
    ctx.save()
    now = time.time()
    if removed:  # (their enrollments go with them: all the import's, as `others` showed)
        conn.execute(
            sa.text(f"DELETE FROM users WHERE {_member(conn, 'id', 'ids')} AND updated_by = :job"),
            {"ids": _listed(conn, removed), "job": source_id},
        )
    if restored:
        conn.execute(
            sa.update(users)
            .where(users.c.id == sa.bindparam("uid"), users.c.updated_by == source_id)
            .values(name=sa.bindparam("old_name"), role=sa.bindparam("old_role"),
                    updated_at=now, updated_by=job_id),
            restored,
        )  # fmt: skip
        conn.execute(
            sa.text(f"DELETE FROM enrollments WHERE {_member(conn, 'user_id', 'ids')} "
                    "AND job_id = :job"),
            {"ids": _listed(conn, [r["uid"] for r in restored]), "job": source_id},
        )  # fmt: skip
    return len(removed) + len(restored), kept


def _member(conn: Connection, column: str, name: str) -> str:
    """`column` is one of the list bound as `name` (`_listed`): one parameter however long the
    list, where SQLAlchemy's IN would bind (and compile) one per value."""
    if conn.dialect.name == "postgresql":
        return f"{column} = ANY(:{name})"
    return f"{column} IN (SELECT value FROM json_each(:{name}))"


def _listed(conn: Connection, values: list[Any]) -> object:
    return values if conn.dialect.name == "postgresql" else json.dumps(values)


def run_revert(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    params: Mapping[str, Any],
    source_id: str,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> None:
    """Revert the job `source_id` from the checkpoint of `job_id` on, reporting through `ctx`;
    `params["source_kind"]` says what the source was, `params["rows"]` how many rows it wrote."""
    is_import = params["source_kind"] == "import_users"

    def begin() -> tuple[int, Tally, int]:
        with engine.begin() as conn:
            start = claim_checkpoint(conn, job_id, ctx.run)
            tally = Tally.of(REVERT_OUTCOME, load_tally(conn, job_id))
            left = 0 if is_import else _count_enrollments(conn, source_id)
            return start, tally, left

    start, tally, left = retry_transient(begin, "reading the checkpoint", backoff)
    ctx.resume(start)
    ctx.set_total(int(params["rows"]) if is_import else start + left)
    ctx.set_outcome(tally.counts)
    position = start
    while True:

        def batch_of(tally: Tally = tally, position: int = position) -> tuple[Tally, int]:
            with engine.begin() as conn:
                if is_import:
                    chunk = next_chunk(conn, source_id, WRITES, tally.after)
                    if chunk is None:
                        return tally, 0
                    batch = [(entry, chunk.at) for entry in chunk.entries]
                    reverted, kept = _revert_users(ctx, conn, job_id, source_id, batch)
                    after, size = chunk.line, len(batch)
                else:
                    size = reverted = _revert_enrollments(conn, source_id)
                    kept, after = 0, 0
                    if not size:
                        return tally, 0
                new = tally.plus(after, reverted=reverted, kept=kept)
                save_checkpoint(conn, job_id, position + size, ctx.run, new.saved())
                return new, size

        forget = partial(ctx.resume, position)
        tally, size = retry_transient(
            batch_of, f"reverting from item {position + 1}", backoff, forget
        )
        if not size:
            return
        position += size
        ctx.set_outcome(tally.counts)
        ctx.advance(size)


def _count_enrollments(conn: Connection, source_id: str) -> int:
    query = sa.select(sa.func.count()).where(enrollments.c.job_id == source_id)
    return int(conn.execute(query).scalar_one())


def _revert_enrollments(conn: Connection, source_id: str) -> int:
    """Remove up to BATCH_ROWS of the enrollments `source_id` added; how many."""
    pairs = conn.execute(
        sa.select(enrollments.c.user_id, enrollments.c.course_id)
        .where(enrollments.c.job_id == source_id)
        .limit(BATCH_ROWS)
    ).all()
    if pairs:
        conn.execute(
            sa.delete(enrollments).where(
                enrollments.c.user_id == sa.bindparam("uid"),
                enrollments.c.course_id == sa.bindparam("cid"),
                enrollments.c.job_id == source_id,
            ),
            [{"uid": u, "cid": c} for u, c in pairs],
        )
    return len(pairs)


@massive_action
def revert_job(job_id: str) -> None:
    ctx, runtime = current_job(), worker_runtime()
    source_id = ctx.job.source_id or ""
    backoff = Backoff(runtime.settings.db_retry_s)
    run_revert(ctx, runtime.engine, job_id, ctx.params, source_id, backoff)
