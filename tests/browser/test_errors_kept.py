"""In Chromium: a job that found more errors than its ledger keeps shows the exact count on its
badge, and its errors pop-up and its page say plainly how many were kept, of how many."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore

pytestmark = pytest.mark.browser

PASSWORD = "kept-password-1"
DESCRIPTION = "Import users from huge.csv (300 rows)"
SAID = "Only the first 20 errors are kept, of 300 found"


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def test_the_pop_up_and_the_job_page_say_how_many_errors_were_kept(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    # A cap of 20 (JOB_MAX_ERRORS) stands for the default 10,000: the worker's store keeps
    # the ledger, the web's only reads it.
    capped = JobStore(store.redis, store.retention_s, store.prefix, max_errors=20)
    owner = Person(sue.id, sue.name)
    job = capped.create(Job(new_job_id(), "import_users", DESCRIPTION, owner, time.time()))
    capped.transition(job.id, Event.START, at=time.time())
    at = time.time()
    capped.flush(job.id, {}, [JobError(n, f"line {n + 2}", "email is empty", at, 1)
                              for n in range(300)])  # fmt: skip
    capped.transition(job.id, Event.COMPLETE, at=time.time())

    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    expect(page.locator("#connection")).to_have_text("Live")
    row = page.get_by_role("article", name=DESCRIPTION, exact=True)
    row.get_by_role("button", name="300 errors: show details").click()
    dialog = page.get_by_role("dialog", name=f"Errors in “{DESCRIPTION}”")
    expect(dialog.get_by_text("300 errors; showing 1 to 20.")).to_be_visible()
    expect(dialog.get_by_text(SAID)).to_be_visible()
    expect(dialog.get_by_role("button", name="Next errors")).to_have_count(0)

    page.goto(live_server.url(f"/admin/background-jobs/{job.id}"))
    errors = page.get_by_role("region", name="Errors")
    expect(errors.get_by_text(SAID)).to_be_visible()
    expect(errors.get_by_role("table", name="Errors").get_by_role("row")).to_have_count(1 + 20)
