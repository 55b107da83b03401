"""The answers the API builds as plain dicts (a page of 200 jobs is a hot path) are exactly what
their pydantic models in server/api/schema.py declare, field for field, in every job state: the
OpenAPI document is generated from those models, so it cannot drift from the answers."""

from __future__ import annotations

import time

from server.api import schema
from server.api.jobs import job_json
from tasks.jobs.model import Event, Person
from tasks.jobs.records import JobError
from tests.support.jobs import new_job


def jobs_in_every_state(store, owner):  # type: ignore[no-untyped-def]
    queued = new_job(store, owner, total=None)
    running = new_job(store, owner)
    store.transition(running.id, Event.START, at=time.time())
    store.flush(running.id, {"done": "4"}, [JobError(3, "line 4", "bad row", time.time())])
    failed = new_job(store, owner)
    store.transition(failed.id, Event.START, at=time.time())
    store.transition(failed.id, Event.FAIL, at=time.time(), message="The file ended early.")
    aborted = new_job(store, owner)
    store.transition(
        aborted.id, Event.ABORT, at=time.time(), aborted_by=Person(owner.id, owner.name)
    )
    return [queued, running, failed, aborted]


def test_job_json_is_the_job_model_in_every_state(store, runtime, people) -> None:  # type: ignore[no-untyped-def]
    for job in jobs_in_every_state(store, people["super"]):
        data = job_json(store.get(job.id), runtime, time.time())
        # extra="forbid": a field the builder adds but the model lacks fails too.
        assert schema.Job.model_validate(data).model_dump(mode="json") == data


def test_every_answer_of_the_api_is_its_model(client, headers, store, people) -> None:  # type: ignore[no-untyped-def]
    h = headers["super"]
    jobs = jobs_in_every_state(store, people["super"])
    page = client.get("/api/jobs?limit=200", headers=h).json()
    assert schema.JobPage.model_validate(page).model_dump(mode="json") == page
    for job in jobs:
        detail = client.get(f"/api/jobs/{job.id}", headers=h).json()
        assert schema.JobDetail.model_validate(detail).model_dump(mode="json") == detail
    errors = client.get(f"/api/jobs/{jobs[1].id}/errors", headers=h).json()
    assert errors["errors"], errors
    assert schema.ErrorPage.model_validate(errors).model_dump(mode="json") == errors
    watched = client.post(f"/api/jobs/{jobs[1].id}/notify", headers=h).json()
    assert schema.WatchedJob.model_validate(watched).model_dump(mode="json") == watched
    refused = client.get("/api/jobs?limit=0", headers=h)
    assert refused.status_code == 400
    assert schema.Refusal.model_validate(refused.json()).error == refused.json()["error"]


def test_job_json_of_a_check_and_its_follow_ups_is_the_job_model(store, runtime, people) -> None:  # type: ignore[no-untyped-def]
    from tasks.jobs.follow_ups import claim_follow_up

    check = new_job(store, people["super"], params={"mode": "check"}, source_id="0" * 16)
    store.flush(check.id, {"outcome": '{"create":3,"update":1,"unchanged":0,"error":2}'})
    claim_follow_up(store, check.id, "commit", "1" * 16)
    data = job_json(store.get(check.id), runtime, time.time())
    links = (data["mode"], data["source_id"], data["follow_ups"])
    assert links == ("check", "0" * 16, {"commit": "1" * 16})
    assert data["outcome"] == {"create": 3, "update": 1, "unchanged": 0, "error": 2}
    assert schema.Job.model_validate(data).model_dump(mode="json") == data
