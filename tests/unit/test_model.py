"""The job model: every transition of the state machine, and what is derived from a record."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from tasks.jobs.model import (
    FINAL,
    TRANSITIONS,
    Event,
    InvalidTransition,
    Job,
    Person,
    Status,
    apply,
    edges,
    from_fields,
    next_status,
    to_fields,
)

T0 = 1_700_000_000.0
OWNER = Person(7, "Ada Lovelace")


def make_job(**changes: object) -> Job:
    job = Job(
        id="0123456789abcdef",
        kind="import_users",
        description="Import users from staff-2026.csv (5,000 rows)",
        owner=OWNER,
        created_at=T0,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


ILLEGAL = [
    (status, event)
    for status, event in itertools.product(Status, Event)
    if (status, event) not in TRANSITIONS
]


# -- transitions ---------------------------------------------------------------------------


def test_transitions_follow_the_life_drawn_in_the_design() -> None:
    assert TRANSITIONS == {
        (Status.QUEUED, Event.START): Status.RUNNING,
        (Status.QUEUED, Event.ABORT): Status.ABORTED,
        (Status.RUNNING, Event.COMPLETE): Status.COMPLETED,
        (Status.RUNNING, Event.FAIL): Status.FAILED,
        (Status.RUNNING, Event.ABORT): Status.ABORTING,
        (Status.ABORTING, Event.CONFIRM_ABORT): Status.ABORTED,
        (Status.ABORTING, Event.FAIL): Status.FAILED,
        # the line and pauses (issue 17): tests/unit/test_pause_model.py
        (Status.QUEUED, Event.FAST_TRACK): Status.QUEUED,
        (Status.RUNNING, Event.PAUSE): Status.PAUSING,
        (Status.PAUSING, Event.CONFIRM_PAUSE): Status.PAUSED,
        (Status.PAUSING, Event.COMPLETE): Status.COMPLETED,
        (Status.PAUSING, Event.FAIL): Status.FAILED,
        (Status.PAUSING, Event.ABORT): Status.ABORTING,
        (Status.PAUSED, Event.RESUME): Status.QUEUED,
        (Status.PAUSED, Event.ABORT): Status.ABORTED,
    }


@pytest.mark.parametrize(("src", "event"), list(TRANSITIONS), ids=lambda v: str(v))
def test_legal_transition_sets_status_and_stamps(src: Status, event: Event) -> None:
    started = T0 + 5 if src is not Status.QUEUED else None
    job = make_job(status=src, started_at=started, heartbeat_at=started)
    at = T0 + 60

    after = apply(job, event, at)

    dst = TRANSITIONS[(src, event)]
    assert after.status is dst
    assert next_status(src, event) is dst
    if dst is Status.RUNNING:
        assert after.started_at == at
        assert after.heartbeat_at == at
    else:
        assert after.started_at == started
        assert after.heartbeat_at == started
    if dst in FINAL:
        assert after.finished_at == at
        assert after.is_final
    else:
        assert after.finished_at is None
        assert not after.is_final
    assert job.status is src, "apply returns a new job and leaves the old one alone"


@pytest.mark.parametrize(("status", "event"), ILLEGAL, ids=lambda v: str(v))
def test_illegal_transition_raises_naming_both_sides(status: Status, event: Event) -> None:
    job = make_job(status=status)

    with pytest.raises(InvalidTransition) as caught:
        apply(job, event, T0 + 1)

    assert str(caught.value) == f"{status.value} -> {event.value}"
    assert caught.value.status is status
    assert caught.value.event is event
    with pytest.raises(InvalidTransition):
        next_status(status, event)


def test_illegal_transition_message_reads_like_the_style_guide() -> None:
    with pytest.raises(InvalidTransition, match=r"^completed -> abort$"):
        apply(make_job(status=Status.COMPLETED), Event.ABORT, T0)


def test_every_final_status_allows_no_event() -> None:
    for status, event in itertools.product(FINAL, Event):
        assert (status, event) not in TRANSITIONS


def test_apply_carries_extra_changes() -> None:
    job = make_job(status=Status.RUNNING, started_at=T0)
    failed = apply(job, Event.FAIL, T0 + 3, message="disk full")
    assert failed.message == "disk full"

    aborter = Person(1, "Grace Hopper")
    aborting = apply(job, Event.ABORT, T0 + 4, aborted_by=aborter, aborted_at=T0 + 4)
    assert aborting.aborted_by == aborter
    assert aborting.aborted_at == T0 + 4
    assert aborting.finished_at is None


def test_edges_lists_every_pair_an_event_allows() -> None:
    assert edges(Event.ABORT) == {
        Status.QUEUED: Status.ABORTED,
        Status.RUNNING: Status.ABORTING,
        Status.PAUSING: Status.ABORTING,
        Status.PAUSED: Status.ABORTED,
    }
    fails = {Status.RUNNING: Status.FAILED, Status.ABORTING: Status.FAILED}
    assert edges(Event.FAIL) == {**fails, Status.PAUSING: Status.FAILED}
    assert edges(Event.START) == {Status.QUEUED: Status.RUNNING}
    completes = {Status.RUNNING: Status.COMPLETED, Status.PAUSING: Status.COMPLETED}
    assert edges(Event.COMPLETE) == completes
    assert edges(Event.CONFIRM_ABORT) == {Status.ABORTING: Status.ABORTED}
    union = {(src, ev): dst for ev in Event for src, dst in edges(ev).items()}
    assert union == TRANSITIONS


def test_status_is_final_only_for_ended_states() -> None:
    assert {s for s in Status if s.is_final} == {
        Status.COMPLETED,
        Status.FAILED,
        Status.ABORTED,
    }


# -- percent ---------------------------------------------------------------------------------


def test_percent_is_none_while_total_unknown() -> None:
    assert make_job(status=Status.RUNNING, done=40).percent is None


def test_percent_is_whole_and_rounded_down() -> None:
    assert make_job(total=3, done=1).percent == 33
    assert make_job(total=3, done=2).percent == 66
    assert make_job(total=200, done=199).percent == 99
    assert make_job(total=200, done=200).percent == 100


def test_percent_clamps_at_100() -> None:
    assert make_job(total=10, done=25).percent == 100


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.QUEUED, 0),
        (Status.RUNNING, 100),
        (Status.ABORTING, 0),
        (Status.COMPLETED, 100),
        (Status.FAILED, 100),
        (Status.ABORTED, 100),
    ],
)
def test_percent_with_zero_total(status: Status, expected: int) -> None:
    assert make_job(status=status, total=0).percent == expected


# -- running time, rate, eta ------------------------------------------------------------------


def test_running_time_is_none_while_queued() -> None:
    assert make_job().running_time(T0 + 100) is None


def test_running_time_grows_while_running() -> None:
    job = make_job(status=Status.RUNNING, started_at=T0 + 10)
    assert job.running_time(T0 + 10) == 0
    assert job.running_time(T0 + 70) == 60


def test_running_time_is_frozen_at_finished_at() -> None:
    job = make_job(status=Status.COMPLETED, started_at=T0 + 10, finished_at=T0 + 40)
    assert job.running_time(T0 + 40) == 30
    assert job.running_time(T0 + 10_000) == 30


def test_running_time_never_negative_with_a_skewed_clock() -> None:
    job = make_job(status=Status.RUNNING, started_at=T0 + 10)
    assert job.running_time(T0) == 0


def test_running_time_of_a_job_aborted_while_queued_is_none() -> None:
    job = apply(make_job(), Event.ABORT, T0 + 5)
    assert job.running_time(T0 + 50) is None


def test_rate_is_items_per_second_once_measurable() -> None:
    job = make_job(status=Status.RUNNING, started_at=T0, total=1000, done=0)
    assert job.rate(T0 + 10) is None, "nothing done yet"
    assert replace(job, done=100).rate(T0) is None, "no time elapsed yet"
    assert replace(job, done=100).rate(T0 + 10) == 10.0
    assert make_job(done=5).rate(T0 + 10) is None, "never started"


def test_eta_is_seconds_left_at_current_rate_while_running() -> None:
    job = make_job(status=Status.RUNNING, started_at=T0, total=1000, done=100)
    assert job.eta(T0 + 10) == 90.0
    assert replace(job, done=1000).eta(T0 + 10) == 0
    assert replace(job, done=1200).eta(T0 + 10) == 0, "never negative"


def test_eta_is_none_without_total_or_when_not_running() -> None:
    running = make_job(status=Status.RUNNING, started_at=T0, total=None, done=100)
    assert running.eta(T0 + 10) is None
    ended = replace(running, total=1000, status=Status.COMPLETED, finished_at=T0 + 10)
    assert ended.eta(T0 + 10) is None
    aborting = replace(running, total=1000, status=Status.ABORTING)
    assert aborting.eta(T0 + 10) is None


# -- stalled, expiry, visibility -----------------------------------------------------------


def test_is_stalled_when_heartbeat_older_than_threshold() -> None:
    job = make_job(status=Status.RUNNING, started_at=T0, heartbeat_at=T0 + 100)
    assert not job.is_stalled(T0 + 200, after_s=120)
    assert not job.is_stalled(T0 + 220, after_s=120), "exactly at the threshold is not late"
    assert job.is_stalled(T0 + 220.5, after_s=120)


def test_is_stalled_applies_to_aborting_jobs_too() -> None:
    job = make_job(status=Status.ABORTING, started_at=T0, heartbeat_at=T0)
    assert job.is_stalled(T0 + 121, after_s=120)


def test_is_stalled_falls_back_to_started_then_created() -> None:
    started = make_job(status=Status.RUNNING, started_at=T0 + 50)
    assert not started.is_stalled(T0 + 160, after_s=120)
    assert started.is_stalled(T0 + 171, after_s=120)
    no_times = make_job(status=Status.RUNNING)
    assert no_times.is_stalled(T0 + 121, after_s=120)


@pytest.mark.parametrize("status", [Status.QUEUED, *sorted(FINAL)])
def test_is_stalled_never_for_jobs_not_running(status: Status) -> None:
    job = make_job(status=status, started_at=T0, heartbeat_at=T0, finished_at=T0 + 1)
    assert not job.is_stalled(T0 + 10_000, after_s=120)


def test_expires_at_is_finish_plus_retention() -> None:
    assert make_job(status=Status.RUNNING, started_at=T0).expires_at(86400) is None
    ended = make_job(status=Status.COMPLETED, started_at=T0, finished_at=T0 + 60)
    assert ended.expires_at(30 * 86400) == T0 + 60 + 30 * 86400


def test_may_be_seen_by_owner_and_superadmins_only() -> None:
    job = make_job()
    assert job.may_be_seen_by(OWNER.id, is_superadmin=False)
    assert job.may_be_seen_by(99, is_superadmin=True)
    assert not job.may_be_seen_by(99, is_superadmin=False)


# -- the stored form ---------------------------------------------------------------------------


def test_fields_round_trip_a_full_record() -> None:
    job = make_job(
        status=Status.ABORTED,
        params={"file": "staff-2026.csv", "on_existing": "update", "n": [1, 2], "é": "ü"},
        total=5000,
        done=1234,
        error_count=17,
        checkpoint=1200,
        started_at=T0 + 1.25,
        finished_at=T0 + 99.125,
        heartbeat_at=T0 + 98.0000001,
        aborted_by=Person(3, "Grace Hopper"),
        aborted_at=T0 + 90.5,
        message="stopped by Grace",
        seq=42,
    )
    fields = to_fields(job)
    assert all(isinstance(v, str) for v in fields.values())
    assert fields["aborted_by_id"] == "3"
    assert fields["aborted_by_name"] == "Grace Hopper"
    assert from_fields(fields) == job


def test_fields_round_trip_a_fresh_queued_job() -> None:
    job = make_job()
    fields = to_fields(job)
    for absent in ("total", "started_at", "finished_at", "heartbeat_at", "aborted_at"):
        assert absent not in fields
    assert "aborted_by_id" not in fields
    assert fields["params"] == "{}"
    back = from_fields(fields)
    assert back == job
    assert back.total is None
    assert back.aborted_by is None


def test_fields_keep_a_zero_total_apart_from_an_unknown_one() -> None:
    assert from_fields(to_fields(make_job(total=0))).total == 0
    assert from_fields(to_fields(make_job(total=None))).total is None


def test_fields_keep_an_error_cap_of_zero_apart_from_none() -> None:
    assert from_fields(to_fields(make_job(error_cap=0))).error_cap == 0
    assert from_fields(to_fields(make_job(error_cap=2_500))).error_cap == 2_500
    assert "error_cap" not in to_fields(make_job())
    assert from_fields(to_fields(make_job())).error_cap is None


def test_fields_keep_float_times_exactly() -> None:
    job = make_job(created_at=1_700_000_000.123456789, started_at=0.1 + 0.2)
    assert from_fields(to_fields(job)) == job


def test_from_fields_rejects_a_damaged_record() -> None:
    fields = to_fields(make_job())
    del fields["owner_id"]
    with pytest.raises(KeyError):
        from_fields(fields)
    with pytest.raises(ValueError):
        from_fields({**to_fields(make_job()), "status": "exploded"})
