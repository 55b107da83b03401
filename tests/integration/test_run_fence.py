"""One run per job, on the real Redis and database: a claim is refused while a live worker
holds the job and granted once it stopped beating; a superseded run writes nothing, in Redis
or in the database; a dead worker's Dramatiq messages go back to their queues once."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy.engine import Engine

from tasks.data.db import users
from tasks.jobs.context import JobContext
from tasks.jobs.model import Event, Person, Status
from tasks.jobs.records import JobError, RunLost
from tasks.jobs.rescue import dead_after_s, rescue_dead_workers
from tasks.jobs.store import JobStore
from tasks.uploads import claim_checkpoint, load_checkpoint, save_checkpoint
from tests.support.jobs import new_job

ADA = Person(7, "Ada Lovelace")
NAMESPACE = "jobdeck-dramatiq"


def beat(store: JobStore, worker: str, at: float, broker_id: str = "") -> None:
    store.redis.zadd(store.key("workers"), {worker: at})
    if broker_id:
        store.redis.hset(store.key("workers", "brokers"), worker, broker_id)


def test_claim_is_refused_while_the_holder_beats_and_granted_once_it_stopped(
    store: JobStore,
) -> None:
    job = new_job(store, ADA)
    now = time.time()
    beat(store, "w1", now)
    beat(store, "w2", now)
    alive_since = now - dead_after_s(2)
    assert store.claim_run(job.id, "w1", "run-1", alive_since) == "ok"
    assert store.claim_run(job.id, "w2", "run-2", alive_since) == "held"
    assert store.claim_run(job.id, "w1", "run-3", alive_since) == "held"  # even by itself

    beat(store, "w1", now - 60)  # w1 stopped beating a minute ago
    assert store.claim_run(job.id, "w2", "run-2", alive_since) == "ok"
    store.transition(job.id, Event.START, at=now, run="run-2")
    store.transition(job.id, Event.COMPLETE, at=now, run="run-2")
    assert store.claim_run(job.id, "w2", "run-4", alive_since) == "ended"
    assert store.claim_run("feedfacefeedface", "w2", "run-5", alive_since) == "gone"


def test_a_superseded_run_writes_nothing_to_the_job(store: JobStore) -> None:
    job = store.transition(new_job(store, ADA).id, Event.START, at=time.time())
    old = JobContext(store, job, run="old")
    store.claim_run(job.id, "w1", "old", 0)
    old.advance(3)
    old.error("line 2", "bad email")
    old.save()
    store.claim_run(job.id, "w2", "new", time.time() + 1)  # w1 no longer counts as alive
    before = store.get(job.id)

    with pytest.raises(RunLost):
        store.flush(job.id, {"done": "9"}, [JobError(9, "line 9", "x", time.time())], run="old")
    with pytest.raises(RunLost):
        old.resume(0)
    with pytest.raises(RunLost):
        old.advance(1)  # (the failed resume told the context)
    with pytest.raises(RunLost):
        store.transition(job.id, Event.COMPLETE, at=time.time(), run="old")
    assert old.is_lost
    old.close()  # writes nothing either
    after = store.get(job.id)
    assert (after.status, after.done, after.seq, store.error_count(job.id)) == (
        Status.RUNNING, before.done, before.seq, 1
    )  # fmt: skip


def test_a_superseded_run_commits_no_batch(engine: Engine) -> None:
    with engine.begin() as conn:
        assert claim_checkpoint(conn, "0123456789abcdef", "old") == 0
    with engine.begin() as conn:
        save_checkpoint(conn, "0123456789abcdef", 2000, "old")
    with engine.begin() as conn:
        assert claim_checkpoint(conn, "0123456789abcdef", "new") == 2000

    def old_batch() -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(users), [_user("late@example.com")])
            save_checkpoint(conn, "0123456789abcdef", 4000, "old")

    with pytest.raises(RunLost):
        old_batch()
    with engine.connect() as conn:
        assert load_checkpoint(conn, "0123456789abcdef") == 2000
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == 0


def _user(email: str) -> dict[str, Any]:
    return {"email": email, "name": "Late", "role": "user", "password_hash": None,
            "is_active": True, "created_at": time.time()}  # fmt: skip


def test_a_dead_workers_messages_go_back_to_their_queues_once(
    store: JobStore, redis_url: str
) -> None:
    dead = RedisBroker(url=redis_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    live = RedisBroker(url=redis_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    for n in range(3):
        dead.do_enqueue("jobs", f"m{n}", f"message {n}")
    dead.do_enqueue("mail.DQ", "d0", "a delayed mail")
    assert len(dead.do_fetch("jobs", 2)) == 2  # run and prefetched, unacked
    assert len(dead.do_fetch("mail.DQ", 5)) == 1
    live.do_fetch("jobs", 1)  # the third, held by a live worker
    now = time.time()
    beat(store, "dead-worker", now - 30, dead.broker_id)
    beat(store, "live-worker", now, live.broker_id)
    queues = ["jobs", "jobs.DQ", "mail", "mail.DQ"]

    rescued = rescue_dead_workers(store, NAMESPACE, queues, now, dead_after_s(2))
    assert rescued == [("dead-worker", dead.broker_id, 3)]
    assert sorted(store.redis.lrange(f"{NAMESPACE}:jobs", 0, -1)) == ["m0", "m1"]
    assert store.redis.lrange(f"{NAMESPACE}:mail.DQ", 0, -1) == ["d0"]
    assert not store.redis.keys(f"{NAMESPACE}:__acks__.{dead.broker_id}.*")
    assert store.redis.zscore(f"{NAMESPACE}:__heartbeats__", dead.broker_id) is None
    assert store.redis.scard(f"{NAMESPACE}:__acks__.{live.broker_id}.jobs") == 1
    assert rescue_dead_workers(store, NAMESPACE, queues, now, dead_after_s(2)) == []


def test_a_worker_whose_own_beats_were_late_takes_nobody_for_dead(
    runtime: Any, store: JobStore, redis_url: str
) -> None:
    """After Redis was away every worker's beat is old at once: a reaper whose own beats were
    late waits until the others could beat again before it takes anyone for dead."""
    from tasks.jobs.beacon import WorkerBeacon
    from tasks.jobs.reaper import Reaper
    from tasks.worker import broker  # (declares the jobs queue)

    dead = RedisBroker(url=redis_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    dead.do_enqueue("jobs", "m0", "message 0")
    dead.do_fetch("jobs", 1)
    now = time.time()
    beat(store, "dead-worker", now - 30, dead.broker_id)
    beacon = WorkerBeacon(store, 2, "this-worker")
    reaper = Reaper(runtime, on_end=lambda job: None, broker=broker, beacon=beacon)

    beacon.steady_since = now - 1  # its last beat waited for Redis a second ago
    reaper.sweep(now)
    assert store.redis.llen(f"{NAMESPACE}:jobs") == 0
    beacon.steady_since = now - dead_after_s(runtime.settings.heartbeat_interval_s) - 1
    reaper.sweep(now)
    assert store.redis.lrange(f"{NAMESPACE}:jobs", 0, -1) == ["m0"]
