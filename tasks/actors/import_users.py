"""The `import_users` massive action: create (or update) the users of an uploaded CSV file.

Rows are checked one by one (each bad row is an error naming its line), and written in batches
(of `BATCH_ROWS` first, then sized by how long their writes take: tasks/write_behind.py), each
batch in one transaction together with its checkpoint, so that a job
resumed after a crash neither skips nor repeats a row. While one batch is written (by a second
thread, in order, one at a time: tasks/write_behind.py) the next is read, checked and looked up
(who of it is on the platform already: `_Import.plan`), so that the database's work and ours
overlap; a batch's errors are recorded when it is written. Each batch journals what it
did to each line (tasks/data/journal.py) in its transaction. A check (`mode` "check") reads
and judges every row the same way and writes nothing but its checkpoint, with the outcome so
far: how many rows would be created, updated, left unchanged, or are errors. A retry
(`only_todo`) does only the lines its journal lists as to do. `run_import` is the whole
action, callable without Dramatiq.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.broker import worker_runtime
from tasks.csv_input import read_rows, shorten
from tasks.data.bulk import (
    NewUser,
    StagedUsers,
    create_users,
    find_enrolled,
    find_people,
    stage_users,
)
from tasks.data.courses import enroll
from tasks.data.db import courses, users
from tasks.data.journal import (
    CREATED,
    FAILED,
    TODO,
    UPDATED,
    EncodedEntries,
    Entry,
    encode_entries,
    lines_of,
    write_entries,
)
from tasks.data.retry import DEFAULT_BACKOFF, Backoff, retry_transient
from tasks.data.users import InvalidUser, check_email, check_name, check_role
from tasks.first_lines import FirstLines
from tasks.jobs.context import AbortRequested, JobContext
from tasks.jobs.middleware import current_job, massive_action
from tasks.outcome import CHECK_OUTCOME, Tally
from tasks.uploads import claim_checkpoint, load_tally, save_checkpoint, stream_upload
from tasks.write_behind import FIRST_ITEMS, BatchSize, WriteBehind

BATCH_ROWS = FIRST_ITEMS  # the first batch's rows
# While rows before the checkpoint are re-read, how often to look for an abort request.
_ABORT_CHECK_ROWS = 5000
# How many distinct role or courses fields an import remembers the check of.
_CACHED = 10_000
T = TypeVar("T")


class ImportConflict(RuntimeError):
    """A batch kept colliding with users created by someone else at the same time."""


def _cached(seen: dict[str, T], raw: str, check: Callable[[str], T]) -> T:
    """`check(raw)`, computed once per distinct `raw` (up to _CACHED of them)."""
    found = seen.get(raw)
    if found is None:
        found = check(raw)
        if len(seen) < _CACHED:
            seen[raw] = found
    return found


@dataclass(slots=True)
class _Checked:
    """A batch once checked: its good rows, and why each of the others cannot be written."""

    first_line: int
    last_line: int
    size: int
    rows: list[_Row]
    errors: list[tuple[str, str]]  # (item, message)
    failed: list[Entry]  # the journal's entries for the errors


@dataclass(slots=True)
class _Row:
    line: int
    email: str
    name: str
    role: str | None  # None: the file gives none (create as "user", keep when updating)
    course_ids: list[int]


@dataclass(slots=True)
class _Plan:
    """A checked batch once looked up: what writing it does to whom, and all its errors."""

    batch: _Checked
    errors: list[tuple[str, str]]  # the check's, then the look-up's
    entries: list[Entry]  # the journal's, the check's failed lines first
    new: list[NewUser] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    enrollments: list[tuple[int, int]] = field(default_factory=list)
    skipped: int = 0  # existing users left as they are
    # `new` and `entries` as the transaction sends them (made when the plan is complete)
    staged: StagedUsers | None = None
    encoded: EncodedEntries | None = None

    def refuse(self, row: _Row, reason: str) -> None:
        self.errors.append((f"line {row.line}", f"{shorten(row.email)!r} {reason}"))
        self.entries.append(Entry(row.line, FAILED, row.email))


class _Import:
    """What one import knows across batches: who it is for, the courses, the emails seen."""

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
        self.is_update = params.get("on_existing", "skip") == "update"
        self.is_owner_superadmin = params.get("owner_role") == "superadmin"
        self.courses_by_code = courses_by_code
        self.first_lines = FirstLines(int(params["rows"]))
        # A file has few distinct roles and sets of courses: each is checked once.
        self.roles_seen: dict[str, tuple[str | None, str]] = {}
        self.courses_seen: dict[str, tuple[list[int], str]] = {}
        self.backoff = backoff
        self.is_check = params.get("mode") == "check"
        self.tally = tally  # a check's outcome so far

    def remember(self, line: int, row: dict[str, str]) -> None:
        """Note a row committed before a restart, so duplicates of it are still found."""
        try:
            self.first_lines.first(check_email(row.get("email", "")), line)
        except InvalidUser:
            pass

    def check_batch(self, batch: list[tuple[int, dict[str, str]]]) -> _Checked:
        checked = _Checked(batch[0][0], batch[-1][0], len(batch), [], [], [])
        for line, raw in batch:
            row = self.check(line, raw, checked.errors)
            if row is not None:
                checked.rows.append(row)
            else:
                email = raw.get("email", "").strip().lower()
                checked.failed.append(Entry(line, FAILED, email))
        return checked

    def check(self, line: int, row: dict[str, str], errors: list[tuple[str, str]]) -> _Row | None:
        """The row, ready to write, or None after adding to `errors` why it cannot be."""
        reasons: list[str] = []
        email = ""
        try:
            email = check_email(row.get("email", ""))
        except InvalidUser as exc:
            reasons.append(str(exc))
        else:
            first = self.first_lines.first(email, line)
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
            errors.append((f"line {line}", "; ".join(reasons)))
            return None
        return _Row(line, email, name, role, course_ids)

    def check_role(self, raw: str, reasons: list[str]) -> str | None:
        role, reason = _cached(self.roles_seen, raw, self._role)
        if reason:
            reasons.append(reason)
        return role

    def check_courses(self, raw: str, reasons: list[str]) -> list[int]:
        course_ids, reason = _cached(self.courses_seen, raw, self._courses)
        if reason:
            reasons.append(reason)
        return course_ids

    def _role(self, raw: str) -> tuple[str | None, str]:
        """The role a `role` field gives (None: none given), and why it cannot be, if so."""
        if not raw.strip():
            return None, ""
        try:
            role = check_role(raw)
        except InvalidUser:
            return (
                None,
                f"unknown role {shorten(raw.strip())!r}: use user, power_user or superadmin",
            )
        if role in ("superadmin", "power_user") and not self.is_owner_superadmin:
            return role, f"only a Superadmin may give the role {role!r}"
        return role, ""

    def _courses(self, raw: str) -> tuple[list[int], str]:
        """The known courses a `courses` field names, and the unknown ones as a reason."""
        if not raw:
            return [], ""
        codes = list(dict.fromkeys(filter(None, map(str.strip, raw.split(";")))))
        unknown = [code for code in codes if code not in self.courses_by_code]
        reason = ""
        if unknown:
            listed = ", ".join(repr(shorten(code, 30)) for code in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            noun = "course" if len(unknown) == 1 else "courses"
            reason = f"unknown {noun} {listed}{more}"
        return [self.courses_by_code[code] for code in codes if code not in unknown], reason

    def plan(self, engine: Engine, batch: _Checked) -> _Plan:
        """What writing `batch` does, given who is on the platform now. The look-up runs while
        the batch before is written: that batch's users, all of other emails, change no answer
        here, and somebody else's that do make the write fail and the batch be planned again."""
        existing = retry_transient(
            lambda: self.find_existing(engine, [row.email for row in batch.rows]),
            f"looking up lines {batch.first_line}-{batch.last_line}",
            self.backoff,
        )
        plan = _Plan(batch, list(batch.errors), list(batch.failed))
        for row in batch.rows:
            found = existing.get(row.email)
            if found is None:
                plan.new.append(NewUser(row.email, row.name, row.role or "user", row.course_ids))
                plan.entries.append(Entry(row.line, CREATED, row.email))
                continue
            user_id, role, name = found
            if not self.is_update:
                plan.skipped += 1
                continue
            if role == "superadmin" and not self.is_owner_superadmin:
                plan.refuse(row, "is a superadmin: only a Superadmin may update it")
                continue
            is_role_change = row.role not in (None, role)
            if role == "power_user" and is_role_change and not self.is_owner_superadmin:
                plan.refuse(row, "is a power_user: only a Superadmin may change the role of "
                            "someone who can run jobs")  # fmt: skip
                continue
            plan.updates.append({"uid": user_id, "new_name": row.name,
                                 "new_role": row.role or role, "old_name": name,
                                 "old_role": role})  # fmt: skip
            plan.entries.append(Entry(row.line, UPDATED, row.email, None, name, role))
            plan.enrollments += [(user_id, course_id) for course_id in row.course_ids]
        if not self.is_check:
            plan.staged = retry_transient(
                lambda: self.stage(engine, plan.new),
                f"numbering lines {batch.first_line}-{batch.last_line}",
                self.backoff,
            )
            plan.encoded = encode_entries(plan.entries)
        return plan

    def write(self, engine: Engine, plan: _Plan, position: int) -> None:
        """Write one planned batch, with its errors; `position` counts the rows up to its end.

        If somebody else creates one of the batch's users between our look-up and our insert,
        the batch is forgotten (its errors too), planned and written again, once. A try that
        failed for a transient cause (the database restarting) wrote nothing, and is forgotten
        and tried again with backoff.
        """
        batch = plan.batch
        lines = f"writing lines {batch.first_line}-{batch.last_line}"

        def forget() -> None:
            self.ctx.resume(position - batch.size)

        def attempt(plan: _Plan) -> None:
            retry_transient(
                lambda: self._write(engine, plan, position), lines, self.backoff, forget
            )

        try:
            attempt(plan)
        except sa.exc.IntegrityError:
            forget()
            try:
                attempt(self.plan(engine, batch))
            except sa.exc.IntegrityError:
                raise ImportConflict(
                    f"users of lines {batch.first_line}-{batch.last_line} were being created by "
                    "someone else at the same time: run the import again"
                ) from None

    def _write(self, engine: Engine, plan: _Plan, position: int) -> None:
        for item, message in plan.errors:
            self.ctx.error(item, message)
        self.ctx.save()
        if self.is_check:
            self.count(engine, plan, position)
            return
        now = time.time()
        with engine.begin() as conn:
            create_users(conn, plan.staged or plan.new, now, self.job_id)
            if plan.updates:
                conn.execute(
                    sa.update(users)
                    .where(users.c.id == sa.bindparam("uid"))
                    .values(name=sa.bindparam("new_name"), role=sa.bindparam("new_role"),
                            updated_at=now, updated_by=self.job_id),
                    plan.updates,
                )  # fmt: skip
            if plan.enrollments:
                enroll(conn, plan.enrollments, job_id=self.job_id)
            write_entries(conn, self.job_id, plan.encoded or plan.entries, now)
            save_checkpoint(conn, self.job_id, position, self.ctx.run)
        self.ctx.advance(plan.batch.size)

    def count(self, engine: Engine, plan: _Plan, position: int) -> None:
        """A check's batch: what writing it would do, counted and saved with the checkpoint.
        An update that would change nothing (same name and role, every course already
        enrolled) counts as unchanged."""
        updates = plan.updates
        with engine.connect() as conn:
            enrolled = find_enrolled(conn, {int(str(u["uid"])) for u in updates})
        wanted: dict[int, set[int]] = {}
        for user_id, course_id in plan.enrollments:
            wanted.setdefault(user_id, set()).add(course_id)
        identical = sum(
            1
            for u in updates
            if (u["new_name"], u["new_role"]) == (u["old_name"], u["old_role"])
            and all((u["uid"], c) in enrolled for c in wanted.get(int(str(u["uid"])), ()))
        )
        failed = sum(1 for entry in plan.entries if entry.action == FAILED)
        tally = self.tally.plus(
            create=len(plan.new),
            update=len(updates) - identical,
            unchanged=plan.skipped + identical,
            error=failed,
        )
        with engine.begin() as conn:
            save_checkpoint(conn, self.job_id, position, self.ctx.run, tally.saved())
        self.tally = tally
        self.ctx.set_outcome(tally.counts)
        self.ctx.advance(plan.batch.size)

    @staticmethod
    def stage(engine: Engine, new: list[NewUser]) -> StagedUsers:
        with engine.connect() as conn:
            return stage_users(conn, new)

    @staticmethod
    def find_existing(engine: Engine, emails: list[str]) -> dict[str, tuple[int, str, str]]:
        with engine.connect() as conn:
            return find_people(conn, emails)


