"""The list's layout and the smaller edges of the pages, in Chromium at 1280 × 800: columns that
do not move whatever buttons a row has, a running row's numbers on one line, end-of-job notices
over the page's corner (not pushing the rows down under the pointer), a search that matches
nothing saying so, and a refused upload tied to its file input."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore

pytestmark = pytest.mark.browser

PASSWORD = "layout-password-1"


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def add(store: JobStore, sue: User, description: str, total: int = 500_000) -> Job:
    job = store.create(Job(new_job_id(), "import_users", description, Person(sue.id, sue.name),
                           time.time() - 300, total=total))  # fmt: skip
    return store.transition(job.id, Event.START, at=time.time() - 200)


def open_jobs(page: Page, server: object, sue: User, sign_in: Callable[..., None]) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, server.base_url, sue.email, PASSWORD)  # type: ignore[attr-defined]
    page.goto(server.url("/admin/background-jobs"))  # type: ignore[attr-defined]
    expect(page.locator("#connection")).to_have_text("Live")


def test_bars_line_up_whatever_buttons_a_row_has_and_numbers_keep_one_line(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    plain = add(store, sue, "Import users from plain.csv (500,000 rows)")
    store.flush(plain.id, {"done": "394000"})
    watched = add(store, sue, "Import users from watched.csv (500,000 rows)")
    store.add_watcher(watched.id, sue.id)
    bad = [JobError(n, f"line {n}", "email is empty", time.time()) for n in range(2, 1_202)]
    store.flush(watched.id, {"done": "300000"}, bad)
    ended = add(store, sue, "Import users from ended.csv (2,000 rows)", total=2_000)
    store.flush(ended.id, {"done": "2000"})
    store.transition(ended.id, Event.COMPLETE, at=time.time())
    open_jobs(page, live_server, sue, sign_in)
    expect(page.get_by_role("button", name="1,200 errors: show details")).to_be_visible()

    # Measured in one evaluation each: a push may replace a state between two separate calls.
    bars = page.evaluate(
        "[...document.querySelectorAll('.job .bar')].map(b => b.getBoundingClientRect())"
        ".map(r => [Math.round(r.x), Math.round(r.width)])"
    )
    assert len(bars) == 3 and len({tuple(bar) for bar in bars}) == 1, bars
    for job in (plain, watched):
        tops = page.locator(f"#j{job.id}s .numbers").evaluate(
            "p => [...p.children].map(c => Math.round(c.getBoundingClientRect().y))"
        )
        assert len(set(tops)) == 1, f"the numbers of {job.description} wrap: {tops}"
        expect(page.locator(f"#j{job.id}s .numbers > *").last).to_contain_text("Running time:")


def test_a_notice_floats_over_the_corner_and_is_dismissed(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    job = add(store, sue, "Import users from notice.csv (10 rows)", total=10)
    store.add_watcher(job.id, sue.id)
    open_jobs(page, live_server, sue, sign_in)
    heading = page.get_by_role("heading", name="Background Jobs", level=1)
    row = page.get_by_role("article", name=job.description, exact=True)

    def tops() -> tuple[float, float]:
        return (heading.evaluate("h => h.getBoundingClientRect().y"),
                row.evaluate("r => r.getBoundingClientRect().y"))  # fmt: skip

    before = tops()
    store.transition(job.id, Event.COMPLETE, at=time.time())
    notice = page.get_by_role("region", name="Notices").get_by_role("paragraph")
    expect(notice).to_contain_text("“Import users from notice.csv (10 rows)” completed")
    expect(row.get_by_text("Completed", exact=True)).to_be_visible()
    assert tops() == before, "the page moved under the pointer"
    box = notice.bounding_box()
    assert box and box["x"] + box["width"] > 1200 and box["y"] + box["height"] > 700, box
    notice.get_by_role("button", name=re.compile("^Dismiss the notice")).click()
    expect(notice).to_have_count(0)
    expect(heading).to_be_focused()  # not lost to <body>


def test_a_search_that_matches_nothing_says_so_with_a_way_back(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    add(store, sue, "Import users from found.csv (10 rows)", total=10)
    open_jobs(page, live_server, sue, sign_in)
    page.get_by_label("Search").fill("lost.csv")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No jobs match “lost.csv”.")).to_be_visible()
    expect(page.get_by_text("No jobs yet.")).to_have_count(0)
    page.get_by_role("link", name="Clear the filter").click()
    found = page.get_by_role("article", name="Import users from found.csv (10 rows)")
    expect(found).to_be_visible()


def test_a_refused_upload_says_so_on_the_file_input_which_has_the_focus(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User
) -> None:
    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    page.goto(live_server.url("/admin/imports/users"))
    page.get_by_label("CSV file").set_input_files(
        {"name": "empty.csv", "mimeType": "text/csv", "buffer": b""}
    )
    page.get_by_role("button", name="Start import").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("The file is empty.")
    file_input = page.get_by_label("CSV file")
    expect(file_input).to_have_accessible_description("The file is empty.")
    expect(file_input).to_be_focused()


def test_dates_follow_one_labelled_convention_whatever_the_browsers_locale(  # type: ignore[no-untyped-def]
    live_server, browser: Browser, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    """A German browser in Berlin: dates in the page's language like its numbers ("306,000"),
    in the viewer's time zone, named; the error tables say theirs the same way (not in UTC)."""
    job = add(store, sue, "Import users from berlin.csv (500,000 rows)")
    store.flush(job.id, {"done": "306000"}, [JobError(2, "line 2", "email is empty", time.time())])
    context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    try:
        page = context.new_page()
        open_jobs(page, live_server, sue, sign_in)
        when = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d\d:\d\d [AP]M GMT\+[12]$")
        row = page.get_by_role("article", name=job.description, exact=True)
        expect(row.locator("time")).to_have_text(when)
        expect(row).to_contain_text("306,000 / 500,000 items")
        page.goto(live_server.url(f"/admin/background-jobs/{job.id}/errors"))
        expect(page.get_by_role("table").locator("time")).to_have_text(when)
    finally:
        context.close()
