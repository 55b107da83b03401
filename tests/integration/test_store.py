"""The job store against the tests' private Redis: records, lists, races, ledger, retention."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial

import pytest

from tasks.jobs.events import JobChanged, JobRemoved, decode
from tasks.jobs.model import Event, InvalidTransition, Job, Person, Status
from tasks.jobs.records import JobError, UnknownJob, is_job_id, new_job_id
from tasks.jobs.store import JobStore

ADA = Person(7, "Ada Lovelace")
GRACE = Person(8, "Grace Hopper")
ROOT = Person(1, "Root")


def new_job(owner: Person = ADA, created_at: float | None = None, **changes: object) -> Job:
    job = Job(
        id=new_job_id(),
        kind="import_users",
        description="Import users from staff-2026.csv (5,000 rows)",
        owner=owner,
        created_at=time.time() if created_at is None else created_at,
        params={"file": "uploads/staff-2026.csv", "on_existing": "skip"},
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def running_job(store: JobStore, **changes: object) -> Job:
    job = store.create(new_job(**changes))
    return store.transition(job.id, Event.START, at=time.time())


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)


class Listener:
    """A redis-py subscription to the store's channel, opened before the test acts."""

    def __init__(self, store: JobStore) -> None:
        self.pubsub = store.redis.pubsub()
        self.pubsub.subscribe(store.channel)
        confirmation = self.pubsub.get_message(timeout=5)
        assert confirmation is not None and confirmation["type"] == "subscribe"

    def take(self, count: int, timeout_s: float = 5.0) -> list[JobChanged | JobRemoved]:
        events: list[JobChanged | JobRemoved] = []
        deadline = time.monotonic() + timeout_s
        while len(events) < count and time.monotonic() < deadline:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                events.append(decode(message["data"]))
        return events

    def rest(self, quiet_s: float = 0.2) -> list[JobChanged | JobRemoved]:
        """Everything still in flight: read until nothing came for `quiet_s`."""
        events = []
        while (message := self.pubsub.get_message(True, timeout=quiet_s)) is not None:
            events.append(decode(message["data"]))
        return events

    def close(self) -> None:
        self.pubsub.close()


@pytest.fixture
def listener(store: JobStore) -> Iterator[Listener]:
    listener = Listener(store)
    yield listener
    listener.close()


def all_pages(store: JobStore, limit: int, **query: object) -> list[list[str]]:
    pages, cursor = [], None
    for _ in range(100):
        page = store.list_jobs(cursor=cursor, limit=limit, **query)  # type: ignore[arg-type]
        pages.append([job.id for job in page.items])
        cursor = page.cursor
        if cursor is None:
            return pages
    raise AssertionError("pagination never ended")


# -- records -----------------------------------------------------------------------------------


def test_create_then_get_returns_the_same_job(store: JobStore) -> None:
    job = new_job()
    created = store.create(job)
    assert created == replace(job, seq=1)
    assert store.get(job.id) == created
    assert is_job_id(job.id)


def test_get_many_keeps_the_order_asked_and_drops_missing(store: JobStore) -> None:
    jobs = [store.create(new_job()) for _ in range(3)]
    asked = [jobs[2].id, "feedfacefeedface", jobs[0].id, jobs[1].id]
    assert store.get_many(asked) == [jobs[2], jobs[0], jobs[1]]
    assert store.get_many([]) == []


def test_get_unknown_job_raises_naming_it(store: JobStore) -> None:
    with pytest.raises(UnknownJob, match="unknown job 'feedfacefeedface'") as caught:
        store.get("feedfacefeedface")
    assert caught.value.job_id == "feedfacefeedface"


def test_is_job_id_accepts_only_the_ids_the_store_makes() -> None:
    assert is_job_id(new_job_id())
    for bad in ("", "0123", "0123456789ABCDEF", "0123456789abcdeg", "../../etc/passwd", "x" * 16):
        assert not is_job_id(bad)


# -- lists ---------------------------------------------------------------------------------


