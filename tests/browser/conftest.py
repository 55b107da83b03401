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

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from starlette.applications import Starlette

from server.app import create_app
from server.ws_protocol import HubProtocol
from tasks.jobs.model import Event, InvalidTransition, Person
from tasks.jobs.store import JobStore
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


class ServedApp:
    """`create_app()` served by uvicorn in a thread on 127.0.0.1.

    The port is chosen on the first `start()` and kept: `stop()` then `start()` is a restart of
    the web process at the same address, with a new app (new hub, new subscription).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port: int | None = None
        self._app: Starlette | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("Expected a started server, but it was never started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> Starlette:
        if self._app is None:
            raise RuntimeError(f"Expected a running server on {self.base_url}, but it is stopped")
        return self._app

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> ServedApp:
        if self.is_running:
            raise RuntimeError(f"{self.base_url} is already being served")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port or 0))
        self.port = sock.getsockname()[1]
        app = create_app(dataclasses.replace(self.settings, base_url=self.base_url))
        config = uvicorn.Config(
            app,
            ws=HubProtocol,
            ws_per_message_deflate=False,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        self._app, self._server, self._thread, self._sock = app, server, thread, sock
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut down as uvicorn does on SIGTERM: sockets closed with 1012, lifespan ended."""
        if self._server is None or self._thread is None or self._sock is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()
        if self._app is not None:
            self._app.state.runtime.engine.dispose()
        is_stuck = self._thread.is_alive()
        self._app = self._server = self._thread = self._sock = None
        assert not is_stuck, f"uvicorn on port {self.port} did not stop"


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
    from tasks.broker import broker

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
    from axe import MODERATE

    if MODERATE:
        terminalreporter.section("axe-core: moderate and minor findings (not failures)")
        for state, rule, what in sorted(MODERATE):
            terminalreporter.write_line(f"{state}: {rule}: {what}")
