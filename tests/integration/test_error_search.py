"""An error search through the error index finds exactly what reading the whole ledger finds,
page by page, for needles that are whole words, a word's start or end, a piece inside a word,
punctuation or spaces only, or nothing at all; after a rewind too, and on a ledger at its cap;
and it reads only the errors the index names."""

from __future__ import annotations

import time

from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore

ADA = Person(7, "Ada Lovelace")

REASONS = [
    "'{email}' is not a valid email address",
    "duplicate of line {other} ('{email}')",
    "name is empty; unknown role 'Admin-{n}': use user, power_user or superadmin",
    "unknown courses 'CS{n}', 'MATH-200' and 2 more",
    "no user with email '{email}'",
    "'{email}' is already enrolled in 'SEC-110'",
    "naïve Straße — {n}% (x;=cmd|' /c calc'!a0;y)",
]

NEEDLES = [
    "line 1", "line 12", "line 1234", "ine 5", "12", "7", "valid", "not a valid", "VALID EMAIL",
    "user17@", "@example", "example.org", "xample", ".org'", "duplicate of line 3", "cs4",
    "math-200", "'", "; ", "%", "(", "'!a0;", " ", "—", "straße", "STRASSE", "naïve", "power_u",
    "sec-110'", "zzz-nothing", "line 99999", "#", "is already enrolled in 'sec-110'", "e\nd",
    "line 2\n'user0",
]  # fmt: skip


def running(store: JobStore) -> Job:
    job = store.create(Job(new_job_id(), "import_users", "Import users", ADA, time.time()))
    return store.transition(job.id, Event.START, at=time.time())


def errors_of(first: int, count: int) -> list[JobError]:
    at, errors = time.time(), []
    for row in range(first, first + count):
        email = f"user{row}@example.org" if row % 3 else f"USER{row}@Example.ORG"
        reason = REASONS[row % len(REASONS)]
        message = reason.format(email=email, other=row // 2 + 2, n=row % 40)
        errors.append(JobError(row, f"line {row + 2}", message, at, 1))
    return errors


def write(store: JobStore, job: Job, errors: list[JobError]) -> None:
    for start in range(0, len(errors), 500):
        store.flush(job.id, {}, errors[start : start + 500])


def every_page(store: JobStore, job_id: str, needle: str, limit: int) -> list[JobError]:
    found, cursor = [], 0
    while True:
        page = store.search_errors(job_id, needle, cursor, limit)
        assert len(page.items) <= limit
        found += page.items
        if page.cursor is None:
            return found
        cursor = int(page.cursor)


def by_reading_all(store: JobStore, job_id: str, needle: str) -> list[JobError]:
    wanted, found, cursor = needle.casefold(), [], 0
    while True:
        page = store.errors(job_id, cursor, 1000)
        found += [
            e for e in page.items if wanted in e.item.casefold() or wanted in e.message.casefold()
        ]
        if page.cursor is None:
            return found
        cursor = int(page.cursor)


def test_error_search_finds_what_reading_every_error_finds(store: JobStore) -> None:
    job = running(store)
    write(store, job, errors_of(0, 1500))
    for needle in NEEDLES:
        expected = by_reading_all(store, job.id, needle)
        assert every_page(store, job.id, needle, 50) == expected, needle
        assert every_page(store, job.id, needle, 9) == expected, needle
        first = store.search_errors(job.id, needle, 0, 50).items
        assert first == expected[:50], needle


def test_error_search_reads_only_what_the_index_names(store: JobStore) -> None:
    job = running(store)
    write(store, job, errors_of(0, 3000))
    for needle in NEEDLES:
        slots = store.error_index.candidates(job.id, needle.casefold())
        assert slots is not None, f"{needle!r} read the whole ledger"
        if not by_reading_all(store, job.id, needle):
            if needle in ("zzz-nothing", "line 99999", "#"):
                assert slots == [], needle  # matching nothing reads nothing


def test_error_search_is_exact_after_a_rewind_and_at_the_cap(store: JobStore) -> None:
    small = JobStore(store.redis, store.retention_s, store.prefix, max_errors=1000)  # a cap
    job = running(small)  # reached in a few flushes
    write(small, job, errors_of(0, 800))
    small.rewind(job.id, 500)  # slots 500-799 are filled again by other errors
    write(small, job, errors_of(500, 1500))
    assert small.get(job.id).error_count == 2000
    assert small.error_count(job.id) == 1000
    for needle in NEEDLES:
        assert every_page(small, job.id, needle, 20) == by_reading_all(small, job.id, needle)


def test_errors_out_of_ledger_order_are_searched_by_reading(store: JobStore) -> None:
    job = running(store)
    errors = errors_of(0, 600)
    store.flush(job.id, {}, errors[300:])
    store.flush(job.id, {}, errors[:300])  # an action that went back: slots no longer hold
    assert store.error_index.candidates(job.id, "line 1") is None
    for needle in NEEDLES:
        assert every_page(store, job.id, needle, 50) == by_reading_all(store, job.id, needle)
