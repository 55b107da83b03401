"""One person's jobs keep at most OWNER_MAX_KEPT_ERRORS errors between them: a job that starts
gets what is left of its owner's budget (up to JOB_MAX_ERRORS) and counts the rest exactly;
another owner is not touched; deleting a job frees its share for the next one; a job resumed
after a crash or a pause keeps the cap it started with; and the pages, the CSV and the API say
why errors were not kept.

The jobs here run on real worker processes (`dramatiq tasks.worker`, as the Procfile starts
it), so that the budget is set as an operator sets it, in the worker's environment.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.auth.sessions import Viewer
from server.steering import pause_job, resume_job
from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person, Status
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import OWNER_MAX_KEPT, JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tasks.settings import ConfigError, Settings
from tests.faults.fault_kit import Workers, add_demo_courses, kill, users_csv

# A budget of 300 stands for the default 100,000 (ten full ledgers): imports of a few hundred
# bad rows then fill it in seconds, where the default would need a million rows.
BUDGET = {"OWNER_MAX_KEPT_ERRORS": "300"}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Worker processes for one test; every one still alive is SIGKILLed after it."""
    made = Workers(tmp_path)
    try:
        yield made
    finally:
        for process in made.started:
            kill(process)


@pytest.fixture
def grace(engine: Engine) -> Person:
    """A second Superadmin, whose jobs have a budget of their own."""
    with engine.begin() as conn:
        user = add_user(conn, "grace@example.com", "Grace Hopper", "superadmin")
    return Person(user.id, user.name)


def run_import(
    runtime: Runtime,
    owner: Person,
    rows: int,
    bad: int,
    prefix: str,
    wait_for_job: Callable[..., Job],
) -> Job:
    """Launch an import of `rows` rows, `bad` of them bad (one error each), and wait for it."""
    data = users_csv(rows, bad, seed=len(prefix), prefix=prefix)
    job = launch_import(runtime, owner, "superadmin", f"{prefix}.csv", [data])
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=120)
    assert ended.status is Status.COMPLETED, ended.message
    assert ended.error_count == bad, "every error is counted, kept or not"
    return ended


