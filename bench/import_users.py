"""Benchmark: rows per second importing 100,000 users on SQLite, and what progress reporting
costs, as the ratio of the same import with reporting on and off (prints figures; not a test).

Each run gets a fresh SQLite file; Redis is a private `redis-server` started here. The import
runs in this process through `run_import`, the actor's whole body, without Dramatiq.

    .venv/bin/python bench/import_users.py [ROWS] [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.embedded_redis import EmbeddedRedis  # noqa: E402

if TYPE_CHECKING:
    from tasks.jobs.store import JobStore

BAD_ROWS = 500


def main(rows: int, rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="jobdeck-bench-"))
    with EmbeddedRedis(root / "redis", appendonly=False) as redis_server:
        # The broker module reads these when the actors are imported.
        os.environ.update(
            REDIS_URL=redis_server.url,
            DATABASE_URL=f"sqlite:///{root / 'unused.sqlite3'}",
            JOBDECK_ENV="test",
            JOBDECK_VAR=str(root / "var"),
        )
        from tasks.demo import demo_csv
        from tasks.jobs.store import JobStore

        store = JobStore.from_url(redis_server.url, retention_s=3600)
        data = "".join(demo_csv(rows, BAD_ROWS, seed=1)).encode()
        print(
            f"importing {rows:,} rows ({len(data) / 1e6:.1f} MB, {BAD_ROWS} bad), {rounds} rounds"
        )
        timings: dict[bool, list[float]] = {True: [], False: []}
        for n in range(rounds):
            for is_reporting in (False, True):
                elapsed = run_once(
                    root / f"run-{n}-{is_reporting}.sqlite3", store, data, rows, is_reporting
                )
                timings[is_reporting].append(elapsed)
                label = "on " if is_reporting else "off"
                rate = rows / elapsed
                print(f"  round {n + 1}, reporting {label}: {elapsed:6.2f} s {rate:9,.0f} rows/s")
        on, off = statistics.median(timings[True]), statistics.median(timings[False])
        print(f"rows/s (reporting on, median):  {rows / on:,.0f}")
        print(f"rows/s (reporting off, median): {rows / off:,.0f}")
        print(f"progress reporting overhead: {on / off:.3f}x ({(on / off - 1) * 100:+.1f}%)")


def run_once(path: Path, store: JobStore, data: bytes, rows: int, is_reporting: bool) -> float:
    from tasks.actors.import_users import run_import
    from tasks.data.courses import add_course
    from tasks.data.db import connect, create_schema
    from tasks.data.users import count_users
    from tasks.demo import COURSES
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.store import new_job_id
    from tasks.uploads import save_upload

    class SilentContext(JobContext):
        """Reporting off: nothing is ever written to Redis."""

        def _flush(self) -> None:
            self._errors = []

    engine = connect(f"sqlite:///{path}")
    create_schema(engine)
    params = {"rows": rows, "on_existing": "skip", "owner_role": "superadmin", "filename": "x"}
    job = Job(
        id=new_job_id(),
        kind="import_users",
        description="benchmark",
        owner=Person(1, "Bench"),
        created_at=time.time(),
        params=params,
        total=rows,
    )
    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)
        save_upload(conn, job.id, [data])
    store.create(job)
    job = store.transition(job.id, Event.START, at=time.time())
    ctx = JobContext(store, job) if is_reporting else SilentContext(store, job)
    started = time.perf_counter()
    if is_reporting:
        ctx.start_heartbeat()
    run_import(ctx, engine, job.id, params)
    if is_reporting:
        ctx.close()
    elapsed = time.perf_counter() - started
    created = count_users(engine)
    if created != rows - BAD_ROWS:
        raise SystemExit(f"expected {rows - BAD_ROWS} users, found {created}")
    if is_reporting and store.error_count(job.id) != BAD_ROWS:
        raise SystemExit(f"expected {BAD_ROWS} errors, found {store.error_count(job.id)}")
    engine.dispose()
    return elapsed


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
