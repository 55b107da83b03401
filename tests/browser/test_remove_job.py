"""Removing an ended job from the list in Chromium: the row's button asks first, in a dialog
styled like Abort's, and only a confirmed removal deletes the job (jobdeck.js acts for the row's
job; the row carries no URL); the focus then goes to a neighbour, or the page's heading."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import UnknownJob, new_job_id
from tasks.jobs.store import JobStore

PASSWORD = "remove-password-1"

pytestmark = pytest.mark.browser


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def test_remove_asks_first_and_deletes_only_when_confirmed(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    description = "Import users from old.csv (3 rows)"
    job = store.create(Job(new_job_id(), "import_users", description, Person(sue.id, sue.name),
                           time.time(), total=3))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time())
    store.transition(job.id, Event.COMPLETE, at=time.time())
    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    expect(page.locator("#connection")).to_have_text("Live")
    row = page.get_by_role("article", name=description, exact=True)
    remove = row.get_by_role("button", name=f"Remove job “{description}” from the list")
    asked = page.get_by_role("dialog", name="Remove this job from the list?")

    remove.click()
    expect(asked).to_contain_text(f"“{description}” and its errors will be removed.")
    asked.get_by_role("button", name="Keep it").click()
    expect(asked).to_be_hidden()
    expect(remove).to_be_focused()  # the dialog gives the focus back
    assert store.get(job.id).id == job.id  # kept: the question was dismissed

    remove.click()
    asked.get_by_role("button", name="Remove job").click()
    expect(row).to_have_count(0)  # the hub deletes the row once the job is gone
    expect(page.get_by_role("heading", name="Background Jobs", level=1)).to_be_focused()
    with pytest.raises(UnknownJob):
        store.get(job.id)
