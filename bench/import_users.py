"""Benchmark: rows per second importing users with their courses, beside a same-run ceiling,
and what progress reporting costs (prints figures; not a test).

Each round writes, into a fresh schema of the database given (a fresh SQLite file by default):

- the **ceiling**: the file's valid users and their enrollments written by the plainest fast
  path, with no checks at all (PostgreSQL: COPY into both tables; SQLite: one executemany per
  table in one transaction), ids made up here;
- the import (`run_import`, the actor's whole body, without Dramatiq) with reporting off, and
  with reporting on (progress and errors to a private Redis started here); for the latter,
  what reporting itself costs: the CPU time of the context's calls and heartbeat, and of
  Redis, against the import's time (a figure that the machine's noise does not swamp, as it
  does the on/off difference of wall times);
- a check of the same file (`mode` "check": it writes nothing), and the revert of the
  reporting-on import (`run_revert`: every user it created removed), both reporting on.

Then enroll_users on 100,000 users x 3 courses (`--enroll N` users; 0 skips it), beside the
same pairs written by COPY/executemany.

With `--viewers N`, a web process as the Procfile runs it serves N Superadmins on View All
(sockets opened by this process, on the same Redis) during each reporting-on import, and the
lag from an event's publication (its `at`) to its state's arrival on a socket is printed:
p50, p99 and max, beside the same figures while one small job advances and nothing imports.
(The web process then shares the cores with the reporting-on import only: read the overhead
of progress reporting from a run without viewers.)

    .venv/bin/python bench/import_users.py [--rows N] [--rounds N] [--enroll N] [--viewers N]
        [--database postgresql://postgres@127.0.0.1:5432/DB]   # that database's tables are dropped
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    STATE,
    WebProcess,
    load_average,
    make_superadmins,
    median,
    percentile,
    rss_kb,
    stack_env,
)

from server.embedded_redis import EmbeddedRedis  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tasks.jobs.store import JobStore

BAD_ROWS = 500
# Each reporting-on import's reporting cost, as a share of its time (`metered_context`).
REPORTING_COST: list[float] = []


def main(rows: int, rounds: int, database: str | None, enrollment_users: int, viewers: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="jobdeck-bench-"))
    with (
        EmbeddedRedis(root / "redis", appendonly=False) as redis_server,
        contextlib.ExitStack() as stack,
    ):
        # The broker module reads these when the actors are imported.
        os.environ.update(
            REDIS_URL=redis_server.url,
            DATABASE_URL=f"sqlite:///{root / 'unused.sqlite3'}",
            JOBDECK_ENV="test",
            JOBDECK_VAR=str(root / "var"),
        )
        import tasks.worker  # noqa: F401  (the actor modules bind to the worker's broker)
        from tasks.demo import demo_csv
        from tasks.jobs.store import JobStore

        store = JobStore.from_url(redis_server.url, retention_s=3600)
        data = "".join(demo_csv(rows, BAD_ROWS, seed=1)).encode()
        kind = "PostgreSQL" if database and database.startswith("postgresql") else "SQLite"
        print(
            f"importing {rows:,} rows ({len(data) / 1e6:.1f} MB, {BAD_ROWS} bad) on {kind}, "
            f"{rounds} rounds; load average {load_average()}"
        )
        watch = None
        if viewers:
            watch = stack.enter_context(Hub(root, redis_server.url, viewers))
            with watch.watching("the hub, one small job, no import"):
                advance_slowly(store, seconds=5)
        timings: dict[str, list[float]] = {"ceiling": [], "off": [], "on": [], "check": []}
        timings["revert"] = []
        written = rows - BAD_ROWS
        for n in range(rounds):
            for label in ("ceiling", "off", "on", "check"):
                url = database or f"sqlite:///{root / f'run-{n}-{label}.sqlite3'}"
                engine = fresh_engine(url)
                if label == "ceiling":
                    elapsed, pairs = write_ceiling(engine, data)
                elif label == "on" and watch is not None:
                    with watch.watching("the hub during this import"):
                        elapsed, job_id = run_once(engine, store, data, rows, True, label)
                else:
                    elapsed, job_id = run_once(engine, store, data, rows, label != "off", label)
                timings[label].append(elapsed)
                print(
                    f"  round {n + 1}, {label:<7}: {elapsed:6.2f} s {rows / elapsed:9,.0f} rows/s"
                )
                if label == "on":
                    elapsed = revert_once(engine, store, job_id, written)
                    timings["revert"].append(elapsed)
                    print(f"  round {n + 1}, revert : {elapsed:6.2f} s "
                          f"{written / elapsed:9,.0f} rows/s")  # fmt: skip
                engine.dispose()
        ceiling, on, off, check, revert = (
            statistics.median(timings[k]) for k in ("ceiling", "on", "off", "check", "revert")
        )
        print(f"enrollments written per import: {pairs:,}")
        print(f"rows/s (ceiling, median):       {rows / ceiling:,.0f}")
        print(f"rows/s (reporting on, median):  {rows / on:,.0f}")
        print(f"rows/s (reporting off, median): {rows / off:,.0f}")
        print(f"import / ceiling (reporting on): {ceiling / on:.2f}")
        print(f"enrollments/s (reporting on):   {pairs / on:,.0f}")
        print(f"progress reporting overhead: {on / off:.3f}x ({(on / off - 1) * 100:+.1f}%) "
              "on against off (wall time: this machine's noise is +-10 %)")  # fmt: skip
        print(f"progress reporting's own cost: {statistics.median(REPORTING_COST) * 100:.1f} % "
              "of the import's time (median: the CPU time of its calls, of its heartbeat and "
              "of Redis, against the import's wall time)")  # fmt: skip
        print(f"rows/s (check, median):         {rows / check:,.0f}  (check / import: "
              f"{on / check:.2f}x as fast)")  # fmt: skip
        print(f"rows/s (revert, median):        {written / revert:,.0f}  (of the {written:,} "
              "rows the import wrote)")  # fmt: skip
        print(f"load average after: {load_average()}")
        if enrollment_users:
            enroll_rounds(store, root, database, enrollment_users, rounds)


class Hub:
    """A web process as the Procfile runs it on the bench's Redis, and `viewers` signed-in
    Superadmins whose View All sockets this process opens for each `watching` block."""

    def __init__(self, root: Path, redis_url: str, viewers: int) -> None:
        from server.embedded_redis import free_port

        port, secret_key = free_port(), secrets.token_urlsafe(32)
        env = stack_env(root, redis_url, port, secret_key)
        self.cookies = make_superadmins(env["DATABASE_URL"], redis_url, secret_key, viewers)
        self.web = WebProcess(env, port, root / "web.log")
        self.redis_url = redis_url

    def __enter__(self) -> Hub:
        self.web.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.web.stop()

    @contextlib.contextmanager
    def watching(self, label: str) -> Any:
        """While the block runs: every job state's lag from publication to each socket."""
        import redis

        published: dict[tuple[str, int], float] = {}
        receipts: list[tuple[str, int, float]] = []
        stop = threading.Event()
        opened = threading.Barrier(2)
        subscriber = redis.Redis.from_url(self.redis_url).pubsub(ignore_subscribe_messages=True)
        subscriber.subscribe("jobdeck:events")

        def listen() -> None:
            while not stop.is_set():
                message = subscriber.get_message(timeout=0.1)
                if message is None:
                    continue
                event = json.loads(message["data"])
                if event.get("type") == "job" and "at" in event:
                    key = (event["job"]["id"], int(event["job"].get("done", 0)))
                    published.setdefault(key, float(event["at"]))

        async def read(url: str, cookie: str) -> None:
            from websockets.asyncio.client import connect

            async with connect(url, additional_headers={"Cookie": cookie, "Origin": origin}) as ws:
                await ws.recv()  # the snapshot: states published before the block began
                seen: set[tuple[str, int]] = set()
                while not stop.is_set():
                    try:
                        frame = await asyncio.wait_for(ws.recv(decode=False), 0.2)
                    except TimeoutError:
                        continue
                    at = time.time()
                    for match in STATE.finditer(frame):
                        key = (match.group(1).decode(), int(match.group(2).replace(b",", b"")))
                        if key not in seen:
                            seen.add(key)
                            receipts.append((*key, at))

        async def sockets() -> None:
            url = self.web.base_url.replace("http", "ws") + "/ws/jobs?tab=all"
            readers = [asyncio.create_task(read(url, cookie)) for cookie in self.cookies]
            await asyncio.sleep(1)  # the sockets open and take their snapshots
            opened.wait()
            await asyncio.gather(*readers)

        origin = self.web.base_url
        threads = [
            threading.Thread(target=listen),
            threading.Thread(target=asyncio.run, args=(sockets(),)),
        ]
        for thread in threads:
            thread.start()
        opened.wait()
        try:
            yield
        finally:
            time.sleep(1)  # the last ticks reach the sockets
            stop.set()
            for thread in threads:
                thread.join()
            subscriber.close()
        lags = [(at - published[(job, done)]) * 1000 for job, done, at in receipts
                if (job, done) in published]  # fmt: skip
        if lags:
            print(f"    {label}, {len(self.cookies)} viewers: publish -> socket p50 "
                  f"{median(lags):.0f} ms, p99 {percentile(lags, 99):.0f} ms, max "
                  f"{max(lags):.0f} ms ({len(lags):,} states)")  # fmt: skip
        else:
            print(f"    {label}: no state reached a socket")


