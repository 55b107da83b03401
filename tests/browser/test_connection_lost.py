"""The Background Jobs page when its socket is lost, in Chromium, as the wallboard does it: the
loss is said once (not rewritten on every retry), the page greys out, its clocks stop and its
buttons rest; when the web process is back the page says so and is live again."""

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

pytestmark = pytest.mark.browser

PASSWORD = "lost-password-1"
DESCRIPTION = "Import users from lost.csv (100 rows)"
LOST = "Connection lost, reconnecting…"
WATCH = """lost => {
  window.closes = 0;
  document.addEventListener("htmx:wsClose", () => { window.closes += 1; });
  window.lostWritten = 0;
  const status = document.getElementById("connection");
  new MutationObserver(() => {
    if (status.textContent === lost) window.lostWritten += 1;
  }).observe(status, {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def test_lost_connection_greys_the_page_stops_clocks_and_buttons_once_then_recovers(  # type: ignore[no-untyped-def]
    serve, page: Page, sign_in: Callable[..., None], sue: User, store: JobStore
) -> None:
    server = serve()
    job = store.create(Job(new_job_id(), "import_users", DESCRIPTION, Person(sue.id, sue.name),
                           time.time(), total=100))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time() - 30)
    sign_in(page, server.base_url, sue.email, PASSWORD)
    page.goto(server.url("/admin/background-jobs"))
    status = page.get_by_role("status").filter(has_text=re.compile(r"^\s*Live\s*$"))
    expect(status).to_be_visible()
    page.evaluate(WATCH, LOST)
    row = page.get_by_role("article", name=DESCRIPTION, exact=True)
    clock = row.locator(".clock")
    abort = row.get_by_role("button", name=f"Abort job “{DESCRIPTION}”")
    expect(clock).not_to_have_text(clock.inner_text())  # it ticks

    server.stop()
    expect(page.get_by_role("status").filter(has_text=LOST)).to_be_visible()
    stopped_at = clock.inner_text()
    lost_at = time.monotonic()
    page.wait_for_function("() => window.closes >= 3", timeout=30_000)  # retries, each closed
    waited_ms = (time.monotonic() - lost_at) * 1000
    if waited_ms < 2100:  # the point: two of the clock's seconds pass, and it shows neither
        page.wait_for_timeout(2100 - waited_ms)
    assert page.evaluate("window.lostWritten") == 1, "the loss was written again on a retry"
    expect(clock).to_have_text(stopped_at)
    grey = page.locator("main").evaluate("m => getComputedStyle(m).filter")
    assert "grayscale" in grey, grey
    expect(abort).to_have_attribute("aria-disabled", "true")
    abort.press("Enter")
    expect(page.get_by_role("dialog", name="Abort this job?")).to_be_hidden()

    server.start()
    expect(status).to_be_visible(timeout=30_000)
    expect(abort).not_to_have_attribute("aria-disabled", "true")
    assert "grayscale" not in page.locator("main").evaluate("m => getComputedStyle(m).filter")
    expect(clock).not_to_have_text(stopped_at)  # the snapshot set it going again
