"""Fixtures for the fault tests (the tools themselves are in fault_kit.py)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_kit import PrivatePostgres, Workers, kill
from sqlalchemy.engine import Engine

from server.embedded_redis import free_port
from tasks.data.users import add_user
from tasks.jobs.model import Person


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Worker processes for one test; every one still alive is SIGKILLed after it."""
    made = Workers(tmp_path)
    try:
        yield made
    finally:
        for process in made.started:
            kill(process)


@pytest.fixture
def superadmin(engine: Engine) -> Person:
    with engine.begin() as conn:
        user = add_user(conn, "root@example.com", "Rosa Root", "superadmin")
    return Person(user.id, user.name)


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
