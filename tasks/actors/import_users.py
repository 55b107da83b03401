"""The `import_users` massive action: create (or update) the users of an uploaded CSV file.

Rows are checked one by one (each bad row is an error naming its line), and written in batches
of `BATCH_ROWS`, each batch in one transaction together with its checkpoint, so that a job
resumed after a crash neither skips nor repeats a row. `run_import` is the whole action, callable
without Dramatiq.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.broker import worker_runtime
from tasks.csv_input import read_rows, shorten
from tasks.data.courses import enroll
from tasks.data.db import courses, users
from tasks.data.retry import DEFAULT_BACKOFF, Backoff, retry_transient
from tasks.data.users import InvalidUser, check_email, check_name, check_role
from tasks.jobs.context import AbortRequested, JobContext
from tasks.jobs.middleware import current_job, massive_action
from tasks.uploads import load_checkpoint, save_checkpoint, stream_upload

BATCH_ROWS = 2000
# While rows before the checkpoint are re-read, how often to look for an abort request.
_ABORT_CHECK_ROWS = 5000


class ImportConflict(RuntimeError):
    """A batch kept colliding with users created by someone else at the same time."""


@dataclass(slots=True)
class _Row:
    line: int
    email: str
    name: str
    role: str | None  # None: the file gives none (create as "user", keep when updating)
    course_ids: list[int]


class _Import:
    """What one import knows across batches: who it is for, the courses, the emails seen."""

    def __init__(
        self,
        ctx: JobContext,
        job_id: str,
        params: Mapping[str, Any],
        courses_by_code: dict[str, int],
        backoff: Backoff,
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.is_update = params.get("on_existing", "skip") == "update"
        self.is_owner_superadmin = params.get("owner_role") == "superadmin"
        self.courses_by_code = courses_by_code
        self.first_line: dict[str, int] = {}  # email -> line of its first occurrence
        self.backoff = backoff

    def remember(self, line: int, row: dict[str, str]) -> None:
        """Note a row committed before a restart, so duplicates of it are still found."""
        try:
            self.first_line.setdefault(check_email(row.get("email", "")), line)
        except InvalidUser:
            pass

    def check(self, line: int, row: dict[str, str]) -> _Row | None:
        """The row, ready to write, or None after recording why it cannot be."""
        reasons: list[str] = []
        email = ""
        try:
            email = check_email(row.get("email", ""))
        except InvalidUser as exc:
            reasons.append(str(exc))
        else:
            first = self.first_line.setdefault(email, line)
            if first != line:
                reasons.append(f"duplicate of line {first} ({shorten(email)!r})")
        name = ""
        try:
            name = check_name(row.get("name", ""))
        except InvalidUser as exc:
            reasons.append(str(exc))
        role = self.check_role(row.get("role", ""), reasons)
        course_ids = self.check_courses(row.get("courses", ""), reasons)
        if reasons:
            self.ctx.error(f"line {line}", "; ".join(reasons))
            return None
        return _Row(line, email, name, role, course_ids)

    def check_role(self, raw: str, reasons: list[str]) -> str | None:
        if not raw.strip():
            return None
        try:
            role = check_role(raw)
        except InvalidUser:
            reasons.append(
                f"unknown role {shorten(raw.strip())!r}: use user, power_user or superadmin"
            )
            return None
        if role in ("superadmin", "power_user") and not self.is_owner_superadmin:
            reasons.append(f"only a Superadmin may give the role {role!r}")
        return role

    def check_courses(self, raw: str, reasons: list[str]) -> list[int]:
        if not raw:
            return []
        codes = list(dict.fromkeys(filter(None, map(str.strip, raw.split(";")))))
        unknown = [code for code in codes if code not in self.courses_by_code]
        if unknown:
            listed = ", ".join(repr(shorten(code, 30)) for code in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            noun = "course" if len(unknown) == 1 else "courses"
            reasons.append(f"unknown {noun} {listed}{more}")
        return [self.courses_by_code[code] for code in codes if code not in unknown]

    def write(self, engine: Engine, batch: list[tuple[int, dict[str, str]]], position: int) -> None:
        """Check and write one batch; `position` counts the rows up to its end.

        If somebody else creates one of the batch's users between our look-up and our insert,
        the batch is forgotten (its errors too) and checked again, once. A try that failed for
        a transient cause (the database restarting) wrote nothing, and is forgotten and tried
        again with backoff.
        """
        lines = f"writing lines {batch[0][0]}-{batch[-1][0]}"

        def forget() -> None:
            self.ctx.resume(position - len(batch))

        def attempt() -> None:
            retry_transient(
                lambda: self._write(engine, batch, position), lines, self.backoff, forget
            )

        try:
            attempt()
        except sa.exc.IntegrityError:
            forget()
            try:
                attempt()
            except sa.exc.IntegrityError:
                raise ImportConflict(
                    f"users of lines {batch[0][0]}-{batch[-1][0]} were being created by someone "
                    "else at the same time: run the import again"
                ) from None

    def _write(
        self, engine: Engine, batch: list[tuple[int, dict[str, str]]], position: int
    ) -> None:
        good = [row for row in (self.check(line, raw) for line, raw in batch) if row]
        existing = self.find_existing(engine, [row.email for row in good])
        new, updates, enrollments, new_enrollments = [], [], [], []
        now = time.time()
        for row in good:
            found = existing.get(row.email)
            if found is None:
                new.append(row)
                continue
            user_id, role = found
            if not self.is_update:
                continue
            if role == "superadmin" and not self.is_owner_superadmin:
                self.ctx.error(
                    f"line {row.line}",
                    f"{shorten(row.email)!r} is a superadmin: only a Superadmin may update it",
                )
                continue
            is_role_change = row.role not in (None, role)
            if role == "power_user" and is_role_change and not self.is_owner_superadmin:
                self.ctx.error(
                    f"line {row.line}",
                    f"{shorten(row.email)!r} is a power_user: only a Superadmin may change the"
                    " role of someone who can run jobs",
                )
                continue
            updates.append({"uid": user_id, "new_name": row.name, "new_role": row.role or role})
            enrollments += [(user_id, course_id) for course_id in row.course_ids]
        self.ctx.save()
        with engine.begin() as conn:
            if new:
                values = [
                    {
                        "email": row.email,
                        "name": row.name,
                        "role": row.role or "user",
                        "password_hash": None,
                        "is_active": True,
                        "created_at": now,
                    }
                    for row in new
                ]
                with_courses = {row.email: row.course_ids for row in new if row.course_ids}
                if with_courses:
                    inserted = sa.insert(users).returning(users.c.email, users.c.id)
                    for email, user_id in conn.execute(inserted, values):
                        new_enrollments += [(user_id, c) for c in with_courses.get(email, ())]
                else:
                    conn.execute(sa.insert(users), values)
            if updates:
                conn.execute(
                    sa.update(users)
                    .where(users.c.id == sa.bindparam("uid"))
                    .values(name=sa.bindparam("new_name"), role=sa.bindparam("new_role")),
                    updates,
                )
            if new_enrollments:
                enroll(conn, new_enrollments, are_users_new=True)
            if enrollments:
                enroll(conn, enrollments)
            save_checkpoint(conn, self.job_id, position)
        self.ctx.advance(len(batch))

    @staticmethod
    def find_existing(engine: Engine, emails: list[str]) -> dict[str, tuple[int, str]]:
        if not emails:
            return {}
        query = sa.select(users.c.email, users.c.id, users.c.role).where(users.c.email.in_(emails))
        with engine.connect() as conn:
            return {email: (user_id, role) for email, user_id, role in conn.execute(query)}


def run_import(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    params: Mapping[str, Any],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> None:
    """Import the upload of `job_id` from its checkpoint on, reporting through `ctx`.

    `params` are the job's: `rows` (counted at upload), `on_existing` ("skip" leaves existing
    users untouched, "update" sets their name and role and enrolls them) and `owner_role`.
    """

    def begin() -> tuple[int, dict[str, int]]:
        with engine.connect() as conn:
            start = load_checkpoint(conn, job_id)
            return start, dict(conn.execute(sa.select(courses.c.code, courses.c.id)).all())

    start, courses_by_code = retry_transient(begin, "reading the checkpoint", backoff)
    ctx.resume(start)
    ctx.set_total(int(params["rows"]))
    work = _Import(ctx, job_id, params, courses_by_code, backoff)
    batch: list[tuple[int, dict[str, str]]] = []
    position = 0
    for line, row in read_rows(stream_upload(engine, job_id, backoff)):
        position += 1
        if position <= start:
            work.remember(line, row)
            if position % _ABORT_CHECK_ROWS == 0 and ctx.is_abort_requested:
                raise AbortRequested(job_id)
            continue
        batch.append((line, row))
        if len(batch) == BATCH_ROWS:
            work.write(engine, batch, position)
            batch = []
    if batch:
        work.write(engine, batch, position)


@massive_action
def import_users(job_id: str) -> None:
    ctx, runtime = current_job(), worker_runtime()
    run_import(ctx, runtime.engine, job_id, ctx.params, Backoff(runtime.settings.db_retry_s))
