"""What the JSON API takes and answers, declared once as pydantic models: the OpenAPI document
is generated from them (server/api/openapi.py).

The request bodies are checked with their model (`EnrollmentLists`; an upload's file is read
as it streams, so its model only describes the form). The answers are built by plain functions
(`server.api.jobs.job_json`: a page of 200 jobs is a hot path, and a dict costs less than a
model), and tests/integration/test_api_schema.py holds each builder to its model, field for field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from tasks.jobs.model import Status

Time = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
Entry = Annotated[str, StringConstraints(min_length=1, max_length=254)]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Refusal(Answer):
    """Every refusal: a sentence a person can act on."""

    error: str


class Person(Answer):
    id: int
    name: str


class Job(Answer):
    id: str
    kind: str
    description: str
    owner: Person
    status: Status
    total: int | None
    done: int
    percent: float | None
    error_count: int
    created_at: Time
    started_at: Time
    finished_at: Time
    heartbeat_at: Time
    running_time_s: float | None
    stalled: bool = Field(description="No heartbeat for a while: its worker may be lost.")
    aborted_by: Person | None
    aborted_at: Time
    message: str | None = Field(description="Why it failed, or what it ended with.")
    expires_at: Time = Field(description="When it is forgotten, once ended.")
    url: str
    errors_url: str
    page_url: str
    queue_position: int | None = Field(description="Its place in line while queued: 1 = next.")
    starts_at_estimate: Time = Field(
        description="When it should start, from the running jobs' rates; null while unknown."
    )
    waiting_reason: str | None = Field(
        description="Why it waits beyond its turn (fair share), if it does."
    )
    fast_tracked_at: Time = Field(description="When a Superadmin fast-tracked it, if so.")
    paused_at: Time = Field(description="When it paused, while paused or back in line after.")
    mode: Literal["run", "check"] = Field(description="A check writes nothing: it counts.")
    outcome: dict[str, int] | None = Field(
        description="A check's {create, update, unchanged, error} or a revert's "
        "{reverted, kept, error}, so far; null for other jobs."
    )
    source_id: str | None = Field(description="The job this one commits, retries or reverts.")
    follow_ups: dict[str, str] = Field(
        description="The jobs launched from this one, by verb: commit, retry, revert."
    )


class WatchedJob(Job):
    notify: bool = Field(description="Whether I get an email when it ends.")


class AuditEntry(Answer):
    action: str
    by: Person
    at: Time


class JobDetail(WatchedJob):
    audit: list[AuditEntry] = Field(description="Who did what to it, oldest first.")


class JobPage(Answer):
    jobs: list[Job]
    cursor: str | None = Field(description="Pass it back for the next page; null at the end.")


class LedgerEntry(Answer):
    item: str = Field(description="What the error concerns: a CSV line, a user, a course.")
    message: str
    at: Time


class ErrorPage(Answer):
    errors: list[LedgerEntry]
    cursor: str | None = Field(description="Pass it back for the next page; null at the end.")
    count: int = Field(description="How many errors the job has in all.")
    kept: int = Field(
        description="How many of them are kept and listed: the first JOB_MAX_ERRORS, or fewer if"
        " that was more than its owner's budget left when it started (OWNER_MAX_KEPT_ERRORS)."
    )


Mode = Literal["run", "check"]
MODE = "'check': a dry run that writes nothing and counts what the run would do."


class EnrollmentLists(BaseModel):
    """Every email enrolled in every course (duplicates dropped)."""

    emails: list[Entry] = Field(min_length=1)
    courses: list[Entry] = Field(min_length=1)
    mode: Mode = Field("run", description=MODE)


class Upload(BaseModel):
    file: bytes = Field(description="A UTF-8 CSV with the columns email, course.")


class EnrollmentUpload(Upload):
    mode: Mode = Field("run", description=MODE)


class UsersUpload(BaseModel):
    file: bytes = Field(description="A UTF-8 CSV with the columns email, name, role, courses.")
    on_existing: Literal["skip", "update"] = Field(
        "skip", description="What to do with a user who is already there."
    )
    mode: Mode = Field("run", description=MODE)
