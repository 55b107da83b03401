"""Benchmark: what an import of 500,000 bad rows keeps in Redis, and what an error search on
it costs the web process (prints figures; not a test).

Each round imports one file of bad rows (`run_import`, the actor's whole body, without
Dramatiq) into a fresh SQLite file, with a private Redis started here, and reads Redis's
`used_memory` before the job and after it ended. Rounds, in one run:

- **capped**: as shipped, the ledger keeps the first JOB_MAX_ERRORS (10,000) errors and
  indexes them;
- **uncapped**: the same import with no cap (the ledger keeps every error, indexed): the
  same-run baseline of what the cap saves.

On each ledger, the web's CPU per error search (`search_errors`, the first page of 50) for a
needle that matches nothing and for one that matches, beside the same search by reading the
ledger (`_scan_errors`, how every search ran before the index), same run.

    .venv/bin/python bench/error_quota.py [--rows N] [--searches N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average  # noqa: E402

from server.embedded_redis import EmbeddedRedis  # noqa: E402

NEEDLES = {"matches nothing": "zzz-no-such-thing", "matches": "line 4"}
MIB = 1024 * 1024


def bad_file(rows: int) -> bytes:
    """`rows` rows whose email is not one: a file of about 13 bytes a row, as in the attack."""
    return ("email,name\n" + "".join(f"x{n},y\n" for n in range(rows))).encode()


def main(rows: int, searches: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="jobdeck-bench-"))
    with EmbeddedRedis(root / "redis", appendonly=False) as redis_server:
        os.environ.update(
            REDIS_URL=redis_server.url,
            DATABASE_URL=f"sqlite:///{root / 'unused.sqlite3'}",
            JOBDECK_ENV="test",
            JOBDECK_VAR=str(root / "var"),
        )
        import tasks.worker  # noqa: F401  (the actor modules bind to the worker's broker)
        from tasks.jobs.store import MAX_ERRORS, JobStore

        data = bad_file(rows)
        print(
            f"importing {rows:,} bad rows ({len(data) / 1e6:.1f} MB); load average {load_average()}"
        )
        for label, most in (("capped", MAX_ERRORS), ("uncapped", 10**9)):
            store = JobStore.from_url(redis_server.url, 30 * 86400, max_errors=most)
            store.redis.flushall()
            before = int(store.redis.info("memory")["used_memory"])
            job_id, seconds = import_once(root, store, data, rows, label)
            after = int(store.redis.info("memory")["used_memory"])
            kept = store.error_count(job_id)
            print(
                f"{label:<9} errors counted {store.get(job_id).error_count:,}, kept {kept:,};"
                f" Redis used_memory +{(after - before) / MIB:.1f} MiB; import {seconds:.1f} s"
            )
            for what, needle in NEEDLES.items():
                index = cpu_ms(partial(store.search_errors, job_id, needle, 0, 50), searches)
                scan = cpu_ms(
                    partial(store._scan_errors, job_id, needle.casefold(), 0, 50), searches
                )
                print(
                    f"  search that {what:<15}: index {index:8.2f} ms web CPU, "
                    f"reading the ledger {scan:8.1f} ms"
                )
        print(f"load average after: {load_average()}")


def cpu_ms(search: Callable[[], object], times: int) -> float:
    """The web process's CPU per call, in ms (the mean of `times` calls)."""
    search()  # scripts loaded, connection open
    start = time.process_time()
    for _ in range(times):
        search()
    return (time.process_time() - start) / times * 1000


def import_once(root: Path, store: object, data: bytes, rows: int, label: str) -> tuple[str, float]:
    from tasks.actors.import_users import run_import
    from tasks.data.db import connect, create_schema
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.jobs.store import JobStore
    from tasks.uploads import save_upload

    assert isinstance(store, JobStore)
    engine = connect(f"sqlite:///{root / f'{label}.sqlite3'}")
    create_schema(engine)
    params = {"rows": rows, "on_existing": "skip", "owner_role": "superadmin", "filename": "x"}
    job = Job(new_job_id(), "import_users", "benchmark", Person(1, "Bench"), time.time(),
              params=params, total=rows)  # fmt: skip
    with engine.begin() as conn:
        save_upload(conn, job.id, [data])
    store.create(job)
    job = store.transition(job.id, Event.START, at=time.time())
    ctx = JobContext(store, job)
    started = time.perf_counter()
    run_import(ctx, engine, job.id, params)
    ctx.close()
    store.transition(job.id, Event.COMPLETE, at=time.time())
    engine.dispose()
    return job.id, time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--searches", type=int, default=20)
    args = parser.parse_args()
    main(args.rows, args.searches)
