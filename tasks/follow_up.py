"""Launching a job from an ended one: commit a check, retry the failed rows, revert.

Each checks that the source allows it (a `FollowUpRefused` names why not, with the HTTP status
the web layer answers), claims the verb on the source (tasks/jobs/follow_ups.py: once per
verb), writes what the new job needs in the database in one transaction (a copy of the
source's upload, the lines to do again, or the corrected file) and records and queues the new
job, with `source_id`. A launch that fails half-way removes what it wrote and releases the
claim. The new job is the asker's: the owner and Superadmins may launch from a job (the web
layer has made sure the asker may see it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tasks.csv_input import (
    ENROLLMENT_COLUMNS,
    USER_COLUMNS,
    InvalidUpload,
    inspect_upload,
    read_rows,
    shorten,
)
from tasks.data.db import enrollments
from tasks.data.journal import WRITES, copy_failed_as_todo, count_entries, failed_keys
from tasks.data.users import normalize_email
from tasks.jobs.follow_ups import claim_follow_up, release_follow_up
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.records import AuditEntry, UnknownJob, new_job_id
from tasks.launch import (
    check_role,
    check_room,
    display_filename,
    read_spool,
    record_job,
    spool_upload,
)
from tasks.runtime import Runtime
from tasks.uploads import copy_upload, save_upload

REVERTIBLE = ("import_users", "enroll_users")
REVERT_KIND = "revert_job"

log = logging.getLogger(__name__)


class FollowUpRefused(Exception):
    """The source job does not allow this follow-up; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Asker:
    person: Person
    role: str


def _mode(job: Job) -> str:
    return str(job.params.get("mode", "run"))


def _held(runtime: Runtime, source: Job, verb: str, new_id: str) -> None:
    """Claim `verb` on the source for `new_id`, or refuse (409) naming the job that has it."""
    try:
        held = claim_follow_up(runtime.store, source.id, verb, new_id)
    except UnknownJob:
        raise FollowUpRefused(404, f"There is no job {source.id!r}.") from None
    if held is not None:
        done = {"commit": "was already started as", "retry": "were already retried in",
                "revert": "was already reverted by"}[verb]  # fmt: skip
        what = "Its failed rows" if verb == "retry" else "This job"
        raise FollowUpRefused(409, f"{what} {done} job {held}.")


def _ended(source: Job, doing: str) -> None:
    if not source.is_final:
        raise FollowUpRefused(409, f"A job can be {doing} only once it has ended.")


def commit_check(runtime: Runtime, asker: Asker, source: Job) -> Job:
    """Start the real action of an ended check, from its upload and options."""
    check_role(asker.role)
    if _mode(source) != "check":
        raise FollowUpRefused(409, "Only a check can be started: this job was not one.")
    _ended(source, "started")
    description = source.description.removeprefix("Check: ")
    if description.startswith("Check users"):
        description = "Import" + description.removeprefix("Check")
    params = {**source.params, "mode": "run", "owner_role": asker.role}
    job = _job(source, asker, description, params, int(source.params["rows"]))
    return _launch(
        runtime, source, job, "commit", lambda conn: copy_upload(conn, source.id, job.id)
    )


def retry_failed(
    runtime: Runtime,
    asker: Asker,
    source: Job,
    corrected: Iterable[bytes] | None = None,
    filename: str = "",
) -> Job:
    """A job over exactly the failed rows of the source's upload, or over a corrected file whose
    every row is a failed row (matched by email; enrollments by email and course)."""
    check_role(asker.role)
    if source.kind not in REVERTIBLE or _mode(source) == "check":
        raise FollowUpRefused(409, "Only an import or an enrollment has rows to retry.")
    _ended(source, "retried")
    with runtime.engine.connect() as conn:
        failed = failed_keys(conn, source.id)
    if not failed:
        raise FollowUpRefused(409, "This job has no failed rows to retry.")
    params = {**source.params, "mode": "run", "owner_role": asker.role}
    if corrected is None:
        description = f"Retry {_rows(len(failed))} of “{source.description}”"
        params.update(rows=len(failed), only_todo=True)
        job = _job(source, asker, description, params, len(failed))

        def write(conn: Connection) -> None:
            copy_upload(conn, source.id, job.id)
            copy_failed_as_todo(conn, source.id, job.id, time.time())

        return _launch(runtime, source, job, "retry", write)
    with spool_upload(corrected) as spool:
        rows = _check_corrected(runtime, source, spool, failed)
        name = display_filename(filename)
        description = f"Retry {_rows(rows)} of “{source.description}” from {name}"
        params.update(rows=rows, filename=name)
        params.pop("only_todo", None)
        job = _job(source, asker, description, params, rows)
        return _launch(
            runtime, source, job, "retry", lambda conn: save_upload(conn, job.id, read_spool(spool))
        )


