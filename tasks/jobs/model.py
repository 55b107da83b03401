"""The job record and its state machine: pure data, no I/O, no clock.

Times are seconds since the epoch (UTC) passed in as `at=`; the store keeps a job as a flat
hash of strings (`to_fields` / `from_fields`), and every process derives percent, running
time, rate and staleness from the same record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    ABORTING = "aborting"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    PAUSING = "pausing"  # asked to pause: its worker stops at the next batch boundary
    PAUSED = "paused"  # stopped at a batch boundary, its checkpoint kept, no thread held

    @property
    def is_final(self) -> bool:
        return self in FINAL


FINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.ABORTED})


class Event(StrEnum):
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    ABORT = "abort"
    CONFIRM_ABORT = "confirm_abort"
    FAST_TRACK = "fast_track"  # a queued job goes ahead of every job not fast-tracked
    PAUSE = "pause"
    CONFIRM_PAUSE = "confirm_pause"
    RESUME = "resume"  # back in line, to go on from its checkpoint


TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.QUEUED, Event.START): Status.RUNNING,
    (Status.QUEUED, Event.ABORT): Status.ABORTED,
    (Status.RUNNING, Event.COMPLETE): Status.COMPLETED,
    (Status.RUNNING, Event.FAIL): Status.FAILED,
    (Status.RUNNING, Event.ABORT): Status.ABORTING,
    (Status.ABORTING, Event.CONFIRM_ABORT): Status.ABORTED,
    (Status.ABORTING, Event.FAIL): Status.FAILED,
    (Status.QUEUED, Event.FAST_TRACK): Status.QUEUED,
    (Status.RUNNING, Event.PAUSE): Status.PAUSING,
    (Status.PAUSING, Event.CONFIRM_PAUSE): Status.PAUSED,
    (Status.PAUSING, Event.COMPLETE): Status.COMPLETED,  # it ended before the boundary
    (Status.PAUSING, Event.FAIL): Status.FAILED,
    (Status.PAUSING, Event.ABORT): Status.ABORTING,
    (Status.PAUSED, Event.RESUME): Status.QUEUED,
    (Status.PAUSED, Event.ABORT): Status.ABORTED,
}


class InvalidTransition(Exception):
    """An event that the job's current status does not allow."""

    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"{status.value} -> {event.value}")
        self.status = status
        self.event = event


def next_status(status: Status, event: Event) -> Status:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidTransition(status, event) from None


def edges(event: Event) -> dict[Status, Status]:
    """Every `from -> to` pair that `event` allows, for stores that check atomically."""
    return {src: dst for (src, ev), dst in TRANSITIONS.items() if ev is event}


