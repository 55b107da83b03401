"""Benchmark: what a turn costs when many jobs wait (prints figures; not a test).

Fills a private Redis with N queued jobs of 20 owners in line and 8 running ones, then takes
turns (`Line.take`, take_turn.lua: it reads every job in line and every active job) and puts
each job back, beside a same-run baseline: `JobStore.claim_run` on the same jobs, the claim a
message that names its job makes. Also the places of every queued job (`Line.places`, what the
API and the hub read when the line moves).

    .venv/bin/python bench/line_take.py              # 10, 100, 1,000 waiting
    .venv/bin/python bench/line_take.py --quick      # a smoke run
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from common import load_average, median, percentile

OWNERS = 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes, rounds = ([10, 100], 20) if args.quick else ([10, 100, 1000], 200)

    from server.embedded_redis import EmbeddedRedis
    from tasks.jobs.line import Line
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.jobs.store import JobStore

    root = Path(tempfile.mkdtemp(prefix="jobdeck-bench-line-"))
    with EmbeddedRedis(root / "redis", appendonly=False) as server:
        store = JobStore.from_url(server.url, retention_s=86400)
        line = Line(store)
        store.redis.zadd(store.key("workers"), {"w": time.time() + 3600})
        line.announce_threads("w", 8)
        print(f"load average {load_average()}")
        print("waiting  take p50 ms  take p99 ms  claim_run p50 ms (baseline)  places ms")
        for size in sizes:
            store.redis.flushall()
            store.redis.zadd(store.key("workers"), {"w": time.time() + 3600})
            line.announce_threads("w", 8)
            at = time.time() - 1000
            for n in range(8):
                job = store.create(Job(new_job_id(), "import_users", "running", Person(n % OWNERS,
                                   "O"), at, total=1000))  # fmt: skip
                store.transition(job.id, Event.START, at=at)
                store.flush(job.id, {"done": "500"})
            ids = []
            for n in range(size):
                job = store.create(Job(new_job_id(), "import_users", f"queued {n}",
                                       Person(n % OWNERS, "O"), at + n, total=1000))  # fmt: skip
                line.join(job.id, job.created_at)
                ids.append(job.id)
            takes, claims, places = [], [], []
            for _ in range(rounds):
                message = secrets.token_hex(8)
                t0 = time.perf_counter()
                outcome, job_id = line.take(message, "w", secrets.token_hex(8), 0.0, 2)
                takes.append(time.perf_counter() - t0)
                assert outcome == "took", outcome
                line.let_go(message)
                store.redis.hdel(store.key("job", job_id), "runner", "run")
                line.join(job_id, store.get(job_id).created_at)
                t0 = time.perf_counter()
                store.claim_run(job_id, "w", secrets.token_hex(8), 0.0)
                claims.append(time.perf_counter() - t0)
                store.redis.hdel(store.key("job", job_id), "runner", "run")
            for _ in range(max(3, rounds // 20)):
                t0 = time.perf_counter()
                line.places(time.time(), 2, 10.0)
                places.append(time.perf_counter() - t0)
            print(f"{size:>7,}  {median(takes) * 1e3:11.2f}  {percentile(takes, 99) * 1e3:11.2f}"
                  f"  {median(claims) * 1e3:29.2f}  {median(places) * 1e3:9.1f}")  # fmt: skip
        print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
