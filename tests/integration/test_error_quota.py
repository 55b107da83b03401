"""A job's error ledger keeps its first JOB_MAX_ERRORS errors and counts every one exactly: a
flush tried twice counts nothing twice, a rewind forgets kept and counted errors alike, each
kept error is bounded in size, the pages and the CSV say how many were kept, and the keys
beside the ledger go with the job (removal and retention)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from starlette.testclient import TestClient

from tasks.data.users import User
from tasks.jobs.context import JobContext
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import ITEM_CHARS, MESSAGE_CHARS, JobError, new_job_id
from tasks.jobs.store import BESIDE, MAX_ERRORS, JobStore
from tasks.runtime import Runtime
from tasks.settings import Settings
from tests.support.waiting import wait_until

ADA = Person(7, "Ada Lovelace")


def running(store: JobStore, owner: Person = ADA) -> Job:
    job = store.create(Job(new_job_id(), "import_users", "Import users", owner, time.time()))
    return store.transition(job.id, Event.START, at=time.time())


def bad_rows(first: int, count: int, per_row: int = 1) -> list[JobError]:
    """Errors as an import finds them: `per_row` reasons for each of `count` rows."""
    at = time.time()
    return [
        JobError(row, f"line {row + 2}", f"reason {n} of row {row}", at, n + 1)
        for row in range(first, first + count)
        for n in range(per_row)
    ]


def capped(store: JobStore, most: int) -> JobStore:
    """The same Redis with a smaller cap (JOB_MAX_ERRORS): small numbers keep these tests quick;
    the default's own cap is test_the_default_ledger_keeps_ten_thousand…'s."""
    return JobStore(store.redis, store.retention_s, store.prefix, max_errors=most)


def every_error(store: JobStore, job_id: str) -> list[JobError]:
    found, cursor = [], 0
    while True:
        page = store.errors(job_id, cursor, 1000)
        found += page.items
        if page.cursor is None:
            return found
        cursor = int(page.cursor)


def test_the_default_ledger_keeps_ten_thousand_errors_and_counts_them_all(
    store: JobStore,
) -> None:
    assert store.max_errors == MAX_ERRORS == 10_000  # as shipped
    job = running(store)
    errors = bad_rows(0, 12_500)
    for start in range(0, len(errors), 500):
        store.flush(job.id, {"done": str(start + 500)}, errors[start : start + 500])

    assert store.get(job.id).error_count == 12_500
    assert store.error_count(job.id) == 10_000
    assert every_error(store, job.id) == [replace_order(e) for e in errors[:10_000]]


def test_the_store_of_a_process_keeps_what_job_max_errors_says(settings: Settings) -> None:
    assert Runtime(dataclasses.replace(settings, job_max_errors=123)).store.max_errors == 123


def replace_order(error: JobError) -> JobError:
    """As the ledger gives it back: the order among errors of one item is not stored."""
    return JobError(error.position, error.item, error.message, error.at)


def test_a_flush_tried_twice_counts_each_error_once_kept_or_not(store: JobStore) -> None:
    small = capped(store, 100)
    job = running(small)
    first, second = bad_rows(0, 80, per_row=2), bad_rows(80, 50, per_row=2)
    for batch in (first, first, second, second):  # the same flush twice: a retried call
        small.flush(job.id, {}, batch)

    assert small.get(job.id).error_count == 260
    assert small.error_count(job.id) == 100


def test_a_rewind_forgets_kept_and_counted_errors_alike(store: JobStore) -> None:
    small = capped(store, 100)
    job = running(small)
    for first in range(0, 300, 50):  # rows 0-299, three reasons each: 900 errors
        small.flush(job.id, {}, bad_rows(first, 50, per_row=3))
    assert small.get(job.id).error_count == 900

    small.rewind(job.id, 200)  # rows 200 and on are done again
    assert small.get(job.id).error_count == 600
    small.rewind(job.id, 20)  # into the kept part: rows 0-19 keep 60 errors
    assert small.get(job.id).error_count == 60
    assert small.error_count(job.id) == 60

    for first in range(20, 300, 20):  # done again: the ledger fills up from where it was cut
        small.flush(job.id, {}, bad_rows(first, 20, per_row=3))
    assert small.get(job.id).error_count == 900
    kept = [(e.position, e.item, e.message) for e in every_error(small, job.id)]
    assert kept == [(e.position, e.item, e.message) for e in bad_rows(0, 300, 3)[:100]]


def test_a_kept_error_is_cut_to_a_bounded_size(store: JobStore) -> None:
    job = running(store)
    ctx = JobContext(store, job)
    ctx.error("x" * 100_000, "y" * 100_000)
    ctx.save()

    (error,) = store.errors(job.id).items
    assert len(error.item) == ITEM_CHARS and error.item.endswith("…")
    assert len(error.message) == MESSAGE_CHARS and error.message.endswith("…")


def test_the_keys_beside_the_ledger_go_with_the_job(store: JobStore) -> None:
    small = capped(store, 10)
    removed, expiring = running(small), running(small)
    for job in (removed, expiring):
        small.flush(job.id, {}, bad_rows(0, 30))
    names = [":errors:over", ":errors:words", ":errors:vocabulary"]
    assert set(names) <= set(BESIDE)
    for job in (removed, expiring):
        assert all(small.redis.exists(small.key("job", job.id) + n) for n in names)

    small.transition(removed.id, Event.COMPLETE, at=time.time())
    small.delete(removed.id)
    assert not any(small.redis.exists(small.key("job", removed.id) + n) for n in names)

    short = JobStore(store.redis, 1, store.prefix, max_errors=10)  # retention of one second
    short.transition(expiring.id, Event.COMPLETE, at=time.time())
    assert all(0 < short.redis.pttl(short.key("job", expiring.id) + n) <= 2000 for n in names)
    wait_until(
        lambda: not any(short.redis.exists(short.key("job", expiring.id) + n) for n in names),
        5,
        "the error keys to expire with the job",
    )
    assert short.forget_expired(time.time()) == [expiring.id]


def test_the_pages_and_the_csv_say_how_many_errors_were_kept(
    store: JobStore,
    client: TestClient,
    signed_in: Callable[[str, str], tuple[User, dict[str, str]]],
) -> None:
    user, headers = signed_in("power_user", "pat@example.com")
    small = capped(store, 100)
    job = running(small, Person(user.id, user.name))
    small.flush(job.id, {}, bad_rows(0, 250))
    small.transition(job.id, Event.COMPLETE, at=time.time())
    said = "Only the first 100 errors are kept, of 250 found"

    for path in ("", "/errors", "/errors-dialog"):
        page = client.get(f"/admin/background-jobs/{job.id}{path}", headers=headers)
        assert page.status_code == 200
        assert said in page.text, path
        assert "250 errors" in page.text, path  # the count itself stays exact
    csv = client.get(f"/api/jobs/{job.id}/errors.csv", headers=headers).text.splitlines()
    assert len(csv) == 1 + 100 + 1
    assert "only the first 100 errors are kept, of 250 found" in csv[-1]
    listed = client.get(f"/api/jobs/{job.id}/errors", headers=headers).json()
    assert (listed["count"], listed["kept"]) == (250, 100)


def test_nothing_is_said_when_every_error_is_kept(
    store: JobStore,
    client: TestClient,
    signed_in: Callable[[str, str], tuple[User, dict[str, str]]],
) -> None:
    user, headers = signed_in("power_user", "pat@example.com")
    job = running(store, Person(user.id, user.name))
    store.flush(job.id, {}, bad_rows(0, 250))
    page = client.get(f"/admin/background-jobs/{job.id}", headers=headers)
    assert "250 errors" in page.text
    assert "are kept" not in page.text
    csv = client.get(f"/api/jobs/{job.id}/errors.csv", headers=headers).text.splitlines()
    assert len(csv) == 1 + 250


def test_a_full_ledger_ends_on_its_last_page_with_no_next(store: JobStore) -> None:
    small = capped(store, 100)
    job = running(small)
    small.flush(job.id, {}, bad_rows(0, 250))
    assert small.errors(job.id, 0, 50).cursor == "50"
    last = small.errors(job.id, 50, 50)
    assert len(last.items) == 50 and last.cursor is None, "no Next that shows nothing"