def advance_slowly(store: JobStore, seconds: float) -> None:
    """One job of 1,000 items, advanced by one every 10 ms for `seconds`, reporting on."""
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id

    job = store.create(Job(new_job_id(), "import_users", "a small job", Person(1, "Bench"),
                           time.time(), total=1000))  # fmt: skip
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    until = time.monotonic() + seconds
    while time.monotonic() < until and ctx.done < 1000:
        ctx.advance(1)
        time.sleep(0.01)
    ctx.close()


def enroll_rounds(
    store: JobStore, root: Path, database: str | None, people: int, rounds: int
) -> None:
    """enroll_users on `people` users x 3 courses, beside COPY/executemany of the same pairs."""
    from tasks.demo import COURSES

    codes = [code for code, _ in COURSES]
    lines = ["email,course"] + [
        f"person{i}@example.org,{codes[(i + k) % len(codes)]}"
        for i in range(people)
        for k in range(3)
    ]
    data = ("\n".join(lines) + "\n").encode()
    pairs = 3 * people
    print(
        f"enrolling {people:,} users x 3 courses ({pairs:,} pairs); load average {load_average()}"
    )
    timings: dict[str, list[float]] = {"ceiling": [], "enroll": []}
    for n in range(rounds):
        for label in timings:
            url = database or f"sqlite:///{root / f'enroll-{n}-{label}.sqlite3'}"
            engine = fresh_engine(url)
            add_people(engine, people)
            if label == "ceiling":
                elapsed = write_pairs(engine, people, len(codes))
            else:
                elapsed = run_enrollment_once(engine, store, data, pairs)
            engine.dispose()
            timings[label].append(elapsed)
            rate = pairs / elapsed
            print(f"  round {n + 1}, {label:<7}: {elapsed:6.2f} s {rate:9,.0f} pairs/s")
    ceiling, enroll = (statistics.median(timings[k]) for k in timings)
    print(f"pairs/s (ceiling, median):      {pairs / ceiling:,.0f}")
    print(f"pairs/s (enroll_users, median): {pairs / enroll:,.0f}")
    print(f"enroll_users / ceiling: {ceiling / enroll:.2f}; load average after: {load_average()}")


