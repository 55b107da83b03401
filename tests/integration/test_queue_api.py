"""Steering the line through the JSON API: fast track, pause and resume, who may, and the
place in line and start estimate in every job's JSON. A refusal is a clear 4xx that changes
nothing: not the record, not its audit, not the line."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tasks.jobs.model import Event, Job, Person
from tasks.jobs.store import JobStore
from tasks.runtime import Runtime
from tests.support.jobs import new_job


def queued(runtime: Runtime, owner: Any, at: float | None = None) -> Job:
    job = new_job(runtime.store, owner, created_at=at or time.time())
    runtime.line.join(job.id, job.created_at)
    return job


def running(runtime: Runtime, owner: Any, done: int = 0, since_s: float = 10) -> Job:
    """A job that has done `done` of its 10 items in `since_s` seconds."""
    job = new_job(runtime.store, owner)
    runtime.store.transition(job.id, Event.START, at=time.time() - since_s)
    runtime.store.flush(job.id, {"done": str(done), "checkpoint": str(done)})
    return runtime.store.get(job.id)


def one_live_worker(runtime: Runtime, threads: int = 1) -> None:
    """A worker's beat and thread count, as a booted worker writes them (beacon.py, line.py)."""
    runtime.store.redis.zadd(runtime.store.key("workers"), {"w1": time.time() + 60})
    runtime.line.announce_threads("w1", threads)


def everything_about(runtime: Runtime, job: Job) -> tuple[object, ...]:
    store: JobStore = runtime.store
    line = store.redis.zrange(runtime.line.key, 0, -1, withscores=True)
    return store.get(job.id), store.audit(job.id), line, turns_queued(runtime)


def turns_queued(runtime: Runtime) -> int:
    return int(runtime.store.redis.llen("jobdeck-dramatiq:jobs"))


def post(client: Any, job: Job, verb: str, headers: dict[str, str]) -> Any:
    return client.post(f"/api/jobs/{job.id}/{verb}", headers=headers)


# -- fast track ------------------------------------------------------------------------------


def test_a_superadmin_fast_tracks_a_queued_job_to_first_in_line_and_it_is_audited(  # type: ignore[no-untyped-def]
    client, headers, people, runtime
) -> None:
    one_live_worker(runtime)
    running(runtime, people["power"], done=5)
    a, b = queued(runtime, people["power"]), queued(runtime, people["power"])
    response = post(client, b, "fast-track", headers["super"])
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["status"] == "queued" and data["fast_tracked_at"] is not None
    assert data["queue_position"] == 1
    assert [e.action for e in runtime.store.audit(b.id)] == ["fast-tracked"]
    assert runtime.store.audit(b.id)[0].by == Person(people["super"].id, "Sue Super")
    listed = client.get("/api/jobs?scope=all", headers=headers["super"]).json()["jobs"]
    assert {j["id"]: j["queue_position"] for j in listed if j["status"] == "queued"} == {
        b.id: 1,
        a.id: 2,
    }


@pytest.mark.parametrize(
    ("who", "begun", "code", "says"),
    [
        ("power", False, 403, "Only a Superadmin may fast-track"),
        ("super", True, 409, "Only a queued job can be fast-tracked: this one is running"),
        ("super2", "ended", 409, "this one is completed"),
    ],
    ids=["power-user", "running", "ended"],
)
def test_a_refused_fast_track_says_why_and_changes_nothing(  # type: ignore[no-untyped-def]
    client, headers, people, runtime, who, begun, code, says
) -> None:
    job = queued(runtime, people["power"])
    if begun:
        runtime.store.transition(job.id, Event.START, at=time.time())
    if begun == "ended":
        runtime.store.transition(job.id, Event.COMPLETE, at=time.time())
    before = everything_about(runtime, job)
    response = post(client, job, "fast-track", headers[who])
    assert response.status_code == code
    assert says in response.json()["error"]
    assert everything_about(runtime, job) == before


def test_a_power_user_cannot_even_see_another_owners_job_to_fast_track_it(  # type: ignore[no-untyped-def]
    client, headers, people, runtime
) -> None:
    job = queued(runtime, people["super"])
    before = everything_about(runtime, job)
    for verb in ("fast-track", "pause", "resume"):
        assert post(client, job, verb, headers["power"]).status_code == 404
    assert everything_about(runtime, job) == before


# -- pause and resume ------------------------------------------------------------------------


def test_the_owner_pauses_a_running_job_and_resumes_it_back_into_line(  # type: ignore[no-untyped-def]
    client, headers, people, runtime
) -> None:
    job = running(runtime, people["power"], done=4)
    response = post(client, job, "pause", headers["power"])
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pausing"
    runtime.store.transition(job.id, Event.CONFIRM_PAUSE, at=time.time())  # as its worker does

    turns = turns_queued(runtime)
    response = post(client, job, "resume", headers["power"])
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["status"] == "queued" and data["done"] == 4 and data["paused_at"] is not None
    assert runtime.store.redis.zscore(runtime.line.key, job.id) is not None
    assert turns_queued(runtime) == turns + 1
    assert [e.action for e in runtime.store.audit(job.id)] == ["paused", "resumed"]


