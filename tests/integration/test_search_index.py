"""History search through the word index finds exactly what reading every job would find, for
needles that are whole words, a word's start or end, a piece inside a word, or punctuation;
the index follows jobs created, removed and forgotten at retention; and /metrics' counts by
status come from the indexes, not from every record."""

from __future__ import annotations

import time

import pytest

from tasks.jobs import word_index
from tasks.jobs.model import Event, Job, Person, Status, to_fields
from tasks.jobs.records import new_job_id
from tasks.jobs.search import text_of
from tasks.jobs.store import JobStore

ADA = Person(7, "Ada Lovelace")
GRACE = Person(8, "Grace Hopper")
JOSE = Person(9, "José Straße")

DESCRIPTIONS = [
    "Import users from class-77.csv (1,000 rows)",
    "Import users from class-770.csv (12 rows)",
    "Import users from subclass-7.csv (3 rows)",
    "Import users from Q3_staff.CSV (250 rows)",
    "Enroll users in courses (40 enrollments)",
    "Import users from naïve names.csv (9 rows)",
    "Import users from ...csv (1 row)",
    "Import users from 2026-12-01 export.csv (5 rows)",
]

NEEDLES = [
    "class-77.csv", "class-77", "lass-7", "77", "7", "lass", "subclass", "-7", ".csv", "csv (",
    "users from", "SERS FRO", "q3_staff", "3_st", "enroll", "naïve", "NAÏVE NAMES", "...", "(",
    " ", "ada", "lovelace", "grace h", "strasse", "straße", "josé", "rows)", "12-01 ex", "zzz",
    "class-77.csv (1,000 rows)\nada lovelace", "9 rows)\nj",
    # two words: looked up by their pair
    "ada lovelace", "Grace Hopper", "e hop", "rows)\nj", "ss-7", "lass-77", "csv (1",
    "s from", "users  from", "rows) -- x", "0 rows", "straße\nx",
]  # fmt: skip


OWNERS = [Person(n, f"Owner {n}") for n in (7, 17, 70, 71)]


def add_jobs(store: JobStore) -> list[Job]:
    jobs, at = [], time.time() - 1000
    for n, description in enumerate(DESCRIPTIONS * 3):
        owner = (ADA, GRACE, JOSE)[n % 3]
        job = Job(new_job_id(), "import_users", description, owner, at + n)
        jobs.append(store.create(job))
    return jobs


def add(store: JobStore, description: str, owner: Person = ADA) -> Job:
    return store.create(Job(new_job_id(), "import_users", description, owner, time.time()))


def every_page(store: JobStore, search: str, **filters: object) -> list[str]:
    ids, cursor = [], None
    while True:
        page = store.list_jobs(cursor=cursor, limit=4, search=search, **filters)  # type: ignore[arg-type]
        ids += [job.id for job in page.items]
        if page.cursor is None:
            return ids
        cursor = page.cursor


def by_reading_all(jobs: list[Job], needle: str) -> list[str]:
    wanted = needle.casefold()
    newest_first = sorted(jobs, key=lambda j: j.created_at, reverse=True)
    return [j.id for j in newest_first if wanted in text_of(j.description, j.owner.name)]


def test_search_finds_what_reading_every_job_finds(store: JobStore) -> None:
    jobs = add_jobs(store)
    for needle in NEEDLES:
        assert every_page(store, needle) == by_reading_all(jobs, needle), needle


def test_search_keeps_to_the_owner_and_status_asked(store: JobStore) -> None:
    jobs = add_jobs(store)
    for job in jobs[:6]:
        store.transition(job.id, Event.START, at=time.time())
        store.transition(job.id, Event.FAIL, at=time.time(), message="boom")
    mine = every_page(store, "class-77", owner_id=ADA.id)
    assert mine == [
        i for i in by_reading_all(jobs, "class-77") if i in {j.id for j in jobs if j.owner == ADA}
    ]
    failed = every_page(store, "users", statuses=[Status.FAILED])
    assert set(failed) == {j.id for j in jobs[:6] if "users" in j.description.casefold()}