def run_import(
    ctx: JobContext,
    engine: Engine,
    job_id: str,
    params: Mapping[str, Any],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> None:
    """Import the upload of `job_id` from its checkpoint on, reporting through `ctx`.

    `params` are the job's: `rows` (counted at upload, or the lines to do again), `on_existing`
    ("skip" leaves existing users untouched, "update" sets their name and role and enrolls
    them), `owner_role`, and `mode` ("check": write nothing) and `only_todo` (a retry).
    """

    def begin() -> tuple[int, dict[str, int], Tally, set[int] | None]:
        with engine.begin() as conn:
            start = claim_checkpoint(conn, job_id, ctx.run)
            by_code = dict(conn.execute(sa.select(courses.c.code, courses.c.id)).all())
            todo = lines_of(conn, job_id, TODO) if params.get("only_todo") else None
            return start, by_code, Tally.of(CHECK_OUTCOME, load_tally(conn, job_id)), todo

    start, courses_by_code, tally, todo = retry_transient(begin, "reading the checkpoint", backoff)
    ctx.resume(start)
    ctx.set_total(int(params["rows"]))
    work = _Import(ctx, job_id, params, courses_by_code, backoff, tally)
    if work.is_check:
        ctx.set_outcome(tally.counts)

    def plan(batch: list[tuple[int, dict[str, str]]]) -> _Plan:
        return work.plan(engine, work.check_batch(batch))

    def write(plan: _Plan, position: int) -> None:
        work.write(engine, plan, position)

    size = BatchSize(BATCH_ROWS)
    with WriteBehind(plan, write, f"import-{job_id}", size, start) as writer:
        batch: list[tuple[int, dict[str, str]]] = []
        position = 0
        for line, row in read_rows(stream_upload(engine, job_id, backoff)):
            if todo is not None and line not in todo:
                continue
            position += 1
            if position <= start:
                work.remember(line, row)
                if position % _ABORT_CHECK_ROWS == 0 and ctx.is_abort_requested:
                    raise AbortRequested(job_id)
                continue
            batch.append((line, row))
            if len(batch) >= size.items:
                writer.add(batch, position)
                batch = []
        if batch:
            writer.add(batch, position)


@massive_action
def import_users(job_id: str) -> None:
    ctx, runtime = current_job(), worker_runtime()
    run_import(ctx, runtime.engine, job_id, ctx.params, Backoff(runtime.settings.db_retry_s))