def add_people(engine: Engine, people: int) -> None:
    """The users to enroll, inserted as a platform's users come (not by COPY: PostgreSQL's COPY
    writes through a small ring of buffers, and the enrollments' foreign-key checks would then
    read every user's page back into the buffer cache, for the ceiling as for the job: 80,000
    against 111,000 pairs a second for the ceiling here)."""
    import sqlalchemy as sa

    from tasks.data.db import users

    now = time.time()
    rows = [
        {"email": f"person{i}@example.org", "name": f"Person {i}", "role": "user",
         "is_active": True, "created_at": now}
        for i in range(people)
    ]  # fmt: skip
    with engine.begin() as conn:
        for start in range(0, people, 10_000):
            conn.execute(sa.insert(users), rows[start : start + 10_000])


def write_pairs(engine: Engine, people: int, courses: int) -> float:
    """Seconds to write the same pairs the plainest fast way (ids as add_people made them)."""
    import sqlalchemy as sa

    from tasks.data.db import users

    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(users.c.id))).scalar_one()
    now = time.time()
    rows = [(first + i, 1 + (i + k) % courses, now) for i in range(people) for k in range(3)]
    started = time.perf_counter()
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = "user_id, course_id, enrolled_at"
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY enrollments ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO enrollments ({columns}) VALUES (?, ?, ?)", rows)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def run_enrollment_once(engine: Engine, store: JobStore, data: bytes, pairs: int) -> float:
    from tasks.actors.enroll_users import run_enrollment
    from tasks.data.courses import count_enrollments
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.uploads import save_upload

    params = {"rows": pairs, "owner_role": "superadmin"}
    job = Job(new_job_id(), "enroll_users", "benchmark", Person(1, "Bench"), time.time(),
              params=params, total=pairs)  # fmt: skip
    with engine.begin() as conn:
        save_upload(conn, job.id, [data])
    store.create(job)
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    started = time.perf_counter()
    ctx.start_heartbeat()
    run_enrollment(ctx, engine, job.id, params)
    ctx.close()
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        if count_enrollments(conn) != pairs:
            raise SystemExit(f"expected {pairs} enrollments, found {count_enrollments(conn)}")
    return elapsed


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
            cursor.executemany(
                "INSERT INTO enrollments (user_id, course_id, enrolled_at) VALUES (?,?,?)", pairs
            )
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started, len(pairs)


