"""The events published on Redis pub/sub: their JSON form, pure encode and decode.

Every event carries schema version `v`. A `job` event carries the job's whole current record
(small), never a delta, so any later event repairs a missed one; its `seq` grows by one per
change of that job. The format is documented in docs/events.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tasks.jobs.model import Job, from_fields

VERSION = 1


class BadEvent(ValueError):
    """A message on the channel that is not a jobdeck event of a known version."""


@dataclass(frozen=True)
class JobChanged:
    job: Job
    # When the publisher sent it (its clock), for the publish-to-send lag; None from old writers.
    published_at: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class JobRemoved:
    job_id: str
    owner_id: int


def encode_job(fields: dict[str, str], published_at: float | None = None) -> str:
    data: dict[str, object] = {"v": VERSION, "type": "job", "job": fields}
    if published_at is not None:
        data["at"] = published_at
    return json.dumps(data, separators=(",", ":"))


def encode_removed(job_id: str, owner_id: int) -> str:
    return json.dumps(
        {"v": VERSION, "type": "removed", "job_id": job_id, "owner_id": owner_id},
        separators=(",", ":"),
    )


def decode(raw: str | bytes) -> JobChanged | JobRemoved:
    try:
        data = json.loads(raw)
        if data.get("v") != VERSION:
            raise BadEvent(f"expected event version {VERSION}, got {data.get('v')!r}")
        if data["type"] == "job":
            at = data.get("at")
            return JobChanged(from_fields(data["job"]), float(at) if at is not None else None)
        if data["type"] == "removed":
            return JobRemoved(str(data["job_id"]), int(data["owner_id"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadEvent(f"malformed event: {exc}") from exc
    raise BadEvent(f"unknown event type {data['type']!r}")
