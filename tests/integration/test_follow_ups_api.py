"""The JSON API's safe massive actions against a real worker, Redis and database: `mode=check` on
both launches, `POST /api/jobs/{id}/commit`, `/retry` (with or without a corrected file) and
`/revert`, each 202 with the new job and its `source_id`, in the audit; and every bad request
a clear 4xx that changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from server.api import schema
from tasks.data.db import enrollments, users
from tasks.jobs.store import JobStore
from tests.support.jobs import new_job

STAFF = b"email,name,role,courses\nann@example.org,Ann,user,CS101\nbob@example.org,,user,\n"


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(enrollments)).scalar_one(),
        )


def launched(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    assert schema.Job.model_validate(data).model_dump(mode="json") == data
    return data


@pytest.fixture
def import_job(client, headers, drain) -> Callable[..., dict[str, Any]]:  # type: ignore[no-untyped-def]
    def run(who: str = "super", data: bytes = STAFF, **fields: str) -> dict[str, Any]:
        response = client.post(
            "/api/imports/users", files={"file": ("staff.csv", data, "text/csv")},
            data=fields, headers=headers[who],
        )  # fmt: skip
        job = launched(response)
        drain()
        ended: dict[str, Any] = client.get(f"/api/jobs/{job['id']}", headers=headers[who]).json()
        return ended

    return run


def test_a_check_then_its_commit(client, headers, engine, catalogue, import_job, drain, store):  # type: ignore[no-untyped-def]
    before = counts(engine)
    check = import_job(mode="check")
    assert (check["mode"], check["status"], check["source_id"]) == ("check", "completed", None)
    assert check["outcome"] == {"create": 1, "update": 0, "unchanged": 0, "error": 1}
    assert counts(engine) == before

    run = launched(client.post(f"/api/jobs/{check['id']}/commit", headers=headers["super"]))
    assert (run["mode"], run["source_id"], run["kind"]) == ("run", check["id"], "import_users")
    again = client.post(f"/api/jobs/{check['id']}/commit", headers=headers["super"])
    assert again.status_code == 409 and f"job {run['id']}" in again.json()["error"]
    drain()
    assert counts(engine) == (before[0] + 1, before[1] + 1)
    source = client.get(f"/api/jobs/{check['id']}", headers=headers["super"]).json()
    assert source["follow_ups"] == {"commit": run["id"]}
    assert [e["action"] for e in source["audit"]] == ["launched", "commit"]


def test_enrollment_json_and_multipart_take_mode_check(  # type: ignore[no-untyped-def]
    client, headers, engine, catalogue, people, drain
):
    body = {"emails": [people["plain"].email], "courses": ["CS101"], "mode": "check"}
    job = launched(client.post("/api/enrollments", json=body, headers=headers["super"]))
    assert job["mode"] == "check" and job["description"].startswith("Check: ")
    files = {"file": ("e.csv", f"email,course\n{people['plain'].email},NOPE\n", "text/csv")}
    other = client.post(
        "/api/enrollments", files=files, data={"mode": "check"}, headers=headers["super"]
    )
    assert launched(other)["mode"] == "check"
    drain()
    ended = client.get(f"/api/jobs/{job['id']}", headers=headers["super"]).json()
    assert ended["outcome"] == {"create": 1, "update": 0, "unchanged": 0, "error": 0}
    assert counts(engine)[1] == 0
    bad = client.post("/api/enrollments", json={**body, "mode": "dry"}, headers=headers["super"])
    assert bad.status_code == 400 and "mode must be 'run' or 'check'" in bad.json()["error"]


def test_retry_and_revert_through_the_api(client, headers, engine, catalogue, import_job, drain):  # type: ignore[no-untyped-def]
    job = import_job()
    assert job["error_count"] == 1
    fixed = b"email,name\nbob@example.org,Bob\n"
    retry = launched(
        client.post(
            f"/api/jobs/{job['id']}/retry",
            files={"file": ("fixed.csv", fixed, "text/csv")},
            headers=headers["super"],
        )
    )
    assert retry["source_id"] == job["id"] and retry["total"] == 1
    drain()
    assert counts(engine)[0] == 4 + 2
    undo = launched(client.post(f"/api/jobs/{job['id']}/revert", headers=headers["super"]))
    drain()
    ended = client.get(f"/api/jobs/{undo['id']}", headers=headers["super"]).json()
    assert ended["outcome"] == {"reverted": 1, "kept": 0, "error": 0}
    assert counts(engine) == (4 + 1, 0)  # bob, whom the retry created, stays


def test_bad_requests_are_clear_4xx_and_change_nothing(  # type: ignore[no-untyped-def]
    client, headers, engine, catalogue, import_job, store: JobStore, people
) -> None:
    clean = import_job(data=b"email,name\ncat@example.org,Cat\n")
    job = import_job()
    check = import_job(mode="check")
    before = counts(engine), store.get(job["id"]).follow_ups

    def refused(path: str, status: int, words: str, who: str = "super", **kw: Any) -> None:
        response = client.post(path, headers=headers[who], **kw)
        assert response.status_code == status, response.text
        assert words in response.json()["error"]

    refused(f"/api/jobs/{clean['id']}/retry", 409, "no failed rows to retry")
    refused(f"/api/jobs/{check['id']}/retry", 409, "Only an import or an enrollment")
    refused(f"/api/jobs/{job['id']}/commit", 409, "Only a check can be started")
    refused(f"/api/jobs/{check['id']}/revert", 409, "A check wrote nothing")
    wrong = {"file": ("w.csv", b"email,name\nann@example.org,Ann Again\n", "text/csv")}
    refused(f"/api/jobs/{job['id']}/retry", 422, "line 2 ('ann@example.org') did not fail",
            files=wrong)  # fmt: skip
    for verb in ("commit", "retry", "revert"):  # another's job: as if it were not there
        refused(f"/api/jobs/{job['id']}/{verb}", 404, "There is no job", who="power")
        refused(f"/api/jobs/{'0' * 16}/{verb}", 404, "There is no job")
    no_origin = {"cookie": headers["super"]["cookie"]}
    assert client.post(f"/api/jobs/{job['id']}/revert", headers=no_origin).status_code == 403
    assert (counts(engine), store.get(job["id"]).follow_ups) == before

    running = new_job(store, people["super"])
    refused(f"/api/jobs/{running.id}/revert", 409, "only once it has ended")
    first = launched(client.post(f"/api/jobs/{job['id']}/revert", headers=headers["super"]))
    refused(f"/api/jobs/{job['id']}/revert", 409, f"already reverted by job {first['id']}")
    refused(f"/api/jobs/{first['id']}/revert", 409, "A revert cannot be reverted")


def test_a_power_user_acts_on_their_own_jobs(client, headers, engine, catalogue, import_job):  # type: ignore[no-untyped-def]
    check = import_job(who="power", mode="check")
    run = launched(client.post(f"/api/jobs/{check['id']}/commit", headers=headers["power"]))
    assert run["owner"]["name"] == "Pat Power"


def test_a_removed_job_takes_its_journal_and_a_sign_in_is_recorded(  # type: ignore[no-untyped-def]
    client, headers, engine, catalogue, import_job, people
) -> None:
    from tasks.data.db import journal

    job = import_job()
    with engine.connect() as conn:
        signed_in = sa.select(users.c.signed_in_at).where(users.c.email == people["super"].email)
        assert conn.execute(signed_in).scalar_one() is not None  # (`headers` signed in)
        entries = sa.select(sa.func.count()).where(journal.c.job_id == job["id"])
        assert conn.execute(entries).scalar_one() == 2  # created, failed: one row each
    assert client.delete(f"/api/jobs/{job['id']}", headers=headers["super"]).status_code == 204
    with engine.connect() as conn:
        assert conn.execute(entries).scalar_one() == 0


def test_a_follow_up_past_the_owners_limit_is_refused_and_creates_nothing(  # type: ignore[no-untyped-def]
    client, headers, people, engine, catalogue, import_job, store
):
    check = import_job("power", mode="check")
    for _ in range(10):  # MAX_ACTIVE_JOBS_PER_USER as shipped; queued in the store only
        new_job(store, people["power"])
    jobs_before = store.redis.zcard(store.key("jobs"))
    for verb in ("commit", "retry", "revert"):
        refused = client.post(f"/api/jobs/{check['id']}/{verb}", headers=headers["power"])
        assert refused.status_code in (409, 429), refused.text
    refused = client.post(f"/api/jobs/{check['id']}/commit", headers=headers["power"])
    assert refused.status_code == 429
    assert "You already have 10 jobs queued or running" in refused.json()["error"]
    assert store.redis.zcard(store.key("jobs")) == jobs_before
    source = client.get(f"/api/jobs/{check['id']}", headers=headers["power"]).json()
    assert source["follow_ups"] == {}, "the refusal released the claim"
