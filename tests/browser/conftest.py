"""Browser fixtures: the real app served by uvicorn in a thread, Debian's Chromium driven by
Playwright's sync API, and the people and worker that live-page tests need.

`live_server` serves `create_app()` on a free loopback port with BASE_URL set to that address;
`serve()` starts more of them (each a separate app: its own hub and Redis subscription), and
each can be stopped and started again on the same port, as a web process restarts.
`browser` is one Chromium for the session; `page` is a fresh context (no cookies) per test;
`open_viewer(server, email)` is another person in another context, signed in.
`sign_in(page, base_url, email, password)` signs in through the form, as a person would.
`job_worker` is the real Dramatiq worker, leaving no job running behind it.
At the end of a run, the moderate axe-core findings that tests collected (axe.py) are listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tasks.jobs.model import Event, InvalidTransition, Person
from tasks.jobs.store import JobStore
from tasks.settings import Settings
from tests.support.served import ServedApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXPECT_TIMEOUT_MS = 10_000


@pytest.fixture
def serve(settings: Settings, runtime: object) -> Iterator[Callable[[], ServedApp]]:
    """`serve()` starts one more web process; every one still running is stopped after the test.

    It depends on `runtime` so that the schema exists and the tables start empty.
    """
    served: list[ServedApp] = []

    def start() -> ServedApp:
        server = ServedApp(settings)
        served.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in served:
            server.stop()


@pytest.fixture
def live_server(serve: Callable[[], ServedApp]) -> ServedApp:
    """The app on http://127.0.0.1:<free port>, lifespan included; stopped after the test."""
    return serve()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context()
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context: no cookies from another test."""
    context = new_context(browser)
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


@pytest.fixture
def open_viewer(browser: Browser) -> Iterator[Callable[[ServedApp, str, str], Page]]:
    """`open_viewer(server, email, password)`: a page in a new browser context, signed in.

    Every context opened this way is closed after the test.
    """
    contexts: list[BrowserContext] = []

    def open_page(server: ServedApp, email: str, password: str) -> Page:
        context = new_context(browser)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, server.base_url, email, password)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def job_worker(worker: dramatiq.Worker, store: JobStore) -> Iterator[dramatiq.Worker]:
    """The real worker; after the test every job still going is aborted, so it stops at once."""
    yield worker
    from tasks.worker import broker

    nobody = Person(0, "test teardown")
    for job_id in store.active_ids():
        try:
            store.transition(job_id, Event.ABORT, at=time.time(), aborted_by=nobody,
                             aborted_at=time.time())  # fmt: skip
        except InvalidTransition:
            pass  # it ended or is already being aborted
    broker.join("jobs", timeout=60_000)
    worker.join()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.browser.axe import MODERATE

    if MODERATE:
        terminalreporter.section("axe-core: moderate and minor findings (not failures)")
        for state, rule, what in sorted(MODERATE):
            terminalreporter.write_line(f"{state}: {rule}: {what}")
