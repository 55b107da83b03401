"""Benchmark: seconds from SIGKILL of the worker running an import to the job moving again
(its next committed batch), with 1 worker (started again at once, as after a crash) and with 2
(the other one takes over), under the shipped defaults (no DRAMATIQ_* variable, the shipped
HEARTBEAT_INTERVAL_S). Prints figures; not a test.

Same-run baseline: seconds from starting a worker to a queued job's first committed batch
(booting, fetching, reading the upload): what a restarted worker costs even when nothing has
to be detected. Each round also checks that the killed job ends with every row once.

    .venv/bin/python bench/crash_recovery.py [ROWS] [ROUNDS]
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.embedded_redis import EmbeddedRedis  # noqa: E402

if TYPE_CHECKING:
    from tasks.jobs.model import Job
    from tasks.jobs.store import JobStore

BAD_ROWS = 100
TUNINGS = ("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "DRAMATIQ_MAINTENANCE_CHANCE", "HEARTBEAT_INTERVAL_S")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`dramatiq tasks.worker` as the Procfile runs it, in its own process group."""
    args = [str(Path(sys.executable).parent / "dramatiq"), "tasks.worker", "--processes", "1"]
    args += ["--threads", "4", "--queues", "jobs", "mail"]
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(store: JobStore, job_id: str, ok: Callable[[Job], bool], timeout_s: float) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        job = store.get(job_id)
        if ok(job):
            return job
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} stuck: {job}")
        time.sleep(0.02)  # a polling interval


def holder_group(store: JobStore, job_id: str) -> int:
    """The process group (the `dramatiq` parent) of the worker that runs the job."""
    runner = store.redis.hget(store.key("job", job_id), "runner")
    return os.getpgid(int(str(runner).split(":")[1]))


def main(rows: int, rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="jobdeck-bench-"))
    with EmbeddedRedis(root / "redis", appendonly=False) as redis_server:
        for name in TUNINGS:
            os.environ.pop(name, None)
        os.environ.update(
            REDIS_URL=redis_server.url,
            DATABASE_URL=f"sqlite:///{root / 'jobdeck.sqlite3'}",
            JOBDECK_ENV="test",
            JOBDECK_VAR=str(root / "var"),
        )
        env = dict(os.environ)
        from tasks.data.courses import add_course
        from tasks.data.db import create_schema
        from tasks.demo import COURSES, demo_csv
        from tasks.jobs.model import Person, Status
        from tasks.launch import launch_import
        from tasks.runtime import Runtime
        from tasks.settings import Settings

        runtime = Runtime(Settings.from_environ(os.environ))  # as the web process has it
        create_schema(runtime.engine)
        with runtime.engine.begin() as conn:
            for code, title in COURSES:
                add_course(conn, code, title)
        store = runtime.store
        owner = Person(1, "Bench")
        print(f"import of {rows:,} rows, killed at 20 %, {rounds} rounds, load {os.getloadavg()}")
        figures: dict[str, list[float]] = {"baseline": [], "1 worker": [], "2 workers": []}
        for n in range(rounds):
            for count in (1, 2):
                prefix = f"r{n}w{count}-"
                body = "".join(demo_csv(rows, BAD_ROWS, seed=n)).partition("\n")
                data = (body[0] + "\n" + "".join(prefix + line for line in
                        body[2].splitlines(keepends=True))).encode()  # fmt: skip
                job = launch_import(runtime, owner, "superadmin", f"{prefix}.csv", [data])
                log = root / f"worker-{prefix}.log"
                booted = time.monotonic()
                started = [start_worker(env, log) for _ in range(count)]
                wait_for(store, job.id, lambda j: j.done > 0, 120)
                if count == 1:
                    figures["baseline"].append(time.monotonic() - booted)
                wait_for(store, job.id, lambda j: j.done >= rows * 0.2, 300)
                group = holder_group(store, job.id)
                victim = next(p for p in started if p.pid == group)
                kill(victim)
                killed_at = time.monotonic()
                done = store.get(job.id).done
                if count == 1:
                    started.append(start_worker(env, log))
                wait_for(store, job.id, lambda j, done=done: j.done > done, 120)  # type: ignore[misc]
                moved_s = time.monotonic() - killed_at
                figures["1 worker" if count == 1 else "2 workers"].append(moved_s)
                ended = wait_for(store, job.id, lambda j: j.is_final, 600)
                exact = ended.status is Status.COMPLETED and ended.done == rows
                exact = exact and store.error_count(job.id) == BAD_ROWS
                for process in started:
                    kill(process)
                print(f"  round {n + 1}, {count} worker(s): moved again {moved_s:5.1f} s after "
                      f"SIGKILL; ended {ended.status.value}, exact: {exact}")  # fmt: skip
                if not exact:
                    raise SystemExit(f"job {job.id} did not end exactly: {ended}")
        for name, values in figures.items():
            label = {"baseline": "baseline: worker start -> first batch"}.get(
                name, f"SIGKILL -> moving again, {name}"
            )
            print(f"{label:42} median {statistics.median(values):5.1f} s, "
                  f"max {max(values):5.1f} s")  # fmt: skip


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 300_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