def test_list_jobs_newest_first_for_everyone_and_per_owner(store: JobStore) -> None:
    t0 = time.time()
    jobs = [
        store.create(new_job(owner=ADA if i % 2 else GRACE, created_at=t0 + i)) for i in range(6)
    ]
    everyone = store.list_jobs()
    assert [j.id for j in everyone.items] == [j.id for j in reversed(jobs)]
    assert everyone.cursor is None

    ada = store.list_jobs(owner_id=ADA.id)
    assert [j.id for j in ada.items] == [jobs[5].id, jobs[3].id, jobs[1].id]
    assert all(j.owner == ADA for j in ada.items)
    assert store.list_jobs(owner_id=999).items == []


def test_list_jobs_filters_by_status(store: JobStore) -> None:
    t0 = time.time()
    queued = store.create(new_job(created_at=t0))
    running = store.create(new_job(created_at=t0 + 1))
    store.transition(running.id, Event.START, at=t0 + 2)
    done = store.create(new_job(created_at=t0 + 3))
    store.transition(done.id, Event.START, at=t0 + 4)
    store.transition(done.id, Event.COMPLETE, at=t0 + 5)

    def ids(*statuses: Status) -> list[str]:
        return [j.id for j in store.list_jobs(statuses=statuses).items]

    assert ids(Status.QUEUED) == [queued.id]
    assert ids(Status.RUNNING) == [running.id]
    assert ids(Status.COMPLETED, Status.QUEUED) == [done.id, queued.id]
    assert ids(Status.FAILED) == []
    assert ids() == [done.id, running.id, queued.id]


def test_cursor_pagination_over_230_jobs_has_no_duplicates_or_gaps(store: JobStore) -> None:
    t0 = time.time()
    jobs = [store.create(new_job(created_at=t0 + i * 0.001)) for i in range(230)]

    pages = all_pages(store, limit=50)

    assert [len(p) for p in pages] == [50, 50, 50, 50, 30]
    assert list(itertools.chain(*pages)) == [j.id for j in reversed(jobs)]


