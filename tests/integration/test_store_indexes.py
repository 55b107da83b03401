"""Status filters read only what they list: the index of ended jobs per status, and the
index of jobs not yet ended (bench/history.py measures what this saves)."""

from __future__ import annotations

import time

from tasks.jobs.model import Event, Job, Person, Status
from tasks.jobs.overview import overview_of
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore

ADA = Person(7, "Ada Lovelace")
GRACE = Person(8, "Grace Hopper")


def ended_job(store: JobStore, owner: Person, event: Event) -> Job:
    job = Job(new_job_id(), "import_users", "Import users from a.csv", owner, time.time())
    store.create(job)
    store.transition(job.id, Event.START, at=time.time())
    return store.transition(job.id, event, at=time.time(), message="boom")


def records_read(store: JobStore) -> int:
    stats = store.redis.info("commandstats").get("cmdstat_hgetall", {})
    return int(stats.get("calls", 0))


def test_a_rare_status_is_listed_without_reading_every_job(store: JobStore) -> None:
    for _ in range(150):
        ended_job(store, ADA, Event.COMPLETE)
    failed = [ended_job(store, ADA, Event.FAIL).id for _ in range(2)]
    store.list_jobs(statuses=[Status.FAILED])  # builds the index on first use
    before = records_read(store)
    page = store.list_jobs(statuses=[Status.FAILED], limit=50)
    assert {j.id for j in page.items} == set(failed)
    assert records_read(store) - before <= 5  # the two failed jobs, not the 152 records


def test_a_store_from_before_the_index_still_lists_its_ended_jobs(store: JobStore) -> None:
    failed = ended_job(store, GRACE, Event.FAIL)
    ended_job(store, GRACE, Event.COMPLETE)
    for name in ("failed", "completed", "built"):
        store.redis.delete(store.key("jobs", "status", name))  # as an older version left it
    assert [j.id for j in store.list_jobs(statuses=[Status.FAILED]).items] == [failed.id]


def test_a_removed_job_leaves_the_status_index(store: JobStore) -> None:
    failed = ended_job(store, ADA, Event.FAIL)
    assert [j.id for j in store.list_jobs(statuses=[Status.FAILED]).items] == [failed.id]
    store.delete(failed.id)
    assert store.list_jobs(statuses=[Status.FAILED]).items == []
    assert store.redis.zcard(store.key("jobs", "status", "failed")) == 0


def test_filtering_by_a_live_status_keeps_to_the_owner(store: JobStore) -> None:
    mine = store.create(Job(new_job_id(), "import_users", "mine", ADA, time.time()))
    store.create(Job(new_job_id(), "import_users", "theirs", GRACE, time.time()))
    ended_job(store, ADA, Event.COMPLETE)
    page = store.list_jobs(owner_id=ADA.id, statuses=[Status.QUEUED])
    assert [j.id for j in page.items] == [mine.id]
    assert len(store.list_jobs(statuses=[Status.QUEUED]).items) == 2


def test_pages_of_one_status_follow_their_cursor_without_gaps(store: JobStore) -> None:
    failed = [ended_job(store, ADA, Event.FAIL).id for _ in range(5)]
    ended_job(store, ADA, Event.COMPLETE)
    seen, cursor = [], None
    while True:
        page = store.list_jobs(statuses=[Status.FAILED], cursor=cursor, limit=2)
        seen += [j.id for j in page.items]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == list(reversed(failed))


def test_a_search_reads_whole_only_the_jobs_it_finds(store: JobStore) -> None:
    for n in range(120):
        store.create(Job(new_job_id(), "import_users", f"Import users from staff-{n}.csv", ADA,
                         time.time()))  # fmt: skip
    wanted = store.create(Job(new_job_id(), "import_users", "Import users from Alumni.csv",
                              GRACE, time.time()))  # fmt: skip
    before = records_read(store)
    page = store.list_jobs(matching=lambda text: "alumni" in text.casefold())
    assert [j.id for j in page.items] == [wanted.id]
    assert records_read(store) - before <= 3  # the one found, not the 121 records
    by_owner = store.list_jobs(matching=lambda text: "grace hopper" in text.casefold())
    assert [j.id for j in by_owner.items] == [wanted.id]  # the owner's name is searched too


def test_the_headers_count_of_jobs_under_way_reads_no_record(store: JobStore) -> None:
    for owner in (ADA, GRACE, GRACE):
        store.create(Job(new_job_id(), "import_users", "Import users from b.csv", owner, 1.0))
    ended_job(store, GRACE, Event.COMPLETE)
    before = records_read(store), store.redis.info("commandstats").get("cmdstat_hget", {})
    overview = overview_of(store, GRACE.id)
    assert (overview.running, len(overview.recent)) == (2, 3)
    assert records_read(store) - before[0] == 3  # the three recent jobs, no other
    assert store.redis.info("commandstats").get("cmdstat_hget", {}) == before[1]


def test_a_page_whose_newest_jobs_are_not_listed_reads_a_few_more_records_not_a_page(
    store: JobStore,
) -> None:
    for _ in range(60):
        ended_job(store, ADA, Event.COMPLETE)
    for _ in range(8):  # newer, under way: not of the statuses asked
        store.create(Job(new_job_id(), "import_users", "Import users from c.csv", ADA, time.time()))
    before = records_read(store)
    page = store.list_jobs(statuses=[Status.COMPLETED, Status.FAILED], limit=50)
    assert len(page.items) == 50 and {j.status for j in page.items} == {Status.COMPLETED}
    assert records_read(store) - before == 50 + 50 // 4  # not 100
