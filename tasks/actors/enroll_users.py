"""The `enroll_users` massive action: enroll users in courses, one item per (email, course) pair.

The input is an upload with the header `email,course`. An unknown user or course, or a pair
already enrolled, is an error that names the pair; the others are written in batches (of
`BATCH_ROWS` first, then sized by how long their writes take: tasks/write_behind.py), each in
one transaction with its checkpoint, its failed lines journaled
(tasks/data/journal.py) and its enrollments marked with the job's id. As in an import, one
batch is read and looked up while the batch before is written by a second thread. A check
(`mode` "check") writes only its checkpoint, with the outcome so far; a retry (`only_todo`)
does only the lines its journal lists. `run_enrollment` is the whole action, callable
without Dramatiq.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.broker import worker_runtime
from tasks.csv_input import read_rows, shorten
from tasks.data.bulk import add_enrollments, find_enrolled, find_users
from tasks.data.db import courses
from tasks.data.journal import FAILED, TODO, Entry, lines_of, write_entries
from tasks.data.retry import DEFAULT_BACKOFF, Backoff, retry_transient
from tasks.data.users import normalize_email
from tasks.jobs.context import JobContext
from tasks.jobs.middleware import current_job, massive_action
from tasks.outcome import CHECK_OUTCOME, Tally
from tasks.uploads import claim_checkpoint, load_tally, save_checkpoint, stream_upload
from tasks.write_behind import FIRST_ITEMS, BatchSize, WriteBehind

BATCH_ROWS = FIRST_ITEMS  # the first batch's pairs
Pair = tuple[int, str, str]  # (line, email, course code)


class _Enrollment:
    """What one enrollment job knows across batches."""

    def __init__(
        self,
        ctx: JobContext,
        job_id: str,
        params: Mapping[str, Any],
        courses_by_code: dict[str, int],
        backoff: Backoff,
        tally: Tally,
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.is_check = params.get("mode") == "check"
        self.courses_by_code = courses_by_code
        self.backoff = backoff
        self.tally = tally
        self.in_flight: set[tuple[int, int]] = set()  # the pairs of the batch planned last

    def plan(self, engine: Engine, batch: list[Pair]) -> _Plan:
        """What enrolling `batch` does. The look-up runs while the batch planned before it is
        written (tasks/write_behind.py): the pairs that batch enrolls are already enrolled for
        this one."""
        emails = list({email for _, email, _ in batch if email})

        def look_up() -> tuple[dict[str, int], set[tuple[int, int]]]:
            with engine.connect() as conn:
                found = find_users(conn, emails)
                user_ids = {email: user_id for email, (user_id, _) in found.items()}
                return user_ids, find_enrolled(conn, user_ids.values())

        first, last = batch[0][0], batch[-1][0]
        user_ids, enrolled = retry_transient(
            look_up, f"looking up lines {first}-{last}", self.backoff
        )
        enrolled |= self.in_flight
        plan = _Plan(len(batch))
        for line, email, code in batch:
            reason = _reason(email, code, user_ids, self.courses_by_code)
            if reason is None:
                pair = (user_ids[email], self.courses_by_code[code])
                if pair not in enrolled:
                    enrolled.add(pair)  # a repeat later in the batch is already enrolled too
                    plan.good.append(pair)
                    continue
                reason = f"{shorten(email)!r} is already enrolled in {shorten(code)!r}"
            plan.errors.append((f"{shorten(email, 100)} / {shorten(code, 60)}", reason))
            plan.failed.append(Entry(line, FAILED, email, code))
        self.in_flight = set(plan.good)
        return plan

    def write(self, engine: Engine, plan: _Plan, position: int) -> None:
        """Enroll one planned batch and record its errors; `position` counts the pairs up to
        its end. A try that failed for a transient cause wrote nothing, and is forgotten (its
        errors too) and tried again with backoff."""
        retry_transient(
            lambda: self._write(engine, plan, position),
            f"enrolling pairs {position - plan.size + 1}-{position}",
            self.backoff,
            forget=lambda: self.ctx.resume(position - plan.size),
        )

    def _write(self, engine: Engine, plan: _Plan, position: int) -> None:
        ctx = self.ctx
        for item, message in plan.errors:
            ctx.error(item, message)
        ctx.save()
        now = time.time()
        tally = self.tally.plus(create=len(plan.good), error=len(plan.failed))
        with engine.begin() as conn:
            if not self.is_check:
                add_enrollments(conn, plan.good, now, self.job_id)
                write_entries(conn, self.job_id, plan.failed, now)
            save_checkpoint(conn, self.job_id, position, ctx.run, tally.saved())
        self.tally = tally
        if self.is_check:
            ctx.set_outcome(tally.counts)
        ctx.advance(plan.size)


@dataclass(slots=True)
class _Plan:
    """A batch of pairs once looked up: those to enroll, and why each other cannot be."""

    size: int
    good: list[tuple[int, int]] = field(default_factory=list)  # (user_id, course_id)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (item, message)
    failed: list[Entry] = field(default_factory=list)  # the journal's entries for the errors


def _reason(
    email: str, code: str, user_ids: dict[str, int], courses_by_code: dict[str, int]
) -> str | None:
    """Why the pair cannot be enrolled (but for being enrolled already), or None."""
    if not email:
        return "email is empty"
    if email not in user_ids:
        return f"no user with email {shorten(email)!r}"
    if not code:
        return "course code is empty"
    if code not in courses_by_code:
        return f"no course with code {shorten(code)!r}"
    return None


def run_enrollment(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    params: Mapping[str, Any],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> None:
    """Enroll the pairs in the upload of `job_id` from its checkpoint on, reporting through
    `ctx`; `params["rows"]` is the number of pairs counted at upload (or to do again), and
    `mode` and `only_todo` say whether it is a check or a retry."""

    def begin() -> tuple[int, dict[str, int], Tally, set[int] | None]:
        with engine.begin() as conn:
            start = claim_checkpoint(conn, job_id, ctx.run)
            by_code = dict(conn.execute(sa.select(courses.c.code, courses.c.id)).all())
            todo = lines_of(conn, job_id, TODO) if params.get("only_todo") else None
            return start, by_code, Tally.of(CHECK_OUTCOME, load_tally(conn, job_id)), todo

    start, courses_by_code, tally, todo = retry_transient(begin, "reading the checkpoint", backoff)
    ctx.resume(start)
    ctx.set_total(int(params["rows"]))
    work = _Enrollment(ctx, job_id, params, courses_by_code, backoff, tally)
    if work.is_check:
        ctx.set_outcome(tally.counts)

    def plan(batch: list[Pair]) -> _Plan:
        return work.plan(engine, batch)

    def write(plan: _Plan, position: int) -> None:
        work.write(engine, plan, position)

    size = BatchSize(BATCH_ROWS)
    with WriteBehind(plan, write, f"enroll-{job_id}", size, start) as writer:
        batch: list[Pair] = []
        position = 0
        for line, row in read_rows(stream_upload(engine, job_id, backoff)):
            if todo is not None and line not in todo:
                continue
            position += 1
            if position <= start:
                continue
            email, code = normalize_email(row.get("email", "")), row.get("course", "").strip()
            batch.append((line, email, code))
            if len(batch) >= size.items:
                writer.add(batch, position)
                batch = []
        if batch:
            writer.add(batch, position)


@massive_action
def enroll_users(job_id: str) -> None:
    ctx, runtime = current_job(), worker_runtime()
    run_enrollment(ctx, runtime.engine, job_id, ctx.params, Backoff(runtime.settings.db_retry_s))