def test_cursor_pagination_with_small_groups_of_equal_creation_times(store: JobStore) -> None:
    t0 = time.time()
    jobs = [store.create(new_job(created_at=t0 + i // 10)) for i in range(230)]

    seen = list(itertools.chain(*all_pages(store, limit=50)))

    assert len(seen) == len(set(seen)) == 230
    assert set(seen) == {j.id for j in jobs}


def test_cursor_pagination_when_all_creation_times_are_equal(store: JobStore) -> None:
    # A burst of launches in one clock tick: more ties than the store reads in one chunk.
    t0 = time.time()
    jobs = [store.create(new_job(created_at=t0)) for _ in range(230)]

    seen = list(itertools.chain(*all_pages(store, limit=50)))

    assert len(seen) == len(set(seen)), "a job came back on two pages"
    assert set(seen) == {j.id for j in jobs}


def test_cursor_pagination_with_a_status_filter(store: JobStore) -> None:
    t0 = time.time()
    jobs = [store.create(new_job(created_at=t0 + i * 0.001)) for i in range(230)]
    running = [j for i, j in enumerate(jobs) if i % 3 == 0]
    for job in running:
        store.transition(job.id, Event.START, at=t0 + 1)

    pages = all_pages(store, limit=20, statuses=[Status.RUNNING])

    assert list(itertools.chain(*pages)) == [j.id for j in reversed(running)]


def test_cursor_pagination_per_owner(store: JobStore) -> None:
    t0 = time.time()
    jobs = [store.create(new_job(owner=(ADA, GRACE)[i % 2], created_at=t0 + i)) for i in range(120)]

    pages = all_pages(store, limit=25, owner_id=GRACE.id)

    assert list(itertools.chain(*pages)) == [j.id for j in reversed(jobs) if j.owner == GRACE]


# -- transitions ----------------------------------------------------------------------------


def test_transition_applies_the_model_and_stores_it(store: JobStore) -> None:
    job = store.create(new_job())
    at = time.time()
    started = store.transition(job.id, Event.START, at=at)
    assert started.status is Status.RUNNING
    assert started.started_at == started.heartbeat_at == at
    assert started.seq == 2
    assert store.get(job.id) == started


def test_illegal_transition_raises_and_changes_nothing(store: JobStore) -> None:
    job = store.create(new_job())
    with pytest.raises(InvalidTransition, match="^queued -> complete$"):
        store.transition(job.id, Event.COMPLETE, at=time.time())
    assert store.get(job.id) == job


def test_transition_of_unknown_job_raises(store: JobStore) -> None:
    with pytest.raises(UnknownJob):
        store.transition("feedfacefeedface", Event.ABORT, at=time.time())
    assert not store.redis.exists(store.key("job", "feedfacefeedface"))


def race(*calls: Callable[[], object]) -> list[object]:
    """Run `calls` from threads released at once; each one's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # returned to the test, never lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_abort_racing_completion_has_exactly_one_winner(store: JobStore) -> None:
    outcomes: Counter[Status] = Counter()
    for _ in range(60):
        job = running_job(store)
        now = time.time()

        results = race(
            partial(store.transition, job.id, Event.ABORT, at=now, aborted_by=ROOT, aborted_at=now),
            partial(store.transition, job.id, Event.COMPLETE, at=now),
        )

        winners = [r for r in results if isinstance(r, Job)]
        losers = [r for r in results if not isinstance(r, Job)]
        assert len(winners) == 1, results
        assert len(losers) == 1 and isinstance(losers[0], InvalidTransition), results
        stored = store.get(job.id)
        assert stored == winners[0]
        assert stored.seq == 3, "create, start and exactly one winning change"
        outcomes[stored.status] += 1
        if stored.status is Status.ABORTING:
            assert str(losers[0]) == "aborting -> complete"
            assert stored.aborted_by == ROOT
            assert stored.finished_at is None
            assert job.id in store.active_ids()
        else:
            assert stored.status is Status.COMPLETED
            assert str(losers[0]) == "completed -> abort"
            assert stored.aborted_by is None
            assert stored.finished_at == now
            assert job.id not in store.active_ids()
    assert outcomes.total() == 60


def test_two_workers_starting_one_job_have_exactly_one_winner(store: JobStore) -> None:
    for _ in range(40):
        job = store.create(new_job())
        start = partial(store.transition, job.id, Event.START, at=time.time())

        results = race(start, start, start, start)

        assert sum(isinstance(r, Job) for r in results) == 1, results
        assert sum(isinstance(r, InvalidTransition) for r in results) == 3, results
        assert store.get(job.id).seq == 2


def test_transition_waits_out_a_concurrent_flush(store: JobStore) -> None:
    # Progress flushes and a change of status touch one hash: the change must keep the
    # progress it did not write.
    job = running_job(store)
    stop = threading.Event()
    flushed = 0

    def flush_forever() -> None:
        nonlocal flushed
        while not stop.is_set():
            flushed += 1
            store.flush(job.id, {"done": str(flushed)})

    thread = threading.Thread(target=flush_forever)
    thread.start()
    try:
        wait_for(lambda: flushed > 50)
        store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)
    finally:
        stop.set()
        thread.join()
    stored = store.get(job.id)
    assert stored.status is Status.ABORTING
    assert stored.done == flushed


# -- events ----------------------------------------------------------------------------------


def test_events_carry_increasing_seq_and_the_snapshot(store: JobStore, listener: Listener) -> None:
    job = store.create(new_job())
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"total": "10", "done": "4"})
    store.flush(job.id, {"done": "7"}, [JobError(4, "line 6", "email is empty", time.time())])
    store.transition(job.id, Event.COMPLETE, at=time.time())

    events = listener.take(5)

    assert all(isinstance(e, JobChanged) for e in events)
    snapshots = [e.job for e in events if isinstance(e, JobChanged)]
    assert [s.seq for s in snapshots] == [1, 2, 3, 4, 5]
    assert [s.status for s in snapshots] == [
        Status.QUEUED,
        Status.RUNNING,
        Status.RUNNING,
        Status.RUNNING,
        Status.COMPLETED,
    ]
    assert [(s.total, s.done, s.error_count) for s in snapshots] == [
        (None, 0, 0),
        (None, 0, 0),
        (10, 4, 0),
        (10, 7, 1),
        (10, 7, 1),
    ]
    assert snapshots[-1] == store.get(job.id)
    assert snapshots[2].params == job.params, "the Lua snapshot keeps params intact"
    assert listener.rest() == []


def test_published_snapshot_never_shows_the_mail_flag(store: JobStore, listener: Listener) -> None:
    job = running_job(store)
    store.transition(job.id, Event.COMPLETE, at=time.time())
    assert store.claim_mail_queue(job.id)
    store.flush(job.id, {"done": "1"})
    raw_messages = []
    while (message := listener.pubsub.get_message(True, timeout=0.5)) is not None:
        raw_messages.append(message["data"])
    assert len(raw_messages) == 4
    assert all("mail_queued" not in raw for raw in raw_messages)
    assert store.get(job.id).status is Status.COMPLETED


# -- progress and the error ledger ---------------------------------------------------------


def test_flush_writes_fields_and_returns_the_status(store: JobStore) -> None:
    job = running_job(store)
    status = store.flush(job.id, {"total": "100", "done": "40", "checkpoint": "40"})
    assert status is Status.RUNNING
    stored = store.get(job.id)
    assert (stored.total, stored.done, stored.checkpoint) == (100, 40, 40)
    assert stored.seq == job.seq + 1


def test_flush_of_an_unknown_job_returns_none_and_writes_nothing(store: JobStore) -> None:
    error = JobError(0, "line 2", "email is empty", time.time())
    assert store.flush("feedfacefeedface", {"done": "1"}, [error]) is None
    assert not store.redis.exists(store.key("job", "feedfacefeedface"))
    assert not store.redis.exists(store.key("job", "feedfacefeedface", "errors"))


def test_error_ledger_is_exact_at_ten_thousand_errors(store: JobStore) -> None:
    job = running_job(store)
    at = time.time()
    errors = [
        JobError(i, f"line {i + 2}", f"'user{i}@example' is not a valid email address", at)
        for i in range(10_000)
    ]
    for start in range(0, len(errors), 500):
        store.flush(job.id, {"done": str(start + 500)}, errors[start : start + 500])

    assert store.error_count(job.id) == 10_000
    assert store.get(job.id).error_count == 10_000

    read: list[JobError] = []
    cursor: str | None = "0"
    pages = 0
    while cursor is not None:
        page = store.errors(job.id, cursor=int(cursor), limit=50)
        assert len(page.items) <= 50
        read += page.items
        cursor = page.cursor
        pages += 1
    assert pages in (200, 201)
    assert read == errors


def test_re_flushing_the_same_errors_does_not_double_count(store: JobStore) -> None:
    job = running_job(store)
    batch = [JobError(i, f"line {i + 2}", "name is empty", time.time()) for i in range(500)]
    store.flush(job.id, {"done": "500"}, batch)
    store.flush(job.id, {"done": "500"}, batch)
    assert store.error_count(job.id) == 500
    assert store.get(job.id).error_count == 500


def test_errors_at_one_position_are_all_kept(store: JobStore) -> None:
    job = running_job(store)
    at = time.time()
    batch = [JobError(3, "line 5", reason, at) for reason in ("email is empty", "name is empty")]
    store.flush(job.id, {}, batch)
    assert store.get(job.id).error_count == 2
    assert {e.message for e in store.errors(job.id).items} == {"email is empty", "name is empty"}


def test_errors_keep_item_message_and_time(store: JobStore) -> None:
    job = running_job(store)
    error = JobError(7, "line 9: <b>bob</b>", "unknown course code 'ÆØÅ-101'", 1_700_000_000.25)
    store.flush(job.id, {}, [error])
    page = store.errors(job.id)
    assert page.items == [error]
    assert page.cursor is None


def test_rewind_drops_errors_at_and_after_the_position(store: JobStore) -> None:
    job = running_job(store)
    at = time.time()
    store.flush(
        job.id,
        {"done": "10", "checkpoint": "10"},
        [JobError(i, f"line {i + 2}", "name is empty", at) for i in range(10)],
    )

    store.rewind(job.id, 5)

    assert [e.position for e in store.errors(job.id).items] == [0, 1, 2, 3, 4]
    stored = store.get(job.id)
    assert (stored.error_count, stored.done, stored.checkpoint) == (5, 5, 5)


def test_rewind_of_an_unknown_job_raises(store: JobStore) -> None:
    with pytest.raises(UnknownJob):
        store.rewind("feedfacefeedface", 0)


# -- retention -----------------------------------------------------------------------------


def test_finished_job_keys_expire_after_retention(store: JobStore) -> None:
    job = running_job(store)
    store.flush(job.id, {}, [JobError(0, "line 2", "name is empty", time.time())])
    store.add_watcher(job.id, ADA.id)
    assert store.redis.ttl(store.key("job", job.id)) == -1, "no expiry while it runs"

    ended = store.transition(job.id, Event.COMPLETE, at=time.time())

    retention = store.retention_s
    for suffix in ("", ":errors", ":notify"):
        ttl = store.redis.ttl(store.key("job", job.id) + suffix)
        assert retention - 5 <= ttl <= retention + 2, (suffix, ttl)
    assert ended.expires_at(retention) == pytest.approx(time.time() + retention, abs=5)
    assert job.id not in store.active_ids()


def test_keys_written_after_the_end_expire_too(store: JobStore) -> None:
    # The `mailed` set is only ever written after the job ended: it must not outlive it.
    job = running_job(store)
    store.add_watcher(job.id, ADA.id)
    store.transition(job.id, Event.COMPLETE, at=time.time())
    assert store.claim_mail_queue(job.id)
    store.mark_mailed(job.id, ADA.id)

    ttl = store.redis.ttl(store.key("job", job.id, "mailed"))
    assert 0 < ttl <= store.retention_s + 2


def test_finished_job_disappears_with_a_short_retention(store: JobStore) -> None:
    short = JobStore(store.redis, retention_s=1, prefix=store.prefix)
    job = running_job(short)
    short.flush(job.id, {}, [JobError(0, "line 2", "name is empty", time.time())])
    short.transition(job.id, Event.FAIL, at=time.time(), message="disk full")

    wait_for(lambda: not short.redis.exists(short.key("job", job.id)), timeout_s=5)
    assert not short.redis.exists(short.key("job", job.id, "errors"))
    assert short.list_jobs().items == [], "expired hashes are never listed"
    assert short.forget_expired(time.time()) == [job.id]


def test_forget_expired_drops_ended_jobs_from_every_index(store: JobStore) -> None:
    old = running_job(store, owner=GRACE)
    ended = store.transition(old.id, Event.COMPLETE, at=time.time())
    alive = store.create(new_job(owner=GRACE))
    expires_at = ended.expires_at(store.retention_s)
    assert expires_at is not None

    assert store.forget_expired(time.time()) == []
    assert store.forget_expired(expires_at + 1) == [old.id]

    assert [j.id for j in store.list_jobs().items] == [alive.id]
    assert [j.id for j in store.list_jobs(owner_id=GRACE.id).items] == [alive.id]
    assert store.redis.zscore(store.key("jobs"), old.id) is None
    assert store.redis.zcard(store.key("jobs", "expiry")) == 0
    assert store.forget_expired(expires_at + 1) == []


def test_job_aborted_while_queued_is_scheduled_to_expire(store: JobStore) -> None:
    job = store.create(new_job())
    aborted = store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)
    assert aborted.status is Status.ABORTED
    assert store.redis.ttl(store.key("job", job.id)) > 0
    assert store.redis.zscore(store.key("jobs", "expiry"), f"{job.id}:{ADA.id}") is not None


# -- delete --------------------------------------------------------------------------------


def test_delete_removes_everything_and_publishes_removed(
    store: JobStore, listener: Listener
) -> None:
    job = running_job(store)
    store.flush(job.id, {}, [JobError(0, "line 2", "name is empty", time.time())])
    store.add_watcher(job.id, ADA.id)
    store.transition(job.id, Event.COMPLETE, at=time.time())
    listener.take(4)

    store.delete(job.id)

    assert listener.take(1) == [JobRemoved(job.id, ADA.id)]
    for suffix in ("", ":errors", ":notify", ":mailed"):
        assert not store.redis.exists(store.key("job", job.id) + suffix)
    assert store.list_jobs().items == []
    assert store.list_jobs(owner_id=ADA.id).items == []
    assert store.redis.zcard(store.key("jobs", "expiry")) == 0
    with pytest.raises(UnknownJob):
        store.get(job.id)


def test_delete_unknown_job_raises(store: JobStore) -> None:
    with pytest.raises(UnknownJob):
        store.delete("feedfacefeedface")


# -- notify me -----------------------------------------------------------------------------


def test_watchers_are_a_set(store: JobStore) -> None:
    job = store.create(new_job())
    assert store.watchers(job.id) == set()
    store.add_watcher(job.id, ADA.id)
    store.add_watcher(job.id, GRACE.id)
    store.add_watcher(job.id, ADA.id)
    assert store.watchers(job.id) == {ADA.id, GRACE.id}
    assert store.is_watching(job.id, GRACE.id)
    assert not store.is_watching(job.id, ROOT.id)


def test_watched_by_names_the_jobs_one_person_watches_among_many(store: JobStore) -> None:
    jobs = [store.create(new_job()) for _ in range(5)]
    for job in jobs[1::2]:
        store.add_watcher(job.id, GRACE.id)
    store.add_watcher(jobs[0].id, ADA.id)
    ids = [job.id for job in jobs] + ["feedfacefeedface"]  # (one gone, or never there)
    assert store.watched_by(ids, GRACE.id) == {jobs[1].id, jobs[3].id}
    assert store.watched_by(ids, ROOT.id) == set()
    assert store.watched_by([], GRACE.id) == set()


def test_claim_mail_queue_is_true_exactly_once(store: JobStore) -> None:
    job = store.create(new_job())
    claims = race(*[partial(store.claim_mail_queue, job.id)] * 8)
    assert sorted(claims) == [False] * 7 + [True]  # type: ignore[type-var]
    assert store.get(job.id) == job, "the flag is not part of the record"


def test_claim_mail_queue_of_a_deleted_job_leaves_no_orphan(store: JobStore) -> None:
    job = running_job(store)
    store.transition(job.id, Event.COMPLETE, at=time.time())
    store.delete(job.id)

    assert not store.claim_mail_queue(job.id)
    assert not store.redis.exists(store.key("job", job.id))


def test_mark_mailed_and_was_mailed(store: JobStore) -> None:
    job = store.create(new_job())
    assert not store.was_mailed(job.id, ADA.id)
    store.mark_mailed(job.id, ADA.id)
    assert store.was_mailed(job.id, ADA.id)
    assert not store.was_mailed(job.id, GRACE.id)


def test_store_under_another_prefix_sees_nothing(store: JobStore) -> None:
    store.create(new_job())
    other = JobStore(store.redis, retention_s=86400, prefix="other:")
    assert other.list_jobs().items == []
    assert other.active_ids() == []


def test_every_publication_is_counted_and_stamped_across_writers(store: JobStore) -> None:
    """create, transition, flush (Lua) and delete: each event INCRs the shared counter in the
    same MULTI or script, and each job event carries the publisher's time."""
    pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.channel)
    before = time.time()
    job = store.create(
        Job(id=new_job_id(), kind="k", description="d", owner=Person(1, "o"), created_at=before)
    )
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"done": "1"})
    store.transition(job.id, Event.COMPLETE, at=time.time())
    store.delete(job.id)
    assert store.events_published() == 5
    received = []
    deadline = time.monotonic() + 5
    while len(received) < 5 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            received.append(decode(message["data"]))
    pubsub.close()
    stamps = [e.published_at for e in received if isinstance(e, JobChanged)]
    assert len(stamps) == 4
    assert all(s is not None and before <= s <= time.time() for s in stamps)