@dataclass(frozen=True)
class Person:
    id: int
    name: str


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    description: str
    owner: Person
    created_at: float
    status: Status = Status.QUEUED
    params: dict[str, Any] = field(default_factory=dict)
    total: int | None = None
    done: int = 0
    error_count: int = 0
    checkpoint: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    aborted_by: Person | None = None
    aborted_at: float | None = None
    message: str = ""
    seq: int = 0
    fast_tracked_at: float | None = None
    paused_at: float | None = None  # when it last stopped to pause, until it runs again
    paused_s: float = 0.0  # seconds spent paused (or back in line after a pause) before that
    # Follow-ups (tasks/follow_up.py): the job this one checks, retries or reverts; what it
    # ended with (a check's or a revert's counts); the jobs launched from it, by verb
    # ("commit", "retry", "revert").
    source_id: str | None = None
    outcome: dict[str, int] | None = None
    follow_ups: dict[str, str] = field(default_factory=dict)
    # The most errors its ledger keeps: JOB_MAX_ERRORS, or less if that was more than its
    # owner's budget left (OWNER_MAX_KEPT_ERRORS, tasks/jobs/budget.py); set when it first
    # starts and kept for its life, so that a resumed job keeps what it started with.
    error_cap: int | None = None

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def percent(self) -> int | None:
        """Whole percent done, or None while the total is unknown."""
        if self.total is None:
            return None
        if self.total == 0:
            return 100 if self.is_final or self.status is Status.RUNNING else 0
        return min(100, self.done * 100 // self.total)

    def running_time(self, at: float) -> float | None:
        """Seconds spent running: frozen once finished or paused (and while back in line after
        a pause), None while queued before its first start."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else at
        if self.paused_at is not None:
            end = self.paused_at
        return max(0.0, end - self.started_at - self.paused_s)

    def rate(self, at: float) -> float | None:
        """Items per second since the job started, once there is something to measure."""
        elapsed = self.running_time(at)
        if not elapsed or self.done == 0:
            return None
        return self.done / elapsed

    def eta(self, at: float) -> float | None:
        """Seconds left at the current rate, while running with a known total."""
        rate = self.rate(at)
        if self.status is not Status.RUNNING or rate is None or self.total is None:
            return None
        return max(0, self.total - self.done) / rate

    def is_stalled(self, at: float, after_s: float) -> bool:
        """Running, but no heartbeat for `after_s` seconds."""
        if self.status not in (Status.RUNNING, Status.ABORTING, Status.PAUSING):
            return False
        last = self.heartbeat_at or self.started_at or self.created_at
        return at - last > after_s

    def expires_at(self, retention_s: float) -> float | None:
        return None if self.finished_at is None else self.finished_at + retention_s

    def may_be_seen_by(self, user_id: int, is_superadmin: bool) -> bool:
        return is_superadmin or self.owner.id == user_id


def apply(job: Job, event: Event, at: float, **changes: Any) -> Job:
    """The job after `event` at time `at`; raises InvalidTransition when it cannot happen."""
    status = next_status(job.status, event)
    stamps: dict[str, Any] = {"status": status}
    if status is Status.RUNNING:
        stamps["started_at"] = at if job.started_at is None else job.started_at
        stamps["heartbeat_at"] = at
        if job.paused_at is not None:  # it goes on after a pause: the pause is not run time
            stamps["paused_s"] = job.paused_s + max(0.0, at - job.paused_at)
            stamps["paused_at"] = None
    if event is Event.CONFIRM_PAUSE:
        stamps["paused_at"] = at
    if event is Event.FAST_TRACK:
        stamps["fast_tracked_at"] = at
    if status.is_final:
        stamps["finished_at"] = at
    return replace(job, **stamps, **changes)


_FLOATS = ("created_at", "started_at", "finished_at", "heartbeat_at", "aborted_at",
           "fast_tracked_at", "paused_at")  # fmt: skip
_INTS = ("done", "error_count", "checkpoint", "seq")
# What `to_fields` leaves out when it has no value: a store removes these from a record that
# had them (a pause's `paused_at` once the job runs again).
OPTIONAL_FIELDS = (*_FLOATS, "total", "paused_s", "aborted_by_id", "aborted_by_name")


def to_fields(job: Job) -> dict[str, str]:
    """The job as the flat string hash the store keeps (absent values are omitted)."""
    fields = {
        "id": job.id,
        "kind": job.kind,
        "description": job.description,
        "owner_id": str(job.owner.id),
        "owner_name": job.owner.name,
        "status": job.status.value,
        "params": json.dumps(job.params, separators=(",", ":")),
        "message": job.message,
    }
    for name in _INTS:
        fields[name] = str(getattr(job, name))
    for name in _FLOATS:
        value = getattr(job, name)
        if value is not None:
            fields[name] = repr(value)
    if job.total is not None:
        fields["total"] = str(job.total)
    if job.paused_s:
        fields["paused_s"] = repr(job.paused_s)
    if job.aborted_by is not None:
        fields["aborted_by_id"] = str(job.aborted_by.id)
        fields["aborted_by_name"] = job.aborted_by.name
    if job.source_id is not None:
        fields["source_id"] = job.source_id
    if job.outcome is not None:
        fields["outcome"] = json.dumps(job.outcome, separators=(",", ":"))
    if job.error_cap is not None:
        fields["error_cap"] = str(job.error_cap)
    if job.follow_ups:
        fields["follow_ups"] = json.dumps(job.follow_ups, separators=(",", ":"))
    return fields


def from_fields(fields: dict[str, str]) -> Job:
    """The inverse of `to_fields`; raises KeyError or ValueError on a damaged record."""

    def opt_float(name: str) -> float | None:
        raw = fields.get(name)
        return float(raw) if raw else None

    aborted_by = None
    if fields.get("aborted_by_id"):
        aborted_by = Person(int(fields["aborted_by_id"]), fields.get("aborted_by_name", ""))
    total = fields.get("total")
    return Job(
        id=fields["id"],
        kind=fields["kind"],
        description=fields["description"],
        owner=Person(int(fields["owner_id"]), fields["owner_name"]),
        created_at=float(fields["created_at"]),
        status=Status(fields["status"]),
        params=json.loads(fields.get("params") or "{}"),
        total=int(total) if total else None,
        done=int(fields.get("done") or 0),
        error_count=int(fields.get("error_count") or 0),
        checkpoint=int(fields.get("checkpoint") or 0),
        started_at=opt_float("started_at"),
        finished_at=opt_float("finished_at"),
        heartbeat_at=opt_float("heartbeat_at"),
        aborted_by=aborted_by,
        aborted_at=opt_float("aborted_at"),
        message=fields.get("message", ""),
        seq=int(fields.get("seq") or 0),
        fast_tracked_at=opt_float("fast_tracked_at"),
        paused_at=opt_float("paused_at"),
        paused_s=float(fields.get("paused_s") or 0.0),
        source_id=fields.get("source_id") or None,
        outcome=json.loads(fields["outcome"]) if fields.get("outcome") else None,
        follow_ups=json.loads(fields.get("follow_ups") or "{}"),
        error_cap=int(fields["error_cap"]) if fields.get("error_cap") else None,
    )


def format_duration(seconds: float | None, unknown: str = "") -> str:
    """A running time as `m:ss`, or `h:mm:ss` from an hour on; `unknown` when there is none."""
    if seconds is None:
        return unknown
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