class RssSampler:
    """This process's resident memory every 50 ms while the block runs: start, peak, end."""

    def __init__(self) -> None:
        import threading

        self.start_mb = self.peak_mb = self.end_mb = rss_kb(os.getpid()) / 1024
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak_mb = max(self.peak_mb, rss_kb(os.getpid()) / 1024)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.end_mb = rss_kb(os.getpid()) / 1024
        self.peak_mb = max(self.peak_mb, self.end_mb)


# What an action calls on its context (none of them calls another).
REPORTING = ("resume", "set_total", "error", "set_outcome", "save", "advance")


def metered_context(store: JobStore, job: Any) -> Any:
    """A JobContext (reporting on) that counts what its reporting costs: the CPU time of its
    calls on the import's own threads and of its heartbeat thread, and the wall time of those
    calls (an upper bound: it includes the waits for the GIL while the import's other thread
    works, and for Redis's answers)."""
    from tasks.jobs.context import JobContext

    class MeteredContext(JobContext):
        calls_s = calls_cpu_s = heartbeat_cpu_s = 0.0

        def _beat_loop(self) -> None:
            super()._beat_loop()
            self.heartbeat_cpu_s = time.thread_time()

    lock = threading.Lock()  # the import's two threads both report

    def metered(name: str) -> Any:
        method = getattr(JobContext, name)

        def call(self: MeteredContext, *args: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return method(self, *args)
            finally:
                with lock:
                    self.calls_s += time.perf_counter() - started
                    self.calls_cpu_s += time.thread_time() - cpu

        return call

    for name in REPORTING:
        setattr(MeteredContext, name, metered(name))
    return MeteredContext(store, job)


def redis_cpu_s(store: JobStore) -> float:
    """The Redis server's CPU time so far (user and system), as it reports it."""
    cpu = store.redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def run_once(
    engine: Engine, store: JobStore, data: bytes, rows: int, is_reporting: bool, label: str = ""
) -> tuple[float, str]:
    from tasks.actors.import_users import run_import
    from tasks.data.users import count_users
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.uploads import save_upload

    class SilentContext(JobContext):
        """Reporting off: nothing is ever written to Redis."""

        def _flush(self) -> None:
            self._errors = []

    params = {"rows": rows, "on_existing": "skip", "owner_role": "superadmin", "filename": "x"}
    is_check = label == "check"
    if is_check:
        params["mode"] = "check"
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
    ctx = metered_context(store, job) if is_reporting else SilentContext(store, job)
    redis_before = redis_cpu_s(store)
    started = time.perf_counter()
    if is_reporting:
        ctx.start_heartbeat()
    with RssSampler() as rss:
        run_import(ctx, engine, job.id, params)
    if is_reporting:
        ctx.close()
    elapsed = time.perf_counter() - started
    if is_reporting:
        redis_s = redis_cpu_s(store) - redis_before
        cost = ctx.calls_cpu_s + ctx.heartbeat_cpu_s + redis_s
        if not is_check:
            REPORTING_COST.append(cost / elapsed)
        print(f"    reporting's CPU: {ctx.calls_cpu_s * 1000:.0f} ms in its calls (their wall "
              f"time {ctx.calls_s * 1000:.0f} ms), {ctx.heartbeat_cpu_s * 1000:.0f} ms "
              f"heartbeat, {redis_s * 1000:.0f} ms Redis: {cost / elapsed * 100:.1f} % of the "
              f"import's {elapsed:.2f} s")  # fmt: skip
    print(f"    this process's RSS: start {rss.start_mb:.0f} MB, peak {rss.peak_mb:.0f} MB, "
          f"end {rss.end_mb:.0f} MB")  # fmt: skip
    created = count_users(engine)
    if created != (0 if is_check else rows - BAD_ROWS):
        raise SystemExit(f"expected {rows - BAD_ROWS} users, found {created}")
    if is_reporting and store.error_count(job.id) != BAD_ROWS:
        raise SystemExit(f"expected {BAD_ROWS} errors, found {store.error_count(job.id)}")
    if is_check and store.get(job.id).outcome != {
        "create": rows - BAD_ROWS, "update": 0, "unchanged": 0, "error": BAD_ROWS,
    }:  # fmt: skip
        raise SystemExit(f"unexpected outcome {store.get(job.id).outcome}")
    return elapsed, job.id


def revert_once(engine: Engine, store: JobStore, source_id: str, written: int) -> float:
    """Seconds to revert the import `source_id` (reporting on); checks that it removed all."""
    from tasks.actors.revert_job import run_revert
    from tasks.data.users import count_users
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id

    params = {"rows": written, "source_kind": "import_users", "owner_role": "superadmin"}
    job = Job(new_job_id(), "revert_job", "benchmark", Person(1, "Bench"), time.time(),
              params=params, total=written, source_id=source_id)  # fmt: skip
    store.create(job)
    ctx = JobContext(store, store.transition(job.id, Event.START, at=time.time()))
    started = time.perf_counter()
    ctx.start_heartbeat()
    run_revert(ctx, engine, job.id, params, source_id)
    ctx.close()
    elapsed = time.perf_counter() - started
    if count_users(engine) != 0 or ctx.outcome != {"reverted": written, "kept": 0, "error": 0}:
        raise SystemExit(f"revert left {count_users(engine)} users, outcome {ctx.outcome}")
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--enroll", type=int, default=100_000, help="users enrolled in 3 courses each (0: skip)"
    )
    parser.add_argument(
        "--viewers", type=int, default=0, help="Superadmins on View All during imports (0: none)"
    )
    args = parser.parse_args()
    main(args.rows, args.rounds, args.database, args.enroll, args.viewers)
