"""Real parts for every test: a private redis-server, a database, a Dramatiq worker.

The private Redis starts once per session, then the worker's broker is set up from the
environment (`tasks.worker`, as `dramatiq tasks.worker` does); Redis is flushed between tests
(it is ours, nobody else's). The database is a SQLite file per session, emptied between
tests; PostgreSQL joins where TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.embedded_redis import EmbeddedRedis

_ROOT = Path(tempfile.mkdtemp(prefix="jobdeck-tests-"))
_REDIS = EmbeddedRedis(_ROOT / "redis", appendonly=False)


def pytest_configure(config: pytest.Config) -> None:
    _REDIS.start()
    os.environ.update(
        REDIS_URL=_REDIS.url,
        DATABASE_URL=f"sqlite:///{_ROOT / 'jobdeck.sqlite3'}",
        JOBDECK_ENV="test",
        JOBDECK_VAR=str(_ROOT / "var"),
        SECRET_KEY="test-secret-key-not-for-production",
        # The site's own origin, where Starlette's TestClient sends every request: the app
        # answers no other host, and the Origin check trusts only BASE_URL's.
        BASE_URL="http://testserver",
        PROGRESS_INTERVAL_MS="50",
        HEARTBEAT_INTERVAL_S="1",
    )
    os.environ.pop("SMTP_URL", None)
    import tasks.worker  # noqa: F401  (the actors bind to the broker it sets up)


def pytest_unconfigure(config: pytest.Config) -> None:
    _REDIS.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _REDIS.url


@pytest.fixture(scope="session")
def settings():  # type: ignore[no-untyped-def]
    from tasks.settings import Settings

    return Settings.from_environ(os.environ)


@pytest.fixture(scope="session")
def runtime():  # type: ignore[no-untyped-def]
    from tasks.broker import worker_runtime
    from tasks.data.db import create_schema

    runtime = worker_runtime()

    create_schema(runtime.engine)
    return runtime


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with an empty Redis and empty tables (ours, private to the tests)."""
    import redis

    redis.Redis.from_url(_REDIS.url).flushall()
    if "runtime" in request.fixturenames or "engine" in request.fixturenames:
        rt = request.getfixturevalue("runtime")
        from tasks.data.db import metadata

        with rt.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    yield


@pytest.fixture
def store(runtime):  # type: ignore[no-untyped-def]
    return runtime.store


@pytest.fixture
def engine(runtime):  # type: ignore[no-untyped-def]
    return runtime.engine


@pytest.fixture
def worker(runtime):  # type: ignore[no-untyped-def]
    """A real Dramatiq worker (threads in this process) on the real broker."""
    import dramatiq

    from tasks.worker import broker

    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()
    # A stopped worker's middleware would otherwise start consumers for queues declared later.
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]


@pytest.fixture
def superadmin(engine):  # type: ignore[no-untyped-def]
    """Rosa Root, a Superadmin, as the owner of the jobs a test launches."""
    from tasks.data.users import add_user
    from tasks.jobs.model import Person

    with engine.begin() as conn:
        user = add_user(conn, "root@example.com", "Rosa Root", "superadmin")
    return Person(user.id, user.name)


@pytest.fixture
def wait_for_job(store):  # type: ignore[no-untyped-def]
    """`wait_for_job(job_id, predicate)`: poll the job's record until `predicate(job)` holds
    (for what no page shows, such as a job nobody watches); fail after `timeout_s`."""
    import time

    def wait(job_id, predicate, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while True:
            job = store.get(job_id)
            if predicate(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} never got there; last seen: {job}")
            time.sleep(0.01)  # a polling interval, not a wait for an outcome

    return wait
