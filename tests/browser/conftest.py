"""Browser fixtures: the real app served by uvicorn in a thread, and Debian's Chromium driven
by Playwright's sync API.

`live_server` serves `create_app()` on a free loopback port with BASE_URL set to that address;
`browser` is one Chromium for the session; `page` is a fresh context (no cookies) per test;
`sign_in(page, base_url, email, password)` signs in through the form, as a person would.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.applications import Starlette

from server.app import create_app
from tasks.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 15.0
EXPECT_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    app: Starlette

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def live_server(settings: Settings, runtime: object) -> Iterator[LiveServer]:
    """The app on http://127.0.0.1:<free port>, lifespan included; stopped after the test.

    It depends on `runtime` so that the schema exists and the tables start empty.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    base_url = f"http://{host}:{port}"
    app = create_app(dataclasses.replace(settings, base_url=base_url))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"uvicorn did not start on {base_url}")
        time.sleep(0.01)
    try:
        yield LiveServer(base_url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        app.state.runtime.engine.dispose()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context: no cookies from another test."""
    context = browser.new_context()
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Fill the sign-in form by its labels and press its button; waits for the answer."""
    if "/login" not in page.url:
        page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


@pytest.fixture(name="sign_in")
def sign_in_fixture() -> Callable[[Page, str, str, str], None]:
    """`sign_in(page, base_url, email, password)`, for tests in any module under browser/."""
    return sign_in
