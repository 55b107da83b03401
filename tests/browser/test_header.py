"""The header of every admin page, live: my running jobs, my recent jobs, my notices; and the
Background Jobs page announcing the end of a job to screen readers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore

PASSWORD = "header-password-1"

pytestmark = pytest.mark.browser


@pytest.fixture
def pat(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)


def running_job(store: JobStore, owner: User, description: str) -> Job:
    job = Job(
        id=new_job_id(),
        kind="import_users",
        description=description,
        owner=Person(owner.id, owner.name),
        created_at=time.time(),
        total=100,
    )
    store.create(job)
    return store.transition(job.id, Event.START, at=time.time())


def test_header_counts_lists_and_notifies_live(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], pat: User, store: JobStore
) -> None:
    sign_in(page, live_server.base_url, pat.email, PASSWORD)
    page.goto(live_server.url("/admin"))
    indicator = page.get_by_role("button", name="My jobs")
    expect(indicator).to_contain_text("0 running")
    job = running_job(store, pat, "Import users from header.csv (100 rows)")
    store.add_watcher(job.id, pat.id)
    expect(indicator).to_contain_text("1 running")
    indicator.click()
    popup = page.locator("#recent-jobs")
    expect(popup.get_by_text("Import users from header.csv (100 rows)")).to_be_visible()
    expect(popup.get_by_role("link", name="View All")).to_have_attribute(
        "href", "/admin/background-jobs"
    )
    store.flush(job.id, {"done": "40"})
    expect(popup.get_by_role("progressbar")).to_have_attribute("value", "40")
    store.transition(job.id, Event.COMPLETE, at=time.time())
    expect(indicator).to_contain_text("0 running")
    notice = page.get_by_role("region", name="Notices").get_by_role("paragraph")
    expect(notice).to_contain_text("“Import users from header.csv (100 rows)” completed")
    # The notices are not a live region: the page's one announcer says the end, once.
    expect(page.locator("#announcer p")).to_have_text(
        ["Pat Power’s job “Import users from header.csv (100 rows)” completed."]
    )
    notice.get_by_role("button", name=re.compile("^Dismiss the notice")).click()
    expect(notice).to_have_count(0)


def test_the_end_of_a_job_is_announced_not_every_percent(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], pat: User, store: JobStore
) -> None:
    job = running_job(store, pat, "Import users from spoken.csv (100 rows)")
    sign_in(page, live_server.base_url, pat.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    expect(page.locator("#connection")).to_have_text("Live")
    announcer = page.locator("#announcer")
    store.flush(job.id, {"done": "50"})
    bar = page.get_by_role("progressbar", name="Progress of Import users from spoken.csv")
    expect(bar).to_have_attribute("aria-valuenow", "50")
    expect(announcer).to_have_text("")
    store.transition(job.id, Event.COMPLETE, at=time.time())
    said = "Import users from spoken.csv (100 rows), by Pat Power: Completed"
    expect(announcer).to_have_text(said)
    expect(announcer).to_have_attribute("aria-live", "polite")
