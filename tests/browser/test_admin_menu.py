"""The admin shell in a real browser: the gear opens the Admin Menu, whose Advanced Settings
section leads to Background Jobs; a plain user sees no Admin Menu; a wrong password is told.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import add_user

pytestmark = pytest.mark.browser

PASSWORD = "browser-password-1"
SignIn = Callable[[Page, str, str, str], None]


class LiveServer(Protocol):
    """What these tests use of the `live_server` fixture (tests/browser/conftest.py)."""

    base_url: str

    def url(self, path: str) -> str: ...


def add(engine: Engine, email: str, name: str, role: str) -> None:
    with engine.begin() as conn:
        add_user(conn, email, name, role, PASSWORD)


def test_superadmin_opens_admin_menu_and_reaches_background_jobs(
    page: Page, live_server: LiveServer, engine: Engine, sign_in: SignIn
) -> None:
    add(engine, "ada@example.com", "Ada Admin", "superadmin")
    sign_in(page, live_server.base_url, "ada@example.com", PASSWORD)
    expect(page).to_have_url(live_server.url("/admin"))

    background_jobs = page.get_by_role("link", name="Background Jobs")
    expect(background_jobs).to_be_hidden()
    page.get_by_role("button", name="Admin Menu", exact=True).click()
    menu = page.get_by_role("navigation", name="Admin Menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("heading", name="Advanced Settings")).to_be_visible()
    advanced = menu.get_by_role("region", name="Advanced Settings")
    expect(advanced.get_by_role("link", name="Background Jobs")).to_be_visible()

    background_jobs.click()
    expect(page).to_have_url(live_server.url("/admin/background-jobs"))
    expect(page.get_by_role("heading", name="Background Jobs", level=1)).to_be_visible()


def test_stranger_signs_in_and_lands_where_they_were_going(
    page: Page, live_server: LiveServer, engine: Engine, sign_in: SignIn
) -> None:
    add(engine, "pat@example.com", "Pat Power", "power_user")
    page.goto(live_server.url("/admin/background-jobs"))
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin%2Fbackground-jobs$"))
    sign_in(page, live_server.base_url, "pat@example.com", PASSWORD)
    expect(page).to_have_url(live_server.url("/admin/background-jobs"))
    expect(page.get_by_role("heading", name="Background Jobs", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Admin Menu", exact=True)).to_be_visible()


def test_plain_user_sees_no_admin_menu(
    page: Page, live_server: LiveServer, engine: Engine, sign_in: SignIn
) -> None:
    add(engine, "uma@example.com", "Uma User", "user")
    sign_in(page, live_server.base_url, "uma@example.com", PASSWORD)
    expect(page).to_have_url(live_server.url("/admin"))
    expect(page.get_by_role("heading", name="Welcome, Uma User")).to_be_visible()
    expect(page.get_by_role("button", name="Admin Menu")).to_have_count(0)
    expect(page.get_by_role("link", name="Background Jobs")).to_have_count(0)

    response = page.goto(live_server.url("/admin/background-jobs"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("button", name="Admin Menu")).to_have_count(0)


def test_wrong_password_shows_the_alert(
    page: Page, live_server: LiveServer, engine: Engine, sign_in: SignIn
) -> None:
    add(engine, "ada@example.com", "Ada Admin", "superadmin")
    sign_in(page, live_server.base_url, "ada@example.com", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email address or password.")
    expect(page.get_by_label("Email")).to_have_value("ada@example.com")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_role("button", name="Admin Menu")).to_have_count(0)


def test_sign_out_returns_to_the_sign_in_page(
    page: Page, live_server: LiveServer, engine: Engine, sign_in: SignIn
) -> None:
    add(engine, "ada@example.com", "Ada Admin", "superadmin")
    sign_in(page, live_server.base_url, "ada@example.com", PASSWORD)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live_server.url("/login"))
    page.goto(live_server.url("/admin"))
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin$"))