def test_a_selective_search_reads_only_the_jobs_it_may_find(store: JobStore) -> None:
    for n in range(300):
        add(store, f"Import users from batch-{n}.csv", ADA)
    wanted = add(store, "Import users from rare-77.csv", GRACE)
    store.list_jobs(search="rare")  # builds the index (a no-op here: create() keeps it)
    before = commands(store, "hmget") + commands(store, "hgetall")
    for needle in ("rare-77.csv", "are-7", "e-77.cs"):
        assert [j.id for j in store.list_jobs(search=needle).items] == [wanted.id], needle
    assert commands(store, "hmget") + commands(store, "hgetall") - before <= 10  # not 301


def test_an_owners_full_name_is_found_by_its_pair_without_reading_any_text(
    store: JobStore,
) -> None:
    """The jobs of Owner 7, 70 and 71 (not 17's) have a pair that starts with "owner 7": the
    pair index proves that they all match, so only the page's records are read."""
    jobs = [add(store, f"Import users from class-{n}.csv", OWNERS[n % 4]) for n in range(200)]
    candidates = store.words.candidates("owner 7")
    assert candidates is not None and candidates.are_matches
    before = commands(store, "hmget"), commands(store, "hgetall")
    page = store.list_jobs(search="Owner 7", limit=20)
    assert [j.id for j in page.items] == by_reading_all(jobs, "owner 7")[:20]
    assert (commands(store, "hmget"), commands(store, "hgetall")) == (before[0], before[1] + 20)
    assert every_page(store, "owner 7") == by_reading_all(jobs, "owner 7")  # 150 jobs
    assert every_page(store, "wner 7") == by_reading_all(jobs, "wner 7")
    assert every_page(store, "owner 70") == by_reading_all(jobs, "owner 70")


def test_a_pair_that_holds_one_word_set_is_read_where_it_is(store: JobStore) -> None:
    for n in range(3):
        add(store, f"Import users from class-{n}.csv", OWNERS[0])
    candidates = store.words.candidates("owner 7")
    assert candidates == word_index.Candidates(store.key("jobs", "pair", "owner 7"), True)
    assert store.redis.keys(store.key("jobs", "search", "*")) == []  # no copy of it stored


