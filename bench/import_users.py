"""Benchmark: rows per second importing users with their courses, beside a same-run ceiling,
and what progress reporting costs (prints figures; not a test).

Each round writes, into a fresh schema of the database given (a fresh SQLite file by default):

- the **ceiling**: the file's valid users and their enrollments written by the plainest fast
  path, with no checks at all (PostgreSQL: COPY into both tables; SQLite: one executemany per
  table in one transaction), ids made up here;
- the import (`run_import`, the actor's whole body, without Dramatiq) with reporting off, and
  with reporting on (progress and errors to a private Redis started here).

    .venv/bin/python bench/import_users.py [--rows N] [--rounds N]
        [--database postgresql://postgres@127.0.0.1:5432/DB]   # that database's tables are dropped
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average  # noqa: E402

from server.embedded_redis import EmbeddedRedis  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tasks.jobs.store import JobStore

BAD_ROWS = 500


def main(rows: int, rounds: int, database: str | None) -> None:
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
        kind = "PostgreSQL" if database and database.startswith("postgresql") else "SQLite"
        print(
            f"importing {rows:,} rows ({len(data) / 1e6:.1f} MB, {BAD_ROWS} bad) on {kind}, "
            f"{rounds} rounds; load average {load_average()}"
        )
        timings: dict[str, list[float]] = {"ceiling": [], "off": [], "on": []}
        for n in range(rounds):
            for label in timings:
                url = database or f"sqlite:///{root / f'run-{n}-{label}.sqlite3'}"
                engine = fresh_engine(url)
                if label == "ceiling":
                    elapsed, pairs = write_ceiling(engine, data)
                else:
                    elapsed = run_once(engine, store, data, rows, label == "on")
                engine.dispose()
                timings[label].append(elapsed)
                print(
                    f"  round {n + 1}, {label:<7}: {elapsed:6.2f} s {rows / elapsed:9,.0f} rows/s"
                )
        ceiling, on, off = (statistics.median(timings[k]) for k in ("ceiling", "on", "off"))
        print(f"enrollments written per import: {pairs:,}")
        print(f"rows/s (ceiling, median):       {rows / ceiling:,.0f}")
        print(f"rows/s (reporting on, median):  {rows / on:,.0f}")
        print(f"rows/s (reporting off, median): {rows / off:,.0f}")
        print(f"import / ceiling (reporting on): {ceiling / on:.2f}")
        print(f"enrollments/s (reporting on):   {pairs / on:,.0f}")
        print(f"progress reporting overhead: {on / off:.3f}x ({(on / off - 1) * 100:+.1f}%)")
        print(f"load average after: {load_average()}")


def fresh_engine(url: str) -> Engine:
    from tasks.data.courses import add_course
    from tasks.data.db import connect, create_schema, metadata
    from tasks.demo import COURSES

    engine = connect(url)
    metadata.drop_all(engine)
    create_schema(engine)
    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)
    return engine


def valid_rows(engine: Engine, data: bytes) -> list[tuple[str, str, str, list[int]]]:
    """The rows the import would create (as the demo file makes them), checked here before
    the clock starts: the ceiling writes them with no checks."""
    import sqlalchemy as sa

    from tasks.csv_input import read_rows
    from tasks.data.db import courses
    from tasks.data.users import InvalidUser, check_email, check_name, check_role

    with engine.connect() as conn:
        by_code = dict(conn.execute(sa.select(courses.c.code, courses.c.id)).all())
    seen: set[str] = set()
    good = []
    for _, row in read_rows([data]):
        try:
            email, name = check_email(row["email"]), check_name(row["name"])
            role = check_role(row["role"]) if row["role"].strip() else "user"
        except InvalidUser:
            continue
        codes = list(filter(None, row["courses"].split(";")))
        if email in seen or any(c not in by_code for c in codes):
            continue
        seen.add(email)
        good.append((email, name, role, [by_code[c] for c in codes]))
    return good


def write_ceiling(engine: Engine, data: bytes) -> tuple[float, int]:
    """Seconds to write the valid users and their enrollments the plainest fast way."""
    good = valid_rows(engine, data)
    now = time.time()
    user_rows = [(i, e, n, r, None, True, now) for i, (e, n, r, _) in enumerate(good, start=1)]
    pairs = [(i, c, now) for i, (*_, cs) in enumerate(good, start=1) for c in cs]
    started = time.perf_counter()
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        user_columns = "id, email, name, role, password_hash, is_active, created_at"
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY users ({user_columns}) FROM STDIN") as copy:
                for row in user_rows:
                    copy.write_row(row)
            with cursor.copy(
                "COPY enrollments (user_id, course_id, enrolled_at) FROM STDIN"
            ) as copy:
                for row in pairs:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO users ({user_columns}) VALUES (?,?,?,?,?,?,?)", user_rows
            )
            cursor.executemany("INSERT INTO enrollments VALUES (?,?,?)", pairs)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started, len(pairs)


def run_once(engine: Engine, store: JobStore, data: bytes, rows: int, is_reporting: bool) -> float:
    from tasks.actors.import_users import run_import
    from tasks.data.users import count_users
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.store import new_job_id
    from tasks.uploads import save_upload

    class SilentContext(JobContext):
        """Reporting off: nothing is ever written to Redis."""

        def _flush(self) -> None:
            self._errors = []

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
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    main(args.rows, args.rounds, args.database)