def _check_corrected(
    runtime: Runtime, source: Job, spool: IO[bytes], failed: dict[tuple[str, str], int]
) -> int:
    """How many rows the corrected file has; InvalidUpload naming the first row that had not
    failed in the source."""
    is_import = source.kind == "import_users"
    summary = inspect_upload(
        read_spool(spool),
        required=("email", "name") if is_import else ENROLLMENT_COLUMNS,
        allowed=USER_COLUMNS if is_import else ENROLLMENT_COLUMNS,
        max_rows=runtime.settings.import_max_rows,
    )
    for line, row in read_rows(read_spool(spool)):
        email = normalize_email(row.get("email", ""))
        course = "" if is_import else row.get("course", "").strip()
        if (email, course) not in failed:
            what = repr(shorten(email)) + ("" if is_import else f" in {shorten(course)!r}")
            raise InvalidUpload(
                f"line {line} ({what}) did not fail in job {source.id}: a corrected file may "
                "hold only rows that failed"
            )
    return summary.rows


def revert(runtime: Runtime, asker: Asker, source: Job) -> Job:
    """A job that undoes what an ended import or enrollment wrote (tasks/actors/revert_job.py)."""
    check_role(asker.role)
    if source.kind == REVERT_KIND:
        raise FollowUpRefused(409, "A revert cannot be reverted.")
    if source.kind not in REVERTIBLE:
        raise FollowUpRefused(409, "Only an import or an enrollment can be reverted.")
    if _mode(source) == "check":
        raise FollowUpRefused(409, "A check wrote nothing: there is nothing to revert.")
    if source.status in (Status.QUEUED, Status.RUNNING, Status.ABORTING):
        raise FollowUpRefused(409, "A job can be reverted only once it has ended.")
    with runtime.engine.connect() as conn:
        if source.kind == "import_users":
            rows = count_entries(conn, source.id, WRITES)
        else:
            query = sa.select(sa.func.count()).where(enrollments.c.job_id == source.id)
            rows = int(conn.execute(query).scalar_one())
    params = {"rows": rows, "source_kind": source.kind, "owner_role": asker.role}
    job = _job(source, asker, f"Revert “{source.description}”", params, rows, REVERT_KIND)
    return _launch(runtime, source, job, "revert", lambda conn: None)


def _rows(n: int) -> str:
    return f"{n:,} failed row" if n == 1 else f"{n:,} failed rows"


def _job(
    source: Job,
    asker: Asker,
    description: str,
    params: dict[str, object],
    total: int,
    kind: str = "",
) -> Job:
    return Job(
        id=new_job_id(),
        kind=kind or source.kind,
        description=description,
        owner=asker.person,
        created_at=time.time(),
        params=params,
        total=total,
        source_id=source.id,
    )


def _launch(
    runtime: Runtime, source: Job, job: Job, verb: str, write: Callable[[Connection], object]
) -> Job:
    """Claim `verb` on the source, then record and queue the new job as any launch is
    (`record_job`), the verb in the source's audit; release the claim if a step fails."""
    check_room(runtime, job.owner)
    _held(runtime, source, verb, job.id)
    try:
        return record_job(
            runtime, job, write,
            lambda: runtime.store.add_audit(source.id, AuditEntry(verb, job.owner, job.created_at)),
            source_id=source.id, verb=verb,
        )  # fmt: skip
    except BaseException:
        release_follow_up(runtime.store, source.id, verb, job.id)
        raise