def test_a_pair_of_more_jobs_than_allowed_is_found_by_its_words_or_by_reading(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(word_index, "SEARCH_UNION", 5)
    jobs = [add(store, f"Import users from class-{n}.csv", OWNERS[n % 4]) for n in range(24)]
    rare = add(store, "Import users from rare.csv", Person(9, "Zed Ratt"))
    assert every_page(store, "owner 7") == by_reading_all([*jobs, rare], "owner 7")  # 18 jobs
    assert every_page(store, "d ratt") == [rare.id]


def test_a_pair_of_more_jobs_than_a_search_reads_is_not_kept_and_still_found(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(word_index, "PAIR_MOST_JOBS", 3)
    jobs = [add(store, f"Import users from class-{n}.csv", OWNERS[n % 2 * 2]) for n in range(7)]
    assert not store.redis.exists(store.key("jobs", "pair", "owner 7"))  # four jobs: dropped
    assert store.redis.zcard(store.key("jobs", "pair", "owner 70")) == 3  # three: kept
    assert store.redis.sismember(store.key("jobs", "pairs", "full"), "owner 7")
    assert every_page(store, "owner 7") == by_reading_all(jobs, "owner 7")  # not 70's alone
    assert every_page(store, "owner 70") == by_reading_all(jobs, "owner 70")
    for job in jobs[0::2]:
        store.delete(job.id)  # the full pair stays in the vocabulary, and full
    assert store.redis.zscore(store.key("jobs", "pairs"), "owner 7") == 0
    assert every_page(store, "owner 7") == by_reading_all(jobs[1::2], "owner 7")


def test_a_search_whose_candidates_all_match_reads_about_a_page_of_them(store: JobStore) -> None:
    pipe = store.redis.pipeline(transaction=False)
    for n in range(2000):
        job = Job(new_job_id(), "import_users", f"Import users from batch-{n}.csv", ADA, n)
        pipe.hset(store.key("job", job.id), mapping=to_fields(job))  # type: ignore[arg-type]
        pipe.zadd(store.key("jobs"), {job.id: n})
        store.words.index(pipe, job.id, n, text_of(job.description, ADA.name))
    pipe.execute()
    store.list_jobs(search="nothing")  # builds the index once: these jobs came without it
    before = commands(store, "hmget") + commands(store, "hgetall")
    page = store.list_jobs(search="batch-", limit=50)
    assert [job.description for job in page.items[:2]] == [
        "Import users from batch-1999.csv", "Import users from batch-1998.csv"
    ]  # fmt: skip
    assert len(page.items) == 50
    assert commands(store, "hmget") + commands(store, "hgetall") - before <= 150  # not 1,050


def commands(store: JobStore, name: str) -> int:
    stats = store.redis.info("commandstats").get(f"cmdstat_{name}", {})
    return int(stats.get("calls", 0))


def test_a_removed_job_leaves_the_word_index(store: JobStore) -> None:
    kept = add(store, "Import users from kept.csv", ADA)
    gone = add(store, "Import users from gone.csv", ADA)
    store.delete(gone.id)
    assert every_page(store, "gone") == []
    assert every_page(store, "users from") == [kept.id]
    assert not store.redis.exists(store.key("jobs", "word", "gone"))
    assert store.redis.zscore(store.key("jobs", "words"), "gone") is None
    assert store.redis.zscore(store.key("jobs", "words", "reversed"), "enog") is None
    assert store.redis.zscore(store.key("jobs", "words"), "kept") == 0
    assert not store.redis.exists(store.key("job", gone.id, "words"))
    assert not store.redis.exists(store.key("job", gone.id, "pairs"))
    assert not store.redis.exists(store.key("jobs", "pair", "from gone"))
    assert store.redis.zscore(store.key("jobs", "pairs"), "from gone") is None
    assert store.redis.zscore(store.key("jobs", "pairs"), "from kept") == 0
    assert store.redis.zcard(store.key("jobs", "pair", "users from")) == 1
    assert not store.redis.exists(store.key("jobs", "trigram", "gon"))
    assert not store.redis.exists(store.key("jobs", "trigram", "one"))
    assert store.redis.smembers(store.key("jobs", "trigram", "ept")) == {"kept"}


def test_jobs_forgotten_at_retention_leave_the_word_index(store: JobStore) -> None:
    old = add(store, "Import users from old-term.csv", GRACE)
    store.transition(old.id, Event.START, at=time.time())
    store.transition(old.id, Event.COMPLETE, at=time.time())
    fresh = add(store, "Import users from new-term.csv", GRACE)
    assert store.forget_expired(at=time.time() + store.retention_s + 10) == [old.id]
    assert every_page(store, "term.csv") == [fresh.id]
    for word in ("old", "old-term"):
        assert store.redis.zscore(store.key("jobs", "words"), word) is None
    assert not store.redis.exists(store.key("jobs", "word", "old"))
    assert not store.redis.exists(store.key("job", old.id, "words"))
    assert store.redis.zcard(store.key("jobs", "word", "term")) == 1
    assert every_page(store, "from old") == []
    assert store.redis.zscore(store.key("jobs", "pairs"), "from old") is None
    assert not store.redis.exists(store.key("jobs", "pair", "from old"))
    assert not store.redis.exists(store.key("job", old.id, "pairs"))
    assert store.redis.zcard(store.key("jobs", "pair", "users from")) == 1


def test_a_store_from_before_the_word_index_still_finds_its_jobs(store: JobStore) -> None:
    jobs = add_jobs(store)
    for key in store.redis.scan_iter(store.key("jobs", "word*")):
        store.redis.delete(key)  # as an older version left it: records, no word index
    for job in jobs:
        store.redis.delete(store.key("job", job.id, "words"))
    for needle in ("class-77", "lass", "grace"):
        assert every_page(store, needle) == by_reading_all(jobs, needle), needle


def test_a_store_from_before_the_trigram_sets_still_finds_pieces_inside_words(
    store: JobStore,
) -> None:
    jobs = add_jobs(store)
    for key in store.redis.scan_iter(store.key("jobs", "trigram*")):
        store.redis.delete(key)  # as the version before them left it: words, no trigrams
    for needle in ("lass", "aff", "straß", "ovelac"):
        assert every_page(store, needle) == by_reading_all(jobs, needle), needle
    assert store.redis.smembers(store.key("jobs", "trigram", "las")) == {"class", "subclass"}


def test_a_store_from_before_the_pair_index_still_finds_two_words(store: JobStore) -> None:
    jobs = add_jobs(store)
    for key in store.redis.scan_iter(store.key("jobs", "pair*")):
        store.redis.delete(key)  # as the version before them left it: words, no pairs
    for job in jobs:
        store.redis.delete(store.key("job", job.id, "pairs"))
    for needle in ("ada lovelace", "e hop", "lass-77", "s from"):
        assert every_page(store, needle) == by_reading_all(jobs, needle), needle
    assert store.redis.zcard(store.key("jobs", "pair", "ada lovelace")) == len(jobs) // 3
    store.delete(jobs[0].id)  # its pairs, filed once, leave with it
    assert store.redis.zcard(store.key("jobs", "pair", "ada lovelace")) == len(jobs) // 3 - 1


def test_a_search_in_a_store_built_already_checks_its_flags_in_one_command(
    store: JobStore,
) -> None:
    jobs = add_jobs(store)
    every_page(store, "lass")  # builds what a store from before needs (nothing here)
    before = commands(store, "exists")
    assert store.words.candidates("ada lovelace") is not None
    assert commands(store, "exists") == before + 1
    assert every_page(store, "ada lovelace") == by_reading_all(jobs, "ada lovelace")


def test_a_piece_inside_a_word_is_looked_up_by_its_trigrams(store: JobStore) -> None:
    jobs = add_jobs(store)
    every_page(store, "lass")  # builds what a store from before needs (nothing here)
    scans = commands(store, "zscan")
    for needle in ("lass", "ubclas", "taf", "aïv"):
        assert every_page(store, needle) == by_reading_all(jobs, needle), needle
    assert commands(store, "zscan") == scans  # the vocabulary was not read
    assert every_page(store, "la") == by_reading_all(jobs, "la")  # too short: read it all
    assert commands(store, "zscan") > scans


def test_counts_by_status_follow_transitions_removals_and_retention(store: JobStore) -> None:
    jobs = add_jobs(store)  # 24, queued
    for job in jobs[:6]:
        store.transition(job.id, Event.START, at=time.time())
    for job in jobs[:4]:
        store.transition(job.id, Event.COMPLETE, at=time.time())
    store.transition(jobs[4].id, Event.FAIL, at=time.time(), message="boom")
    store.delete(jobs[0].id)
    counts = store.count_by_status()
    assert counts[Status.QUEUED] == 18 and counts[Status.RUNNING] == 1
    assert counts[Status.COMPLETED] == 3 and counts[Status.FAILED] == 1
    store.forget_expired(at=time.time() + store.retention_s + 10)
    counts = store.count_by_status()
    assert (counts[Status.COMPLETED], counts[Status.FAILED], counts[Status.QUEUED]) == (0, 0, 18)


def test_counts_by_status_read_only_the_jobs_not_ended(store: JobStore) -> None:
    jobs = add_jobs(store)
    for job in jobs[2:]:
        store.transition(job.id, Event.START, at=time.time())
        store.transition(job.id, Event.COMPLETE, at=time.time())
    store.count_by_status()  # builds the status indexes on first use
    before = commands(store, "hget") + commands(store, "hmget") + commands(store, "hgetall")
    counts = store.count_by_status()
    assert (counts[Status.QUEUED], counts[Status.COMPLETED]) == (2, len(jobs) - 2)
    read = commands(store, "hget") + commands(store, "hmget") + commands(store, "hgetall")
    assert read - before == 2


def test_a_word_start_of_more_words_than_allowed_is_not_looked_up(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script reads a word's start from the vocabulary itself: past SEARCH_WORDS words the
    option is not looked at, and the search reads the jobs newest first (the same answer)."""
    monkeypatch.setattr(word_index, "SEARCH_WORDS", 5)
    for n in range(8):
        add(store, f"Import users from batch{n}.csv", ADA)
    few = [add(store, f"Import users from rare{n}.csv", GRACE) for n in range(3)]
    assert store.words.candidates("batch") is None  # 8 words start with it
    assert store.words.candidates("rare") is not None  # 3 do
    assert [j.id for j in store.list_jobs(search="rare").items] == [j.id for j in few[::-1]]
    assert len(store.list_jobs(search="batch").items) == 8
