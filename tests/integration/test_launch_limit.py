"""One person may have at most MAX_ACTIVE_JOBS_PER_USER (10) jobs queued or running: the next
launch, by the API (upload or JSON) or by a form, is a 429 that says so and creates nothing
(no job, no stored input); other people are not held up, and a job that ends makes room.
Launches at once cannot overshoot the limit."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from tasks.data.db import uploads
from tasks.data.users import User
from tasks.jobs.model import Person
from tasks.jobs.records import TooManyActiveJobs
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tasks.settings import Settings

STAFF = b"email,name\nann@example.com,Ann\nbob@example.com,Bob\n"
SAID = "You already have 10 jobs queued or running, the most one person may have at once"
SignIn = Callable[[str, str], tuple[User, dict[str, str]]]


def stored(engine: Engine, store: JobStore) -> tuple[int, int]:
    """How many jobs and stored inputs there are."""
    with engine.connect() as conn:
        inputs = conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one()
    return store.redis.zcard(store.key("jobs")), inputs


def upload(client: TestClient, headers: dict[str, str], path: str = "/api/imports/users"):  # type: ignore[no-untyped-def]
    files = {"file": ("staff.csv", STAFF, "text/csv")}
    return client.post(path, files=files, headers=headers, follow_redirects=False)


def test_the_default_limit_is_ten(settings: Settings) -> None:
    assert settings.max_active_jobs_per_user == 10  # as shipped


def test_a_launch_past_the_limit_is_refused_and_creates_nothing(
    client: TestClient, signed_in: SignIn, store: JobStore, engine: Engine
) -> None:
    _, pat = signed_in("power_user", "pat@example.com")
    _, sue = signed_in("superadmin", "sue@example.com")
    launched = [upload(client, pat) for _ in range(10)]  # no worker: they stay queued
    assert [r.status_code for r in launched] == [202] * 10
    before = stored(engine, store)

    refused = upload(client, pat)
    assert refused.status_code == 429
    assert SAID in refused.json()["error"]
    pairs = {"emails": ["ann@example.com"], "courses": ["CS101"]}
    as_json = client.post("/api/enrollments", json=pairs, headers=pat)
    assert as_json.status_code == 429 and SAID in as_json.json()["error"]
    form = upload(client, pat, "/admin/imports/users")
    assert form.status_code == 429
    assert SAID in form.text and 'name="file"' in form.text  # the form again, saying why
    assert stored(engine, store) == before

    assert upload(client, sue).status_code == 202, "somebody else is not held up"

    aborted = client.post(f"/api/jobs/{launched[0].json()['id']}/abort", headers=pat)
    assert aborted.status_code == 200  # it was queued: aborted at once, so it has ended
    assert upload(client, pat).status_code == 202, "an ended job makes room"
    assert upload(client, pat).status_code == 429


def test_launches_at_once_cannot_overshoot_the_limit(
    runtime: Runtime, store: JobStore, engine: Engine
) -> None:
    pat = Person(41, "Pat Power")

    def launch(_: int) -> str:
        try:
            launch_import(runtime, pat, "power_user", "staff.csv", [STAFF])
        except TooManyActiveJobs:
            return "refused"
        return "launched"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(launch, range(24)))
    assert outcomes.count("launched") == 10
    assert store.active_count(pat.id, 100) == 10
    assert stored(engine, store) == (10, 10)
