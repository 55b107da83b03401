"""Launching a massive action: check the input, keep it, record the job, queue its actor.

The web layer calls these with what a person sent. A bad input raises `InvalidUpload` before
anything is written, and a launch that fails half-way removes what it wrote: no job is left
without its input, and no input without its job. An owner who already has
`MAX_ACTIVE_JOBS_PER_USER` jobs queued or running is refused (`TooManyActiveJobs`) before the
file is read, and again, atomically, when the job is recorded.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from sqlalchemy.engine import Connection

from tasks.csv_input import (
    ENROLLMENT_COLUMNS,
    MAX_BYTES,
    USER_COLUMNS,
    InvalidUpload,
    inspect_upload,
)
from tasks.jobs.model import Job, Person
from tasks.jobs.records import AuditEntry, TooManyActiveJobs, new_job_id
from tasks.runtime import Runtime
from tasks.uploads import delete_upload, save_upload

ON_EXISTING = ("skip", "update")
MODES = ("run", "check")  # a check writes nothing: it counts what the run would do
LAUNCHER_ROLES = ("superadmin", "power_user")
SPOOL_BYTES = 1024 * 1024
READ_BYTES = 64 * 1024
MAX_FILENAME = 80

log = logging.getLogger(__name__)


def launch_import(
    runtime: Runtime,
    owner: Person,
    owner_role: str,
    filename: str,
    chunks: Iterable[bytes],
    on_existing: str = "skip",
    mode: str = "run",
) -> Job:
    """Queue an import of the users in a CSV upload (or its check, `mode="check"`); raises
    InvalidUpload on a bad file."""
    check_role(owner_role)
    _check_mode(mode)
    check_room(runtime, owner)
    if on_existing not in ON_EXISTING:
        raise ValueError(f"on_existing must be 'skip' or 'update', got {on_existing!r}")
    with spool_upload(chunks) as spool:
        summary = inspect_upload(
            read_spool(spool),
            required=("email", "name"),
            allowed=USER_COLUMNS,
            max_rows=runtime.settings.import_max_rows,
        )
        name = display_filename(filename)
        job = Job(
            id=new_job_id(),
            kind="import_users",
            description=f"{_verb(mode, 'Import')} users from {name} "
            f"({_count(summary.rows, 'row')})",
            owner=owner,
            created_at=time.time(),
            params={
                "rows": summary.rows,
                "filename": name,
                "on_existing": on_existing,
                "owner_role": owner_role,
                "mode": mode,
            },
            total=summary.rows,
        )
        return _launch(runtime, job, spool)


def launch_enrollment(
    runtime: Runtime,
    owner: Person,
    owner_role: str,
    pairs_csv_chunks: Iterable[bytes],
    description: str | None = None,
    mode: str = "run",
) -> Job:
    """Queue the enrollments in an `email,course` CSV (see `pairs_csv`), or their check
    (`mode="check"`); raises InvalidUpload on a bad file."""
    check_role(owner_role)
    _check_mode(mode)
    check_room(runtime, owner)
    with spool_upload(pairs_csv_chunks) as spool:
        summary = inspect_upload(
            read_spool(spool),
            required=ENROLLMENT_COLUMNS,
            allowed=ENROLLMENT_COLUMNS,
            max_rows=runtime.settings.import_max_rows,
        )
        job = Job(
            id=new_job_id(),
            kind="enroll_users",
            description=_verb(mode, "")
            + (description or f"Enroll users in courses ({_count(summary.rows, 'enrollment')})"),
            owner=owner,
            created_at=time.time(),
            params={"rows": summary.rows, "owner_role": owner_role, "mode": mode},
            total=summary.rows,
        )
        return _launch(runtime, job, spool)


def pairs_csv(emails: Iterable[str], courses: Iterable[str]) -> Iterator[bytes]:
    """The `email,course` CSV of every email with every course, in chunks."""
    course_list = list(courses)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ENROLLMENT_COLUMNS)
    for email in emails:
        for course in course_list:
            writer.writerow((email, course))
            if buffer.tell() >= READ_BYTES:  # within an email too: its courses may be many
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode()


def display_filename(filename: str) -> str:
    """The name a person would recognise: no folders, no control characters, not too long."""
    name = re.split(r"[/\\]", filename)[-1]
    name = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if len(name) > MAX_FILENAME:
        name = name[: MAX_FILENAME - 1] + "…"
    return name or "upload.csv"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _verb(mode: str, run: str) -> str:
    """How a job's description opens: `run`, or "Check" for a check ("Check: " before an
    enrollment's own words)."""
    if mode == "check":
        return "Check" if run else "Check: "
    return run


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'run' or 'check', got {mode!r}")


def check_role(owner_role: str) -> None:
    if owner_role not in LAUNCHER_ROLES:
        raise PermissionError(f"a {owner_role!r} may not launch massive actions")


def check_room(runtime: Runtime, owner: Person) -> None:
    """Refuse a launch past MAX_ACTIVE_JOBS_PER_USER (the store checks again as it records)."""
    most = runtime.settings.max_active_jobs_per_user
    if runtime.store.active_count(owner.id, most) >= most:
        raise TooManyActiveJobs(owner.id, most)


def spool_upload(chunks: Iterable[bytes]) -> tempfile.SpooledTemporaryFile[bytes]:
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(
        max_size=SPOOL_BYTES
    )
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_BYTES:
                raise InvalidUpload(
                    f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: "
                    "split it into smaller files"
                )
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool


def read_spool(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    return iter(lambda: spool.read(READ_BYTES), b"")


def _launch(runtime: Runtime, job: Job, spool: IO[bytes]) -> Job:
    return record_job(runtime, job, lambda conn: save_upload(conn, job.id, read_spool(spool)))


def record_job(
    runtime: Runtime,
    job: Job,
    write: Callable[[Connection], object],
    audited: Callable[[], object] = lambda: None,
    **log_extra: object,
) -> Job:
    """`write` the job's input and record the job (one transaction; past
    MAX_ACTIVE_JOBS_PER_USER, TooManyActiveJobs), audit it (and call `audited`), then put it in
    line and queue its turn (tasks/jobs/line.py); undo all if any step fails."""
    created = None
    try:
        with runtime.engine.begin() as conn:
            write(conn)
            created = runtime.store.create(job, runtime.settings.max_active_jobs_per_user)
        runtime.store.add_audit(job.id, AuditEntry("launched", job.owner, job.created_at))
        audited()
        runtime.line.join(job.id, job.created_at)
        runtime.queue_turn(job.id)
    except BaseException:
        if created is not None:
            _undo(runtime, job.id)
        raise
    log.info("job launched", extra={"job_id": job.id, "user_id": job.owner.id, "kind": job.kind,
                                    "total": job.total, **log_extra})  # fmt: skip
    return created


def _undo(runtime: Runtime, job_id: str) -> None:
    try:
        runtime.line.leave(job_id)
        runtime.store.delete(job_id)
    finally:
        with runtime.engine.begin() as conn:
            delete_upload(conn, job_id)