def test_a_superadmin_may_pause_someone_elses_job(client, headers, people, runtime) -> None:  # type: ignore[no-untyped-def]
    job = running(runtime, people["power"])
    assert post(client, job, "pause", headers["super"]).status_code == 202


@pytest.mark.parametrize(
    ("verb", "state", "says"),
    [
        ("pause", "completed", "Only a running job can be paused: this one is completed"),
        ("pause", "queued", "Only a running job can be paused: this one is queued"),
        ("resume", "running", "Only a paused job can be resumed: this one is running"),
        ("resume", "queued", "Only a paused job can be resumed: this one is queued"),
        ("resume", "pausing", "Only a paused job can be resumed: this one is still pausing"),
    ],
)
def test_a_refused_pause_or_resume_says_why_and_changes_nothing(  # type: ignore[no-untyped-def]
    client, headers, people, runtime, verb, state, says
) -> None:
    job = queued(runtime, people["power"])
    events = {
        "running": [Event.START],
        "completed": [Event.START, Event.COMPLETE],
        "pausing": [Event.START, Event.PAUSE],
    }
    for event in events.get(state, []):
        runtime.store.transition(job.id, event, at=time.time())
    before = everything_about(runtime, job)
    response = post(client, job, verb, headers["power"])
    assert response.status_code == 409
    assert response.json()["error"] == says + "."
    assert everything_about(runtime, job) == before


def test_a_paused_job_can_be_aborted(client, headers, people, runtime) -> None:  # type: ignore[no-untyped-def]
    job = running(runtime, people["power"], done=3)
    for event in (Event.PAUSE, Event.CONFIRM_PAUSE):
        runtime.store.transition(job.id, event, at=time.time())
    response = post(client, job, "abort", headers["power"])
    assert response.status_code == 200
    assert response.json()["status"] == "aborted" and response.json()["done"] == 3


# -- places and estimates in the JSON --------------------------------------------------------


def test_queued_jobs_say_their_place_and_when_they_should_start(  # type: ignore[no-untyped-def]
    client, headers, people, runtime
) -> None:
    one_live_worker(runtime, threads=1)
    busy = running(runtime, people["power"], done=5, since_s=10)  # 0.5 items/s: 10 s left
    first, second = queued(runtime, people["power"]), queued(runtime, people["power"])
    at = time.time()
    jobs = {j["id"]: j for j in client.get("/api/jobs", headers=headers["super"]).json()["jobs"]}
    assert jobs[busy.id]["queue_position"] is None
    assert (jobs[first.id]["queue_position"], jobs[second.id]["queue_position"]) == (1, 2)
    starts = [time_of(jobs[j.id]["starts_at_estimate"]) for j in (first, second)]
    assert starts[0] == pytest.approx(at + 10, abs=3)
    assert starts[1] == pytest.approx(at + 30, abs=3)  # 10 items at 0.5 items/s after the first
    detail = client.get(f"/api/jobs/{second.id}", headers=headers["power"]).json()
    assert detail["queue_position"] == 2 and detail["waiting_reason"] is None


def test_the_estimate_is_null_while_no_rate_is_known(client, headers, people, runtime) -> None:  # type: ignore[no-untyped-def]
    one_live_worker(runtime, threads=1)
    running(runtime, people["power"], done=0)
    job = queued(runtime, people["power"])
    data = client.get(f"/api/jobs/{job.id}", headers=headers["power"]).json()
    assert data["queue_position"] == 1 and data["starts_at_estimate"] is None


def test_a_job_held_back_by_fair_share_says_why(client, headers, people, runtime) -> None:  # type: ignore[no-untyped-def]
    one_live_worker(runtime, threads=2)
    running(runtime, people["power"], done=5)
    running(runtime, people["power"], done=5)
    held = queued(runtime, people["power"])
    other = queued(runtime, people["super"])
    jobs = {j["id"]: j for j in client.get("/api/jobs", headers=headers["super"]).json()["jobs"]}
    assert jobs[held.id]["waiting_reason"] == "waiting: 2 of Pat Power's jobs are running"
    assert (jobs[other.id]["queue_position"], jobs[held.id]["queue_position"]) == (1, 2)
    assert jobs[other.id]["waiting_reason"] is None


def time_of(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_the_page_lists_a_paused_job_once_among_those_not_ended(  # type: ignore[no-untyped-def]
    client, headers, people, runtime
) -> None:
    job = running(runtime, people["power"], done=3)
    for event in (Event.PAUSE, Event.CONFIRM_PAUSE):
        runtime.store.transition(job.id, event, at=time.time())
    page = client.get("/admin/background-jobs", headers=headers["power"]).text
    assert page.count(f'<article id="j{job.id}"') == 1
    assert "Paused" in page
