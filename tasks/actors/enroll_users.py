"""The `enroll_users` massive action: enroll users in courses, one item per (email, course) pair.

The input is an upload with the header `email,course`. An unknown user or course, or a pair
already enrolled, is an error that names the pair; the others are written in batches of
`BATCH_ROWS`, each in one transaction with its checkpoint. `run_enrollment` is the whole
action, callable without Dramatiq.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.broker import worker_runtime
from tasks.csv_input import read_rows, shorten
from tasks.data.bulk import add_enrollments, find_enrolled, find_users
from tasks.data.db import courses
from tasks.data.retry import DEFAULT_BACKOFF, Backoff, retry_transient
from tasks.data.users import normalize_email
from tasks.jobs.context import JobContext
from tasks.jobs.middleware import current_job, massive_action
from tasks.uploads import claim_checkpoint, save_checkpoint, stream_upload

BATCH_ROWS = 5000


def _write_batch(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    courses_by_code: dict[str, int],
    batch: list[tuple[str, str]],
    position: int,
    backoff: Backoff,
) -> None:
    """`_write` one batch; a try that failed for a transient cause wrote nothing, and is
    forgotten (its errors too) and tried again with backoff."""
    retry_transient(
        lambda: _write(ctx, engine, job_id, courses_by_code, batch, position),
        f"enrolling pairs {position - len(batch) + 1}-{position}",
        backoff,
        forget=lambda: ctx.resume(position - len(batch)),
    )


def _write(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    courses_by_code: dict[str, int],
    batch: list[tuple[str, str]],
    position: int,
) -> None:
    """Check and enroll one batch of (email, course code) pairs; `position` counts the pairs
    up to its end."""
    emails = list({email for email, _ in batch if email})
    with engine.connect() as conn:
        user_ids = {email: user_id for email, (user_id, _) in find_users(conn, emails).items()}
        enrolled = find_enrolled(conn, user_ids.values())
    good: list[tuple[int, int]] = []
    for email, code in batch:
        item = f"{shorten(email, 100)} / {shorten(code, 60)}"
        if not email:
            ctx.error(item, "email is empty")
        elif email not in user_ids:
            ctx.error(item, f"no user with email {shorten(email)!r}")
        elif not code:
            ctx.error(item, "course code is empty")
        elif code not in courses_by_code:
            ctx.error(item, f"no course with code {shorten(code)!r}")
        else:
            pair = (user_ids[email], courses_by_code[code])
            if pair in enrolled:
                ctx.error(item, f"{shorten(email)!r} is already enrolled in {shorten(code)!r}")
            else:
                enrolled.add(pair)  # a repeat later in the batch is already enrolled too
                good.append(pair)
    ctx.save()
    with engine.begin() as conn:
        add_enrollments(conn, good, time.time())
        save_checkpoint(conn, job_id, position, ctx.run)
    ctx.advance(len(batch))


def run_enrollment(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    params: Mapping[str, Any],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> None:
    """Enroll the pairs in the upload of `job_id` from its checkpoint on, reporting through
    `ctx`; `params["rows"]` is the number of pairs counted at upload."""

    def begin() -> tuple[int, dict[str, int]]:
        with engine.begin() as conn:
            start = claim_checkpoint(conn, job_id, ctx.run)
            return start, dict(conn.execute(sa.select(courses.c.code, courses.c.id)).all())

    start, courses_by_code = retry_transient(begin, "reading the checkpoint", backoff)
    ctx.resume(start)
    ctx.set_total(int(params["rows"]))
    batch: list[tuple[str, str]] = []
    position = 0
    for _, row in read_rows(stream_upload(engine, job_id, backoff)):
        position += 1
        if position <= start:
            continue
        batch.append((normalize_email(row.get("email", "")), row.get("course", "").strip()))
        if len(batch) == BATCH_ROWS:
            _write_batch(ctx, engine, job_id, courses_by_code, batch, position, backoff)
            batch = []
    if batch:
        _write_batch(ctx, engine, job_id, courses_by_code, batch, position, backoff)


@massive_action
def enroll_users(job_id: str) -> None:
    ctx, runtime = current_job(), worker_runtime()
    run_enrollment(ctx, runtime.engine, job_id, ctx.params, Backoff(runtime.settings.db_retry_s))
