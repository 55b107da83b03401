"""The job context with the real store: throttled progress, the ledger, abort, heartbeat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tasks.jobs.context import ERRORS_PER_WRITE, AbortRequested, JobContext
from tasks.jobs.events import JobChanged, decode
from tasks.jobs.model import Event, Job, Person, Status
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore

ADA = Person(7, "Ada Lovelace")
ROOT = Person(1, "Root")


def running_job(store: JobStore) -> Job:
    job = store.create(
        Job(
            id=new_job_id(),
            kind="import_users",
            description="Import users from staff-2026.csv (10,000 rows)",
            owner=ADA,
            created_at=time.time(),
        )
    )
    return store.transition(job.id, Event.START, at=time.time())


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.005)


@pytest.fixture
def contexts() -> Iterator[list[JobContext]]:
    """Closes every context a test opened, so that no heartbeat thread outlives it."""
    opened: list[JobContext] = []
    yield opened
    for ctx in opened:
        ctx.close()


def open_context(
    contexts: list[JobContext], store: JobStore, job: Job, **options: object
) -> JobContext:
    ctx = JobContext(store, job, **options)  # type: ignore[arg-type]
    contexts.append(ctx)
    return ctx


def job_events(pubsub: object, quiet_s: float = 0.3) -> list[Job]:
    snapshots = []
    while (message := pubsub.get_message(True, timeout=quiet_s)) is not None:  # type: ignore[attr-defined]
        event = decode(message["data"])
        assert isinstance(event, JobChanged)
        snapshots.append(event.job)
    return snapshots


@pytest.fixture
def pubsub(store: JobStore) -> Iterator[object]:
    pubsub = store.redis.pubsub()
    pubsub.subscribe(store.channel)
    assert pubsub.get_message(timeout=5) is not None
    yield pubsub
    pubsub.close()


# -- progress ------------------------------------------------------------------------------


def test_advance_publishes_a_handful_of_events_yet_close_writes_the_exact_done(
    store: JobStore, pubsub: object, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    job_events(pubsub, quiet_s=0.05)
    ctx = open_context(contexts, store, job, interval_ms=200, heartbeat_s=2.0)
    ctx.start_heartbeat()
    ctx.set_total(10_000)

    began = time.monotonic()
    for _ in range(10_000):
        ctx.advance()
    elapsed = time.monotonic() - began
    ctx.close()

    snapshots = job_events(pubsub)
    assert 2 <= len(snapshots) <= elapsed / 0.2 + 4, (len(snapshots), elapsed)
    assert [s.seq for s in snapshots] == list(range(snapshots[0].seq, snapshots[-1].seq + 1))
    assert snapshots[-1].done == 10_000
    stored = store.get(job.id)
    assert (stored.done, stored.checkpoint, stored.total) == (10_000, 10_000, 10_000)
    assert stored.percent == 100


def test_a_held_update_is_published_without_another_advance(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=100, heartbeat_s=30)
    ctx.start_heartbeat()
    ctx.advance()
    ctx.advance()  # inside the interval: held back, not lost

    wait_for(lambda: store.get(job.id).done == 2, timeout_s=2)


def test_set_total_is_written_at_once(store: JobStore, contexts: list[JobContext]) -> None:
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=200)
    ctx.set_total(500)
    assert store.get(job.id).total == 500
    assert store.get(job.id).percent == 0
    with pytest.raises(ValueError, match="total must be >= 0, got -1"):
        ctx.set_total(-1)


def test_context_of_a_redelivered_job_starts_from_its_checkpoint(store: JobStore) -> None:
    job = running_job(store)
    store.flush(job.id, {"done": "40", "checkpoint": "40"})
    ctx = JobContext(store, store.get(job.id), interval_ms=200)
    assert ctx.done == 40
    ctx.advance(2)
    ctx.close()
    assert store.get(job.id).done == 42


# -- errors --------------------------------------------------------------------------------


def test_errors_are_written_on_save_with_their_position(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=200)
    ctx.error("line 2", "email is empty")
    assert store.error_count(job.id) == 0, "nothing is written before save()"

    ctx.save()
    ctx.advance()
    ctx.error("line 3", "'bob@' is not a valid email address")
    ctx.save()

    ledger = store.errors(job.id).items
    assert [(e.position, e.item, e.message) for e in ledger] == [
        (0, "line 2", "email is empty"),
        (1, "line 3", "'bob@' is not a valid email address"),
    ]
    assert store.get(job.id).error_count == 2


def test_many_errors_are_written_in_batches_without_save(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=200)
    for i in range(ERRORS_PER_WRITE + 10):
        ctx.error(f"line {i + 2}", "name is empty")
    assert store.error_count(job.id) == ERRORS_PER_WRITE
    ctx.close()
    assert store.get(job.id).error_count == ERRORS_PER_WRITE + 10


def test_close_writes_errors_not_yet_saved(store: JobStore) -> None:
    job = running_job(store)
    ctx = JobContext(store, job, interval_ms=200)
    for i in range(3):
        ctx.error(f"line {i + 2}", "name is empty")
        ctx.advance()
    ctx.close()
    assert store.get(job.id).error_count == 3
    assert [e.position for e in store.errors(job.id).items] == [0, 1, 2]


# -- abort ---------------------------------------------------------------------------------


def test_abort_stops_advance_within_one_interval(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    interval_s = 0.2
    ctx = open_context(contexts, store, job, interval_ms=int(interval_s * 1000))
    ctx.start_heartbeat()
    ctx.advance()

    store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)
    asked = time.monotonic()
    with pytest.raises(AbortRequested):
        for _ in range(100_000):
            ctx.advance()
            time.sleep(0.001)  # one item's work
    stopped_after = time.monotonic() - asked

    assert stopped_after <= interval_s + 0.15, stopped_after
    ctx.close()
    stored = store.get(job.id)
    assert stored.status is Status.ABORTING
    assert stored.done == ctx.done, "every committed item is counted, nothing after"


def test_heartbeat_notices_an_abort_while_no_item_finishes(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=50, heartbeat_s=0.1)
    ctx.start_heartbeat()

    store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)

    wait_for(lambda: ctx.is_abort_requested, timeout_s=2)
    with pytest.raises(AbortRequested):
        ctx.advance()


def test_context_of_an_aborting_job_stops_at_the_first_advance(store: JobStore) -> None:
    job = running_job(store)
    aborting = store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)
    ctx = JobContext(store, aborting, interval_ms=200)
    with pytest.raises(AbortRequested):
        ctx.advance()
    ctx.close()


def test_a_deleted_job_stops_its_action(store: JobStore, contexts: list[JobContext]) -> None:
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=0)
    store.delete(job.id)
    with pytest.raises(AbortRequested):
        ctx.advance()
    assert not store.redis.exists(store.key("job", job.id)), "nothing recreated the record"


def test_a_job_ended_elsewhere_stops_its_action(
    store: JobStore, contexts: list[JobContext]
) -> None:
    # The reaper declared the worker lost (say after a long pause) and failed the job: a
    # worker that wakes up must not go on writing under a job that everyone sees as failed.
    job = running_job(store)
    ctx = open_context(contexts, store, job, interval_ms=0)
    ctx.advance()
    store.transition(job.id, Event.FAIL, at=time.time(), message="worker lost")
    with pytest.raises(AbortRequested):
        ctx.advance()


# -- heartbeat -----------------------------------------------------------------------------


def test_heartbeat_refreshes_while_no_advance_happens(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    beats: list[float] = []
    ctx = open_context(contexts, store, job, interval_ms=50, heartbeat_s=0.2)
    ctx.start_heartbeat()

    def three_new_beats() -> bool:
        beat = store.get(job.id).heartbeat_at
        assert beat is not None
        if not beats or beat != beats[-1]:
            beats.append(beat)
        return len(beats) >= 4

    wait_for(three_new_beats, timeout_s=5)
    assert beats == sorted(beats)
    assert beats[1] > (job.heartbeat_at or 0)
    assert store.get(job.id).done == 0
    assert not store.get(job.id).is_stalled(time.time(), after_s=1)


def test_heartbeat_uses_the_clock_it_is_given(store: JobStore) -> None:
    job = running_job(store)
    ctx = JobContext(store, job, interval_ms=200, clock=lambda: 1_234_567_890.5)
    ctx.advance()
    ctx.close()
    assert store.get(job.id).heartbeat_at == 1_234_567_890.5


def test_close_stops_the_heartbeat(store: JobStore) -> None:
    job = running_job(store)
    ctx = JobContext(store, job, interval_ms=20, heartbeat_s=0.05)
    ctx.start_heartbeat()
    ctx.close()
    seq = store.get(job.id).seq
    store.transition(job.id, Event.COMPLETE, at=time.time())
    assert f"heartbeat-{job.id}" not in {t.name for t in threading.enumerate()}
    assert store.get(job.id).seq == seq + 1


# -- resume --------------------------------------------------------------------------------


def test_resume_rewinds_the_ledger_to_the_committed_position(
    store: JobStore, contexts: list[JobContext]
) -> None:
    job = running_job(store)
    at = time.time()
    store.flush(
        job.id,
        {"done": "10", "checkpoint": "10"},
        [JobError(i, f"line {i + 2}", "name is empty", at) for i in range(10)],
    )
    redelivered = store.get(job.id)
    ctx = open_context(contexts, store, redelivered, interval_ms=200)
    ctx.error("line 99", "recorded before the resume: forgotten")

    ctx.resume(6)

    assert ctx.done == 6
    assert [e.position for e in store.errors(job.id).items] == [0, 1, 2, 3, 4, 5]
    stored = store.get(job.id)
    assert (stored.done, stored.checkpoint, stored.error_count) == (6, 6, 6)

    ctx.error("line 8", "name is empty")
    ctx.advance()
    ctx.close()
    assert store.get(job.id).error_count == 7
    assert store.get(job.id).done == 7
    last = store.errors(job.id).items[-1]
    assert (last.position, last.item, last.message) == (6, "line 8", "name is empty")


def test_errors_of_one_batch_keep_the_order_they_were_found_in(store: JobStore) -> None:
    ctx = JobContext(store, running_job(store))
    for line in (998, 999, 1000, 1001):  # "line 1000" sorts before "line 998" as text
        ctx.error(f"line {line}", "name is empty")
    ctx.save()
    ctx.advance(2000)
    ctx.error("line 2005", "name is empty")
    ctx.close()
    items = [e.item for e in store.errors(ctx.id).items]
    assert items == ["line 998", "line 999", "line 1000", "line 1001", "line 2005"]
