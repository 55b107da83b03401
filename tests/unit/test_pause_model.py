"""Pause, resume and fast track in the pure model: what each does to a record, and the running
time frozen while a job is paused or back in line after a pause."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tasks.jobs.model import (
    Event,
    InvalidTransition,
    Job,
    Person,
    Status,
    apply,
    from_fields,
    to_fields,
)

T0 = 1_700_000_000.0


def running_job() -> Job:
    job = Job("0123456789abcdef", "import_users", "Import", Person(7, "Ada"), created_at=T0)
    return replace(apply(job, Event.START, at=T0 + 10), total=100, done=40, checkpoint=40)


def test_pause_asks_then_the_worker_confirms_at_a_boundary() -> None:
    pausing = apply(running_job(), Event.PAUSE, at=T0 + 20)
    assert pausing.status is Status.PAUSING and pausing.paused_at is None
    paused = apply(pausing, Event.CONFIRM_PAUSE, at=T0 + 21)
    assert paused.status is Status.PAUSED
    assert paused.paused_at == T0 + 21
    assert not paused.is_final and paused.finished_at is None


def test_running_time_is_frozen_while_paused_and_back_in_line() -> None:
    paused = apply(apply(running_job(), Event.PAUSE, at=T0 + 20), Event.CONFIRM_PAUSE, T0 + 21)
    assert paused.running_time(at=T0 + 500) == 11
    queued = apply(paused, Event.RESUME, at=T0 + 600)
    assert queued.status is Status.QUEUED
    assert queued.running_time(at=T0 + 700) == 11


def test_a_resumed_job_that_starts_again_keeps_its_first_start_and_not_the_pause() -> None:
    paused = apply(apply(running_job(), Event.PAUSE, at=T0 + 20), Event.CONFIRM_PAUSE, T0 + 21)
    again = apply(apply(paused, Event.RESUME, at=T0 + 600), Event.START, at=T0 + 1021)
    assert again.status is Status.RUNNING
    assert again.started_at == T0 + 10
    assert again.paused_at is None and again.paused_s == 1000
    assert again.running_time(at=T0 + 1031) == 21
    ended = apply(again, Event.COMPLETE, at=T0 + 1041)
    assert ended.running_time(at=T0 + 9999) == 31


def test_a_paused_job_can_be_aborted_and_keeps_its_frozen_running_time() -> None:
    paused = apply(apply(running_job(), Event.PAUSE, at=T0 + 20), Event.CONFIRM_PAUSE, T0 + 21)
    aborted = apply(paused, Event.ABORT, at=T0 + 900)
    assert aborted.status is Status.ABORTED and aborted.is_final
    assert aborted.running_time(at=T0 + 9999) == 11


def test_a_pausing_job_may_still_complete_fail_or_be_aborted() -> None:
    pausing = apply(running_job(), Event.PAUSE, at=T0 + 20)
    assert apply(pausing, Event.COMPLETE, at=T0 + 30).status is Status.COMPLETED
    assert apply(pausing, Event.FAIL, at=T0 + 30).status is Status.FAILED
    assert apply(pausing, Event.ABORT, at=T0 + 30).status is Status.ABORTING


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (Status.QUEUED, Event.PAUSE),
        (Status.COMPLETED, Event.PAUSE),
        (Status.PAUSED, Event.PAUSE),
        (Status.RUNNING, Event.RESUME),
        (Status.PAUSING, Event.RESUME),
        (Status.QUEUED, Event.RESUME),
        (Status.RUNNING, Event.FAST_TRACK),
        (Status.PAUSED, Event.FAST_TRACK),
        (Status.PAUSED, Event.START),
    ],
)
def test_what_cannot_be_paused_resumed_or_fast_tracked_raises(status: Status, event: Event) -> None:
    with pytest.raises(InvalidTransition, match=f"{status.value} -> {event.value}"):
        apply(replace(running_job(), status=status), event, at=T0 + 30)


def test_fast_track_keeps_the_job_queued_and_says_when() -> None:
    job = Job("0123456789abcdef", "import_users", "Import", Person(7, "Ada"), created_at=T0)
    fast = apply(job, Event.FAST_TRACK, at=T0 + 5)
    assert fast.status is Status.QUEUED and fast.fast_tracked_at == T0 + 5
    assert fast.started_at is None


def test_pause_fields_survive_the_store_form() -> None:
    paused = apply(apply(running_job(), Event.PAUSE, at=T0 + 20), Event.CONFIRM_PAUSE, T0 + 21)
    again = apply(apply(paused, Event.RESUME, at=T0 + 600), Event.START, at=T0 + 1021)
    for job in (paused, again):
        assert from_fields(to_fields(job)) == job
    assert "paused_at" not in to_fields(again)
    assert to_fields(again)["paused_s"] == "1000.0"


def test_the_wallboard_has_a_word_and_an_icon_for_every_status() -> None:
    from server.views.wall import ICONS, WORDS

    assert set(WORDS) == set(ICONS) == {status.value for status in Status}
