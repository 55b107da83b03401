"""What jobdeck.js draws in a row, in Chromium. The buttons: not sent with the row, they are
drawn from the page's <template> by the job's status and error count, after every push, without
replacing a button that is already there (its focus, a pressed Notify me). The clock: sent with
the running time it had, it counts on between pushes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore

PASSWORD = "buttons-password-1"
DESCRIPTION = "Import users from buttons.csv (100 rows)"

pytestmark = pytest.mark.browser


@pytest.fixture
def pat(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)


def expect_buttons(row: Locator, names: list[str]) -> None:
    """The row's buttons are these, in this order."""
    buttons = row.get_by_role("button")
    expect(buttons).to_have_count(len(names))
    for n, name in enumerate(names):
        expect(buttons.nth(n)).to_have_accessible_name(name)


def bad_row(position: int) -> JobError:
    return JobError(position, f"line {position}", "email is empty", time.time())


def test_buttons_follow_the_status_and_the_count_in_place(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], pat: User, store: JobStore
) -> None:
    job = store.create(Job(new_job_id(), "import_users", DESCRIPTION, Person(pat.id, pat.name),
                           time.time(), total=100))  # fmt: skip
    store.add_watcher(job.id, pat.id)
    sign_in(page, live_server.base_url, pat.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    expect(page.locator("#connection")).to_have_text("Live")
    row = page.get_by_role("article", name=DESCRIPTION, exact=True)
    expect_buttons(row, ["✓ Notify me when finished", f"Abort job “{DESCRIPTION}”"])
    expect(row.get_by_role("button", name="✓ Notify me when finished")).to_be_disabled()

    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"done": "10"}, [bad_row(3)])
    badge = row.get_by_role("button", name="1 error: show details")
    expect(badge).to_have_text("1")
    badge.focus()
    store.flush(job.id, {"done": "20"}, [bad_row(15)])
    expect(row.get_by_role("button", name="2 errors: show details")).to_be_focused()

    by = Person(pat.id, pat.name)
    store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=by, aborted_at=time.time())
    expect_buttons(row, ["2 errors: show details", "✓ Notify me when finished"])
    store.transition(job.id, Event.CONFIRM_ABORT, at=time.time())
    # Ended: its state offers to retry the failed rows (jobs/_follow_ups.html), before the side.
    expect_buttons(row, [f"Retry the 2 failed rows of “{DESCRIPTION}”", "2 errors: show details",
                         f"Remove job “{DESCRIPTION}” from the list"])  # fmt: skip
    expect(row.get_by_role("button", name="2 errors: show details")).to_be_focused()


def test_the_clock_counts_on_from_the_running_time_it_was_sent(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], pat: User, store: JobStore
) -> None:
    job = store.create(Job(new_job_id(), "import_users", DESCRIPTION, Person(pat.id, pat.name),
                           time.time(), total=100))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time() - 3600)  # started an hour ago
    sign_in(page, live_server.base_url, pat.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    row = page.get_by_role("article", name=DESCRIPTION, exact=True)
    clock = row.get_by_text(re.compile(r"^\s*Running time:\s+1:00:\d\d\s*$"))
    expect(clock).to_be_visible()
    expect(clock).not_to_have_text(clock.inner_text())  # no push since: the page counted
