"""A job's page while the job runs, in Chromium, beside the list's row: the same numbers, status
and error count as the row at every push, nothing static that contradicts them, the bar with
the page's width, and headings in order (the h1 larger than the Details h2)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore

pytestmark = pytest.mark.browser

PASSWORD = "job-page-password-1"
DESCRIPTION = "Import users from big.csv (500,000 rows)"


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def bad_rows(first: int, count: int) -> list[JobError]:
    at = time.time()
    return [JobError(n, f"line {n}", "email is empty", at) for n in range(first, first + count)]


def font_px(heading: Locator) -> float:
    return float(heading.evaluate("h => parseFloat(getComputedStyle(h).fontSize)"))


def said(state: Locator) -> list[str]:
    """The status and the numbers of a job's live state, as shown (the clock left out)."""
    status = state.locator(".status-word").inner_text()
    numbers = state.locator(".numbers > *").all_inner_texts()
    return [status] + [n for n in numbers[:2]]


def test_job_page_says_what_the_row_says_while_the_job_runs(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    job = store.create(Job(new_job_id(), "import_users", DESCRIPTION, Person(sue.id, sue.name),
                           time.time(), total=500_000))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"done": "144000"}, bad_rows(2, 126))
    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    expect(page.locator("#connection")).to_have_text("Live")
    detail = page.context.new_page()
    detail.goto(live_server.url(f"/admin/background-jobs/{job.id}"))
    expect(detail.locator("#connection")).to_have_text("Live")

    store.flush(job.id, {"done": "166000"}, bad_rows(200, 24))
    row_state = page.locator(f"#j{job.id}s")
    page_state = detail.locator(f"#j{job.id}s")
    for state in (row_state, page_state):
        expect(state).to_contain_text("166,000 / 500,000 items")
    assert said(page_state) == said(row_state) == ["Running", "33%", "166,000 / 500,000 items"]
    badge = "150 errors: show details"
    expect(page.get_by_role("button", name=badge)).to_have_count(1)
    expect(detail.get_by_role("button", name=badge)).to_have_count(1)
    errors = detail.get_by_role("region", name="Errors")
    expect(errors).to_contain_text("150 errors so far")
    details = detail.get_by_role("region", name="Details")
    for changing in ("Status", "Items", "Errors", "Finished", "Last heartbeat"):
        expect(details.get_by_text(changing, exact=True)).to_have_count(0)

    bar = detail.get_by_role("progressbar", name=f"Progress of {DESCRIPTION}")
    card = detail.get_by_role("article", name="Progress")
    width = "e => e.getBoundingClientRect().width"  # in one evaluation: pushes replace the bar
    assert bar.evaluate(width) > 0.6 * card.evaluate(width)
    h1 = detail.get_by_role("heading", level=1)
    h2 = detail.get_by_role("heading", name="Details", level=2)
    assert font_px(h1) > font_px(h2)

    store.flush(job.id, {"done": "500000"})
    store.transition(job.id, Event.COMPLETE, at=time.time())
    expect(page_state.locator(".status-word")).to_have_text("Completed with 150 errors")
    assert said(page_state) == said(row_state)
