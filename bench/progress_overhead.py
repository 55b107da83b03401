"""Benchmark: what progress reporting costs an action (prints figures; not a test).

1. One `advance()` call, in nanoseconds (real JobContext, real Redis, real throttle: the
   context publishes at most once per PROGRESS_INTERVAL_MS, so almost every call only counts).
2. N items of about 20 µs of work each (about what validating a CSV row costs), with
   `advance()` after every item, against the same loop without it, alternating, in the same run.

    .venv/bin/python bench/progress_overhead.py            # 200,000 items, 3 rounds
    .venv/bin/python bench/progress_overhead.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import time
from pathlib import Path

from common import load_average, median

ITEM_US = 20.0


def spin(rounds: int) -> int:
    x = 1
    for _ in range(rounds):
        x = (x * 31 + 7) % 1_000_003
    return x


def calibrate(target_us: float) -> int:
    """How many spin rounds take `target_us` of CPU on this machine."""
    rounds = 100
    while True:
        t = time.process_time()
        for _ in range(2000):
            spin(rounds)
        per = (time.process_time() - t) / 2000 * 1e6
        if per > target_us / 4:
            return max(1, int(rounds * target_us / per))
        rounds *= 2


def main(items: int, calls: int, rounds: int) -> None:
    from server.embedded_redis import EmbeddedRedis
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.jobs.store import JobStore

    print(f"progress_overhead: load average {load_average()}")
    root = Path(tempfile.mkdtemp(prefix="jobdeck-progress-"))
    atexit.register(shutil.rmtree, root, True)  # its Redis, database and logs
    with EmbeddedRedis(root / "redis", appendonly=False) as redis_server:
        store = JobStore.from_url(redis_server.url, retention_s=3600)

        def new_context(total: int) -> JobContext:
            job = Job(new_job_id(), "import_users", "bench", Person(1, "Bench"), time.time(),
                      total=total)  # fmt: skip
            store.create(job)
            job = store.transition(job.id, Event.START, at=time.time())
            ctx = JobContext(store, job)
            ctx.start_heartbeat()
            return ctx

        ctx = new_context(calls)
        t = time.process_time_ns()
        for _ in range(calls):
            ctx.advance()
        per_call = (time.process_time_ns() - t) / calls
        ctx.close()
        print(f"  advance(): {per_call:,.0f} ns of CPU per call ({calls:,} calls)")

        spins = calibrate(ITEM_US)
        # CPU time of this process (the heartbeat thread included), in interleaved blocks:
        # other processes on a shared machine then hardly move the comparison.
        block = min(items, 10_000)
        with_, without = [], []
        for n in range(rounds):
            on = off = 0.0
            ctx = new_context(items)
            for _ in range(items // block):
                t = time.process_time()
                for _ in range(block):
                    spin(spins)
                off += time.process_time() - t
                t = time.process_time()
                for _ in range(block):
                    spin(spins)
                    ctx.advance()
                on += time.process_time() - t
            ctx.close()
            with_.append(on)
            without.append(off)
            print(f"  round {n + 1}: CPU without {off:.3f} s, with advance() {on:.3f} s")
        on, off = median(with_), median(without)
        print(f"  item work: {off / items * 1e6:.1f} us of CPU per item, {items:,} items")
        print(f"  loop without advance() (median CPU): {off:.3f} s")
        print(f"  loop with advance() per item (median CPU): {on:.3f} s")
        print(f"  progress overhead: {(on / off - 1) * 100:+.2f}% (target at most 3%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.items, args.calls, args.rounds = 10_000, 20_000, 1
    main(args.items, args.calls, args.rounds)
