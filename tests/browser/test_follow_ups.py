"""Safe massive actions in Chromium, on the real worker: check a file first, see its outcome
arrive on the row, Start import from the row and watch the import live on its page; retry the
failed rows from the errors pop-up."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from tasks.data.courses import add_course
from tasks.data.users import User, add_user, count_users

PASSWORD = "follow-ups-password-1"
STAFF = b"email,name,role,courses\nann@example.org,Ann,user,CS101\nbob@example.org,,user,\n"
ROWS = 20_000  # the check's file: long enough that its import is still running when seen


def big_file() -> bytes:
    lines = "".join(f"u{i}@example.org,User {i},user,CS101\n" for i in range(ROWS - 1))
    return b"email,name,role,courses\n" + lines.encode() + b"bad,Bad,user,\n"


JOB_PAGE = re.compile(r"/admin/background-jobs/[0-9a-f]{16}$")

pytestmark = pytest.mark.browser


@pytest.fixture
def sue(engine: Engine) -> User:
    with engine.begin() as conn:
        add_course(conn, "CS101", "Computing")
        return add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)


def upload(page: Page, base: str, button: str, data: bytes = STAFF) -> None:
    page.goto(base + "/admin/imports/users")
    page.get_by_label("CSV file").set_input_files(
        {"name": "staff.csv", "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_role("button", name=button, exact=True).click()
    expect(page).to_have_url(base + "/admin/background-jobs?tab=mine")
    expect(page.locator("#connection")).to_have_text("Live")


def test_check_shows_its_outcome_then_start_import_runs_live(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, job_worker, engine
) -> None:
    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    upload(page, live_server.base_url, "Check the file first", big_file())
    described = "Check users from staff.csv (20,000 rows)"
    check = page.get_by_role("article", name=described, exact=True)
    expect(check).to_contain_text("Would create 19,999 · update 0 · leave 0 unchanged · 1 error")
    assert count_users(engine) == 1  # a check writes nothing

    check.get_by_role("button", name=f"Start import of “{described}”").click()
    expect(page).to_have_url(JOB_PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Import users from staff.csv (20,000 rows)"
    )
    expect(page.locator("#connection")).to_have_text("Live")
    page.evaluate("window.jobdeckTestMark = true")
    progress = page.get_by_role("article", name="Progress")
    expect(progress).to_contain_text("Completed with 1 error")
    assert page.evaluate("window.jobdeckTestMark === true"), "the page reloaded: not live"
    expect(page.get_by_role("link", name=re.compile("^[0-9a-f]{16}$")).first).to_be_visible()
    assert count_users(engine) == 1 + ROWS - 1


def test_the_errors_pop_up_retries_the_failed_rows(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in: Callable[..., None], sue: User, job_worker, engine
) -> None:
    sign_in(page, live_server.base_url, sue.email, PASSWORD)
    upload(page, live_server.base_url, "Start import")
    description = "Import users from staff.csv (2 rows)"
    row = page.get_by_role("article", name=description, exact=True)
    row.get_by_role("button", name="1 error: show details").click()
    dialog = page.get_by_role("dialog", name=f"Errors in “{description}”")
    expect(dialog).to_contain_text("name is empty")

    dialog.get_by_role("button", name=f"Retry the 1 failed row of “{description}”").click()
    expect(page).to_have_url(JOB_PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Retry 1 failed row of “{description}”"
    )
    expect(page.get_by_role("article", name="Progress")).to_contain_text("Completed with 1 error")
    assert count_users(engine) == 2  # the row failed again, as it was: nothing written twice
