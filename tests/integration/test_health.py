"""Liveness and readiness: /healthz answers while the process does; /readyz says, in JSON,
whether Redis, the database and some worker (by its heartbeat) are there."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import dramatiq
from starlette.testclient import TestClient

from server.app import create_app
from server.embedded_redis import EmbeddedRedis


def test_healthz_answers_without_signing_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_redis_database_and_a_worker_answer(client, worker: dramatiq.Worker) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["failed"] == []
    assert body["checks"]["redis"] == {"ok": True}
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["workers"]["ok"] and body["checks"]["workers"]["alive"] >= 1


def test_not_ready_without_a_live_worker(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["workers"]
    assert "no worker heartbeat in the last" in body["checks"]["workers"]["error"]


def test_a_worker_that_stops_signs_off_at_once(runtime, store) -> None:  # type: ignore[no-untyped-def]
    from tasks.jobs.beacon import live_workers
    from tasks.worker import broker

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        assert len(live_workers(store, time.time(), 10)) == 1, "announced on boot"
    finally:
        worker.stop()
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not worker
        ]
    assert live_workers(store, time.time(), 10) == {}


def test_a_stale_heartbeat_is_not_a_live_worker(client, store) -> None:  # type: ignore[no-untyped-def]
    store.redis.zadd(store.key("workers"), {"gone:1:abc": time.time() - 60})
    body = client.get("/readyz").json()
    assert body["failed"] == ["workers"]


def test_not_ready_when_redis_is_stopped(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    """A private Redis, not the session's: the app is pointed at it, then it stops."""
    folder = Path(tempfile.mkdtemp(prefix="jobdeck-readyz-"))
    with EmbeddedRedis(folder, appendonly=False) as private:
        app = create_app(dataclasses.replace(settings, redis_url=private.url))
        with TestClient(app) as client:
            assert client.get("/readyz").json()["checks"]["redis"] == {"ok": True}
            private.stop()
            started = time.monotonic()
            response = client.get("/readyz")
            assert time.monotonic() - started < 10, "a dead Redis gives a quick answer"
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failed"] == ["redis", "workers"]
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    assert body["checks"]["database"] == {"ok": True}


def test_healthz_still_answers_when_redis_is_stopped(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    folder = Path(tempfile.mkdtemp(prefix="jobdeck-healthz-"))
    with EmbeddedRedis(folder, appendonly=False) as private:
        app = create_app(dataclasses.replace(settings, redis_url=private.url))
        with TestClient(app) as client:
            private.stop()
            response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
