"""Benchmark: reading history with a full store (prints figures; not a test).

10,000 finished jobs (1% failed) with 100,000 errors between them, plus 150 running jobs, in a
private Redis, served by one web process as in the Procfile. Prints the API's page of 50 jobs
(p50, p99), the View All page with 200 jobs (its size and time), the page's status filter
and searches (through the status and word indexes), and /metrics (jobs counted by status).

    .venv/bin/python bench/history.py            # 10,000 jobs, 100,000 errors
    .venv/bin/python bench/history.py --jobs 100000 --errors 100000
    .venv/bin/python bench/history.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    WebProcess,
    exit_on_sigterm,
    load_average,
    make_superadmins,
    median,
    percentile,
    stack_env,
)

OWNERS = 20


def fill(redis_url: str, finished: int, errors: int, running: int) -> None:
    """Finished jobs written as the store writes them (record, indexes, ledger, expiry)."""
    import redis

    from tasks.jobs.model import Job, Person, Status, to_fields
    from tasks.jobs.records import JobError, new_job_id
    from tasks.jobs.search import text_of
    from tasks.jobs.store import JobStore

    store = JobStore.from_url(redis_url, retention_s=30 * 86400)
    client = redis.Redis.from_url(redis_url)
    per_job = errors // max(1, finished)
    start = time.time() - finished * 10
    pipe = client.pipeline(transaction=False)
    for n in range(finished):
        created = start + n * 10
        status = Status.FAILED if n % 100 == 7 else Status.COMPLETED
        job = Job(new_job_id(), "import_users", f"Import users from class-{n}.csv (1,000 rows)",
                  Person(1 + n % OWNERS, f"Owner {n % OWNERS}"), created, total=1000, done=1000,
                  status=status, started_at=created + 1, finished_at=created + 9,
                  error_count=per_job, seq=4,
                  message="The file ended early." if status is Status.FAILED else "")  # fmt: skip
        key = store.key("job", job.id)
        pipe.hset(key, mapping=to_fields(job))  # type: ignore[arg-type]
        pipe.zadd(store.key("jobs"), {job.id: created})
        pipe.zadd(store.key("jobs", "owner", job.owner.id), {job.id: created})
        pipe.zadd(store.key("jobs", "status", job.status.value), {job.id: created})
        store.words.index(pipe, job.id, created, text_of(job.description, job.owner.name))
        expires = job.expires_at(store.retention_s)
        pipe.zadd(store.key("jobs", "expiry"), {f"{job.id}:{job.owner.id}": expires})
        if per_job:
            ledger = {
                JobError(i, f"row {i}", "This email address is not valid.", created).to_json(): i
                for i in range(per_job)
            }
            pipe.zadd(key + ":errors", ledger)
        if n % 500 == 499:
            pipe.execute()
    pipe.execute()
    client.set(store.key("jobs", "status", "built"), "1")  # the indexes were written above
    client.set(store.key("jobs", "words", "built"), "1")
    client.set(store.key("jobs", "trigrams", "built"), "1")
    client.set(store.key("jobs", "pairs", "built"), "1")
    for n in range(running):
        owner = Person(1 + n % OWNERS, f"Owner {n % OWNERS}")
        job = Job(new_job_id(), "import_users", f"Import users from live-{n}.csv", owner,
                  time.time(), total=1000)  # fmt: skip
        store.create(job)


def timed(http: Any, url: str, n: int) -> tuple[list[float], Any]:
    times, response = [], None
    for _ in range(n):
        t = time.perf_counter()
        response = http.get(url)
        times.append((time.perf_counter() - t) * 1000)
        response.raise_for_status()
    return times, response


def main(finished: int, errors: int, n: int, running: int) -> None:
    import httpx

    from server.embedded_redis import EmbeddedRedis, free_port

    exit_on_sigterm()
    print(f"history: {finished:,} finished jobs, {errors:,} errors, {running} running; "
          f"load average {load_average()}")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="jobdeck-history-"))
    atexit.register(shutil.rmtree, root, True)  # its Redis, database and logs
    secret_key = secrets.token_urlsafe(32)
    with EmbeddedRedis(root / "redis", appendonly=False) as redis_server:
        port = free_port()
        env = stack_env(root, redis_server.url, port, secret_key)
        cookie = make_superadmins(env["DATABASE_URL"], redis_server.url, secret_key, 1)[0]
        t = time.perf_counter()
        fill(redis_server.url, finished, errors, running)
        print(f"  store filled in {time.perf_counter() - t:.1f} s")
        web = WebProcess(env, port, root / "web.log").start()
        try:
            headers = {"cookie": cookie}
            with httpx.Client(base_url=web.base_url, headers=headers, timeout=120) as http:
                rows = [
                    ("API: page of 50 jobs", "/api/jobs?scope=all&limit=50"),
                    ("API: page of 200 jobs", "/api/jobs?scope=all&limit=200"),
                    ("API: a later page (cursor)", None),
                    ("API: 50 failed jobs (1% of them)", "/api/jobs?scope=all&status=failed"),
                    ("API: a job's 50 errors", None),
                    (f"View All page ({running} running + 50)", "/admin/background-jobs?tab=all"),
                    ("page: status filter failed", "/admin/background-jobs?tab=all&status=failed"),
                    ("page: search, rare match", "/admin/background-jobs?tab=all&q=class-77.csv"),
                    ("page: search, no match", "/admin/background-jobs?tab=all&q=nothing-here"),
                    ("page: search, a word's start", "/admin/background-jobs?tab=all&q=class-77"),
                    ("page: search, inside a word", "/admin/background-jobs?tab=all&q=lass"),
                    ("page: search, owner's name", "/admin/background-jobs?tab=all&q=Owner+7"),
                    ("API: 50 failed jobs, page 2", None),
                    ("API: search, rare match", "/api/jobs?scope=all&q=class-77.csv"),
                    ("API: search, a word's start", "/api/jobs?scope=all&q=class-77"),
                    ("API: search, inside a word", "/api/jobs?scope=all&q=lass"),
                    ("API: search, owner's name", "/api/jobs?scope=all&q=Owner+7"),
                    ("/metrics (jobs by status)", "/metrics"),
                ]
                first = http.get("/api/jobs?scope=all&limit=50").json()
                done = http.get("/api/jobs?scope=all&limit=1&status=completed").json()
                failed = http.get("/api/jobs?scope=all&status=failed").json()
                any_job = done["jobs"][0]["id"]
                print(f"  {'request':<36} {'p50 ms':>8} {'p99 ms':>8} {'KB':>8} {'gzip KB':>8}")
                for label, url in rows:
                    if label.startswith("API: a later"):
                        url = f"/api/jobs?scope=all&limit=50&cursor={first['cursor']}"
                    if label.startswith("API: a job's"):
                        url = f"/api/jobs/{any_job}/errors?limit=50"
                    if label.startswith("API: 50 failed jobs, page 2"):
                        url = "/api/jobs?scope=all&status=failed"  # a smoke run has one page
                        if failed["cursor"]:
                            url += f"&cursor={failed['cursor']}"
                    assert url is not None
                    times, response = timed(http, url, n)
                    size = len(response.content)
                    packed = len(gzip.compress(response.content))
                    print(f"  {label:<36} {median(times):8.1f} {percentile(times, 99):8.1f} "
                          f"{size / 1024:8.1f} {packed / 1024:8.1f}")  # fmt: skip
                page = http.get("/admin/background-jobs?tab=all").text
                jobs = page.count('class="job"')
                print(
                    f"  View All page: {jobs} jobs, "
                    f"{len(page.encode()) / 1024:.0f} KB (target at most 150 KB)"
                )
        finally:
            web.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--finished", "--jobs", type=int, default=10_000)
    parser.add_argument("--errors", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--running", type=int, default=150)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.finished, args.errors, args.requests, args.running = 100, 500, 2, 20
    main(args.finished, args.errors, args.requests, args.running)
