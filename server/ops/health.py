"""Health for load balancers and on-call: `/healthz` (this process answers) and `/readyz`.

`/readyz` answers 200 when Redis and the database answer and some worker's heartbeat
(`tasks/jobs/beacon.py`) is recent, else 503; its JSON body names every check and what failed.
Each check has a timeout, so a hung Redis or database gives 503 rather than a hung probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tasks.jobs.beacon import live_workers
from tasks.jobs.store import JobStore
from tasks.runtime import Runtime

CHECK_TIMEOUT_S = 3.0
WORKER_SEEN_MIN_S = 10.0


class CheckFailed(Exception):
    pass


def failure(exc: BaseException) -> str:
    """What went wrong, in one short line (no stack, nothing from the configuration)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


class Health:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        # Its own client with short timeouts: the store's may wait on a hung server for ever.
        client = redis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=CHECK_TIMEOUT_S,
            socket_connect_timeout=CHECK_TIMEOUT_S,
        )
        self.store = JobStore(client, runtime.store.retention_s, runtime.store.prefix)
        self.worker_seen_within_s = max(WORKER_SEEN_MIN_S, 3.0 * settings.heartbeat_interval_s)
        self.routes = [Route("/healthz", self.healthz), Route("/readyz", self.readyz)]

    def close(self) -> None:
        self.store.redis.close()

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        names = ("redis", "database", "workers")
        checks = [self._redis, self._database, self._workers]
        results = await asyncio.gather(*(self._run(check) for check in checks))
        report = dict(zip(names, results, strict=True))
        failed = [name for name, result in report.items() if not result["ok"]]
        body = {"status": "not ready" if failed else "ready", "failed": failed, "checks": report}
        return JSONResponse(body, status_code=503 if failed else 200)

    async def _run(self, check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            details = await asyncio.wait_for(run_in_threadpool(check), CHECK_TIMEOUT_S + 1)
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S + 1:.0f}s"}
        except Exception as exc:
            return {"ok": False, "error": failure(exc)}
        return {"ok": True, **details}

    def _redis(self) -> dict[str, Any]:
        self.store.redis.ping()
        return {}

    def _database(self) -> dict[str, Any]:
        with self.runtime.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {}

    def _workers(self) -> dict[str, Any]:
        at = time.time()
        alive = live_workers(self.store, at, self.worker_seen_within_s)
        if not alive:
            raise CheckFailed(f"no worker heartbeat in the last {self.worker_seen_within_s:.0f}s")
        return {"alive": len(alive), "last_heartbeat_age_s": round(at - max(alive.values()), 3)}
