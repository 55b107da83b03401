"""What a screen reader hears from the Background Jobs page, in Chromium: each job's end said
once (whether its row or a watcher's notice brought it), with its owner and outcome so that two
jobs of one file can be told apart; bars that say "394,000 of 500,000 items"; buttons named
after their job; View All and My Jobs as plain links, the current one marked.
"""

from __future__ import annotations

import re
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

PASSWORD = "reader-password-1"
SAME_FILE = "Import users from staff.csv (500,000 rows)"


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


@pytest.fixture
def pat(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)


def running(store: JobStore, owner: User, description: str = SAME_FILE) -> Job:
    job = store.create(Job(new_job_id(), "import_users", description, Person(owner.id, owner.name),
                           time.time(), total=500_000))  # fmt: skip
    return store.transition(job.id, Event.START, at=time.time())


def open_jobs(page: Page, server: object, person: User, sign_in: Callable[..., None]) -> None:
    sign_in(page, server.base_url, person.email, PASSWORD)  # type: ignore[attr-defined]
    page.goto(server.url("/admin/background-jobs"))  # type: ignore[attr-defined]
    expect(page.locator("#connection")).to_have_text("Live")


def test_each_end_is_announced_once_with_owner_and_outcome(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, pat: User, store: JobStore
) -> None:
    mine, theirs = running(store, sue), running(store, pat)
    store.add_watcher(mine.id, sue.id)  # Sue gets a notice of her job's end, as well as its row
    open_jobs(page, live_server, sue, sign_in)
    said = page.locator("#announcer p")
    store.flush(mine.id, {"done": "394000"}, [JobError(2, "line 2", "email is empty", time.time())])
    expect(page.get_by_role("progressbar", name=f"Progress of {SAME_FILE}").first).to_be_visible()
    expect(said).to_have_count(0)  # progress is not news

    store.flush(mine.id, {"done": "500000"})
    store.transition(mine.id, Event.COMPLETE, at=time.time())
    notice = page.get_by_role("region", name="Notices").get_by_role("paragraph")
    expect(notice).to_contain_text(f"Sue Super’s job “{SAME_FILE}” completed with 1 error.")
    expect(said).to_have_text([f"{SAME_FILE}, by Sue Super: Completed with 1 error"])

    by = Person(sue.id, sue.name)
    store.transition(theirs.id, Event.ABORT, at=time.time(), aborted_by=by, aborted_at=time.time())
    store.transition(theirs.id, Event.CONFIRM_ABORT, at=time.time())
    expect(said).to_have_text([
        f"{SAME_FILE}, by Sue Super: Completed with 1 error",
        f"{SAME_FILE}, by Pat Power: Aborted at 0 / 500,000 by Sue Super",
    ])  # fmt: skip
    page.get_by_role("button", name=re.compile("^Dismiss the notice")).click()
    expect(notice).to_have_count(0)
    expect(said).to_have_count(2)


def test_the_bar_says_its_numbers_and_the_buttons_name_their_job(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    job = running(store, sue)
    store.flush(job.id, {"done": "394000"})
    counting = store.create(Job(new_job_id(), "import_users", "Import users from big.csv",
                                Person(sue.id, sue.name), time.time()))  # fmt: skip
    open_jobs(page, live_server, sue, sign_in)
    bar = page.get_by_role("progressbar", name=f"Progress of {SAME_FILE}")
    expect(bar).to_have_attribute("aria-valuenow", "78")
    expect(bar).to_have_attribute("aria-valuetext", "394,000 of 500,000 items")
    store.flush(job.id, {"done": "400001"})
    expect(bar).to_have_attribute("aria-valuetext", "400,001 of 500,000 items")
    unknown = page.get_by_role("progressbar", name="Progress of Import users from big.csv")
    expect(unknown).to_have_attribute("aria-valuetext", "0 items, counting the rest")
    assert counting.total is None

    for description in (SAME_FILE, "Import users from big.csv"):
        row = page.get_by_role("article", name=description, exact=True)
        expect(row.get_by_role("button", name=f"Abort job “{description}”")).to_have_count(1)


def test_view_all_and_my_jobs_are_links_with_the_current_one_marked(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User
) -> None:
    open_jobs(page, live_server, sue, sign_in)
    which = page.get_by_role("navigation", name="Which jobs")
    expect(page.get_by_role("tab")).to_have_count(0)
    expect(which.get_by_role("link", name="View All")).to_have_attribute("aria-current", "page")
    which.get_by_role("link", name="My Jobs").click()
    expect(page).to_have_url(live_server.url("/admin/background-jobs?tab=mine"))
    expect(which.get_by_role("link", name="My Jobs")).to_have_attribute("aria-current", "page")
    expect(which.get_by_role("link", name="View All")).not_to_have_attribute("aria-current", "page")
    expect(page.get_by_role("region", name="My jobs")).to_have_count(1)
