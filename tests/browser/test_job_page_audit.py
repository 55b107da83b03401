"""The job detail page in Chromium: reached from the row's description, live like the list,
and its audit showing who launched, asked to be notified and aborted."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Person
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime

PASSWORD = "detail-password-1"
STAFF = [b"email,name\n", b"ada@example.com,Ada\nbob@example.com,Bob\n"]

pytestmark = pytest.mark.browser


@pytest.fixture
def pat(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def test_detail_page_shows_the_audit_and_stays_live(  # type: ignore[no-untyped-def]
    live_server,
    page: Page,
    sign_in: Callable[..., None],
    pat: User,
    sue: User,
    runtime: Runtime,
    store: JobStore,
) -> None:
    job = launch_import(runtime, Person(pat.id, pat.name), pat.role, "staff.csv", STAFF)
    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    page.goto(live_server.url("/admin/background-jobs"))
    page.get_by_role("link", name="Import users from staff.csv (2 rows)").click()
    expect(page).to_have_url(live_server.url(f"/admin/background-jobs/{job.id}"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Import users from staff.csv (2 rows)"
    )
    expect(page.locator("#connection")).to_have_text("Live")

    audit = page.get_by_role("table", name="Who did what with this job")
    rows = audit.get_by_role("row")
    expect(rows).to_have_count(2)  # the header and the launch
    expect(rows.nth(1)).to_contain_text("Pat Power")
    expect(rows.nth(1)).to_contain_text("Launched the job")

    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"done": "1"})
    bar = page.get_by_role("progressbar", name="Progress of Import users from staff.csv")
    expect(bar).to_have_attribute("aria-valuenow", "50")

    page.get_by_role("button", name="Notify me when finished").click()
    expect(page.get_by_role("button", name="✓ Notify me when finished")).to_be_disabled()
    page.get_by_role("button", name="Abort job").click()
    page.get_by_role("dialog", name="Abort this job?").get_by_role(
        "button", name="Abort job"
    ).click()
    expect(page.locator(f"#j{job.id}s .status-word")).to_have_text("Stopping…")

    page.reload()
    expect(rows).to_have_count(4)
    expect(rows.nth(2)).to_contain_text("Sue Super")
    expect(rows.nth(2)).to_contain_text("Asked to be notified when it ends")
    expect(rows.nth(3)).to_contain_text("Sue Super")
    expect(rows.nth(3)).to_contain_text("Aborted the job")
    details = page.get_by_role("region", name="Details")
    expect(details).to_contain_text("Aborted by")
    expect(details).to_contain_text("Sue Super")