def test_a_job_keeps_what_its_owners_budget_has_left_and_deleting_one_frees_it(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    grace: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    workers.start(**BUDGET)

    first = run_import(runtime, superadmin, 1_000, 200, "first-", wait_for_job)
    assert (first.error_cap, store.error_count(first.id)) == (300, 200)

    second = run_import(runtime, superadmin, 1_000, 250, "second-", wait_for_job)
    assert second.error_cap == 100, "what the first job left of the 300"
    assert store.error_count(second.id) == 100

    others = run_import(runtime, grace, 1_000, 250, "grace-", wait_for_job)
    assert (others.error_cap, store.error_count(others.id)) == (300, 250), "her own budget"

    store.delete(first.id)  # its 200 kept errors go back to the budget
    third = run_import(runtime, superadmin, 1_000, 250, "third-", wait_for_job)
    assert third.error_cap == 200, "the 300 less the second job's 100"
    assert (third.error_count, store.error_count(third.id)) == (250, 200)


ROWS, BAD = 100_000, 500


@pytest.mark.slow
def test_a_crash_resumed_job_keeps_the_cap_it_started_with(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    earlier = kept_errors_job(store, superadmin, 200)
    data = users_csv(ROWS, BAD, seed=23, prefix="capped-")
    job = launch_import(runtime, superadmin, "superadmin", "capped.csv", [data])

    first = workers.start(**BUDGET)
    at_kill = wait_for_job(job.id, lambda j: j.done >= ROWS * 0.3, timeout_s=120)
    kill(first)
    assert at_kill.status is Status.RUNNING and at_kill.done <= ROWS * 0.6
    assert at_kill.error_cap == 100

    store.delete(earlier.id)  # were the cap counted again, it would now be 300
    workers.start(**BUDGET)
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)
    resumed = re.search(rf"job resumed job_id={job.id} ", workers.logs[-1].read_text())
    assert resumed is not None, "the second worker did not resume the job"

    assert ended.status is Status.COMPLETED, ended.message
    assert ended.error_cap == 100
    assert (ended.error_count, store.error_count(job.id)) == (BAD, 100)


@pytest.mark.slow
def test_a_job_resumed_after_a_pause_keeps_the_cap_it_started_with(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    wait_for_job: Callable[..., Job],
    workers: Workers,
) -> None:
    add_demo_courses(engine)
    with engine.begin() as conn:
        rosa = add_user(conn, "root@example.com", "Rosa Root", "superadmin")
    owner, viewer = Person(rosa.id, rosa.name), Viewer(rosa, session_id="quota-test")
    earlier = kept_errors_job(store, owner, 200)
    data = users_csv(ROWS, BAD, seed=29, prefix="paused-")
    job = launch_import(runtime, owner, "superadmin", "paused.csv", [data])
    workers.start(**BUDGET)
    wait_for_job(job.id, lambda j: j.done >= ROWS * 0.1, timeout_s=120)
    pause_job(runtime, viewer, job.id)
    paused = wait_for_job(job.id, lambda j: j.status is not Status.PAUSING, timeout_s=60)
    assert (paused.status, paused.error_cap) == (Status.PAUSED, 100)

    store.delete(earlier.id)  # were the cap counted again at the new start, it would be 300
    resume_job(runtime, viewer, job.id)
    ended = wait_for_job(job.id, lambda j: j.is_final, timeout_s=180)
    went_on = re.search(rf"job started job_id={job.id} .*from_item=", workers.log_text())
    assert went_on is not None, "the job did not start again after its pause"
    assert ended.status is Status.COMPLETED, ended.message
    assert ended.error_cap == 100
    assert (ended.error_count, store.error_count(job.id)) == (BAD, 100)


def kept_errors_job(store: JobStore, owner: Person, kept: int) -> Job:
    """An ended job of `owner` whose ledger keeps `kept` errors."""
    job = store.create(Job(new_job_id(), "import_users", "Import users", owner, time.time()))
    store.transition(job.id, Event.START, at=time.time())
    at = time.time()
    store.flush(job.id, {}, [JobError(n, f"line {n + 2}", "email is empty", at, 1)
                             for n in range(kept)])  # fmt: skip
    return store.transition(job.id, Event.COMPLETE, at=time.time())


def test_the_pages_the_csv_and_the_api_say_the_owners_budget_capped_the_ledger(
    store: JobStore,
    client: TestClient,
    signed_in: Callable[[str, str], tuple[User, dict[str, str]]],
) -> None:
    user, headers = signed_in("power_user", "pat@example.com")
    job = store.create(Job(new_job_id(), "import_users", "Import users",
                           Person(user.id, user.name), time.time()))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time(), error_cap=40)  # as a worker gives it
    at = time.time()
    store.flush(job.id, {}, [JobError(n, f"line {n + 2}", "email is empty", at, 1)
                             for n in range(250)])  # fmt: skip
    store.transition(job.id, Event.COMPLETE, at=time.time())
    said = (
        "Only the first 40 errors are kept, of 250 found: one person's jobs keep at most"
        " 100,000 errors between them (OWNER_MAX_KEPT_ERRORS), and its owner's other jobs held"
        " the rest when it started."
    )

    for path in ("", "/errors", "/errors-dialog"):
        page = client.get(f"/admin/background-jobs/{job.id}{path}", headers=headers)
        assert page.status_code == 200
        assert said in page.text, path
        assert "250 errors" in page.text, path
    csv = client.get(f"/api/jobs/{job.id}/errors.csv", headers=headers).text.splitlines()
    assert len(csv) == 1 + 40 + 1
    assert "only the first 40 errors are kept, of 250 found" in csv[-1]
    assert "OWNER_MAX_KEPT_ERRORS" in csv[-1]
    listed = client.get(f"/api/jobs/{job.id}/errors", headers=headers).json()
    assert (listed["count"], listed["kept"]) == (250, 40)


def test_a_job_given_nothing_of_the_budget_says_none_are_kept(
    store: JobStore,
    client: TestClient,
    signed_in: Callable[[str, str], tuple[User, dict[str, str]]],
) -> None:
    user, headers = signed_in("power_user", "pat@example.com")
    job = store.create(Job(new_job_id(), "import_users", "Import users",
                           Person(user.id, user.name), time.time()))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time(), error_cap=0)
    store.flush(job.id, {}, [JobError(n, f"line {n + 2}", "email is empty", time.time(), 1)
                             for n in range(30)])  # fmt: skip
    assert (store.get(job.id).error_count, store.error_count(job.id)) == (30, 0)
    page = client.get(f"/admin/background-jobs/{job.id}", headers=headers)
    assert "None of the errors are kept, of 30 found" in page.text
    assert "held them all when it started" in page.text


def test_the_budget_is_a_hundred_thousand_as_shipped(settings: Settings) -> None:
    assert "OWNER_MAX_KEPT_ERRORS" not in os.environ  # the session's settings are as shipped
    assert OWNER_MAX_KEPT == settings.owner_max_kept_errors == 100_000
    assert Runtime(settings).store.owner_max_kept == 100_000
    with pytest.raises(ConfigError, match="OWNER_MAX_KEPT_ERRORS"):
        Settings.from_environ({**os.environ, "OWNER_MAX_KEPT_ERRORS": "0"})
