"""Fixtures for the fault tests (the tools themselves are in fault_kit.py)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from server.embedded_redis import free_port
from tests.faults.fault_kit import PrivatePostgres, WebProcess, Workers, kill


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Worker processes for one test; every one still alive is SIGKILLed after it."""
    made = Workers(tmp_path)
    try:
        yield made
    finally:
        for process in made.started:
            kill(process)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of this module's own, started; stopped (if running) after the module."""
    folder = Path(tempfile.mkdtemp(prefix="jobdeck-pg-"))  # one the postgres user can reach
    server = PrivatePostgres(folder, free_port()).init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Callable[..., WebProcess]]:
    """`web(**env)` starts a web process (uvicorn, as the Procfile does); all stopped after."""
    started: list[WebProcess] = []

    def start(**env: str) -> WebProcess:
        started.append(WebProcess(tmp_path, **env).start())
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright, for the tests that watch a page."""
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()
