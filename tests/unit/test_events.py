"""Events on the channel: encode and decode round trip, and what is refused as a BadEvent."""

from __future__ import annotations

import json

import pytest

from tasks.jobs.events import (
    VERSION,
    BadEvent,
    JobChanged,
    JobRemoved,
    decode,
    encode_job,
    encode_removed,
)
from tasks.jobs.model import Job, Person, Status, to_fields

JOB = Job(
    id="0123456789abcdef",
    kind="import_users",
    description='Import users from "staff" <2026>.csv',
    owner=Person(7, "Zoë"),
    created_at=1_700_000_000.5,
    status=Status.RUNNING,
    params={"file": "staff.csv"},
    total=100,
    done=40,
    error_count=2,
    started_at=1_700_000_001.0,
    heartbeat_at=1_700_000_002.0,
    seq=5,
)


def test_job_event_round_trips_the_whole_snapshot() -> None:
    raw = encode_job(to_fields(JOB))
    assert decode(raw) == JobChanged(JOB)
    assert decode(raw.encode()) == JobChanged(JOB), "bytes from Redis decode too"


def test_job_event_carries_version_type_and_seq() -> None:
    data = json.loads(encode_job(to_fields(JOB)))
    assert data["v"] == VERSION == 1
    assert data["type"] == "job"
    assert data["job"]["seq"] == "5"


def test_removed_event_round_trips() -> None:
    raw = encode_removed("0123456789abcdef", 7)
    assert json.loads(raw) == {
        "v": 1,
        "type": "removed",
        "job_id": "0123456789abcdef",
        "owner_id": 7,
    }
    assert decode(raw) == JobRemoved("0123456789abcdef", 7)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_wrong_version_is_a_bad_event_naming_it(version: object) -> None:
    data = json.loads(encode_removed("0123456789abcdef", 7))
    data["v"] = version
    with pytest.raises(BadEvent, match=f"expected event version 1, got {version!r}"):
        decode(json.dumps(data))


def test_missing_version_is_a_bad_event() -> None:
    with pytest.raises(BadEvent, match="expected event version 1, got None"):
        decode('{"type": "removed", "job_id": "x", "owner_id": 1}')


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "{",
        "not json",
        b"\xff\xfe",
        "null",
        "[]",
        '"job"',
        '{"v": 1}',
        '{"v": 1, "type": "job"}',
        '{"v": 1, "type": "job", "job": {"id": "x"}}',
        '{"v": 1, "type": "job", "job": "x"}',
        '{"v": 1, "type": "removed", "job_id": "x"}',
        '{"v": 1, "type": "removed", "job_id": "x", "owner_id": "seven"}',
    ],
)
def test_malformed_event_is_a_bad_event(raw: str | bytes) -> None:
    with pytest.raises(BadEvent):
        decode(raw)


def test_unknown_type_is_a_bad_event_naming_it() -> None:
    with pytest.raises(BadEvent, match="unknown event type 'progress'"):
        decode('{"v": 1, "type": "progress", "job_id": "x"}')


def test_bad_event_is_a_value_error() -> None:
    assert issubclass(BadEvent, ValueError)


def test_job_event_carries_its_publish_time_when_given() -> None:
    raw = encode_job(to_fields(JOB), published_at=1_700_000_003.25)
    assert json.loads(raw)["at"] == 1_700_000_003.25
    assert decode(raw).published_at == 1_700_000_003.25  # type: ignore[union-attr]
    assert decode(encode_job(to_fields(JOB))).published_at is None  # type: ignore[union-attr]
