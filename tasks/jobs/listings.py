"""How the job store lists jobs: those not ended yet, and any page of them newest first, for
one owner or everyone, by status, and matching a search (through the word index). The status
indexes of ended jobs are built from the records once, in a store that predates them.

`Listings` is a part of `JobStore`, which gives it `redis`, `key()`, `get_many()`, `words`
and two Lua scripts (`active_owners`, `job_texts`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import redis
from redis.commands.core import Script

from tasks.jobs.model import FINAL, Job, Status
from tasks.jobs.records import Page
from tasks.jobs.word_index import WordIndex

ACTIVE = frozenset(Status) - FINAL


class Listings:
    redis: redis.Redis
    words: WordIndex
    _active_owners: Script
    _job_texts: Script

    def key(self, *parts: object) -> str:
        raise NotImplementedError  # JobStore's

    def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        raise NotImplementedError  # JobStore's

    def active_ids(self) -> list[str]:
        ids = cast(list[str], self.redis.zrange(self.key("jobs", "active"), 0, -1))
        return ids

    def active_owners(self) -> list[int]:
        """The owner's id of each job not ended yet, without reading the records whole."""
        keys, args = [self.key("jobs", "active")], [self.key("job", "")]
        owners = cast(list[str], self._active_owners(keys=keys, args=args))
        return [int(owner) for owner in owners]

    def list_jobs(
        self,
        owner_id: int | None = None,
        statuses: Sequence[Status] = (),
        cursor: str | None = None,
        limit: int = 50,
        matching: Callable[[str], bool] | None = None,
        search: str = "",
    ) -> Page[Job]:
        """Newest first, for one owner or everyone, optionally only some statuses, and only
        the jobs whose "description\nowner name" contains `search` (any case) and that
        `matching` accepts (read before the rest of the record, so that a search reads whole
        only what it finds; `search` reads only the jobs the word index points to).

        The cursor is opaque to callers: the score and id of the last job returned.
        """
        index = self.key("jobs", "owner", owner_id) if owner_id is not None else self.key("jobs")
        wanted = set(statuses)
        needle = search.casefold()
        if wanted and wanted <= ACTIVE:
            index = self.key("jobs", "active")  # few: the owner, if any, is checked per job
        elif needle and (candidates := self.words.candidates(needle)) is not None:
            index = candidates.key  # the owner and statuses are checked per job
            if candidates.are_matches:
                needle = ""  # every job there holds it: no text need be read
        elif owner_id is None and len(wanted) == 1 and wanted <= FINAL:
            index = self.status_index(next(iter(wanted)))
        if needle:
            accepts = matching

            def matching(text: str) -> bool:
                return needle in text.casefold() and (accepts is None or accepts(text))

        found: list[Job] = []
        read = kept = 0  # of the ids `matching` was asked about, and that it accepted

        def take(ids: list[str]) -> None:
            nonlocal read, kept
            if matching is not None and ids:
                flat = cast(list[str | None], self._job_texts(args=[self.key("job", ""), *ids]))
                texts = zip(flat[0::2], flat[1::2], strict=True)
                ids = [i for i, (d, o) in zip(ids, texts, strict=True) if matching(f"{d}\n{o}")]
                read, kept = read + len(flat) // 2, kept + len(ids)
            # Whole records are read as many as the page lacks (a quarter page at least), until
            # it is full: a page whose newest few are not of the statuses asked reads those few
            # more, not another page.
            start = 0
            while start < len(ids) and len(found) < limit:
                batch = ids[start : start + max(limit - len(found), limit // 4)]
                start += len(batch)
                for job in self.get_many(batch):
                    if len(found) < limit and (not wanted or job.status in wanted):
                        if owner_id is None or job.owner.id == owner_id:
                            found.append(job)

        max_score = "+inf"
        if cursor:
            score, _, after_id = cursor.partition(":")
            float(score)  # a malformed cursor raises ValueError here
            # Jobs that share the cursor's creation time come in reverse id order.
            ties = cast(list[str], self.redis.zrevrangebyscore(index, score, score))
            take([job_id for job_id in ties if job_id < after_id])
            max_score = f"({score}"
        offset = 0
        while len(found) < limit:
            chunk = next_chunk(limit - len(found), read, kept)
            ids = cast(
                list[str],
                self.redis.zrevrangebyscore(index, max_score, "-inf", start=offset, num=chunk),
            )
            offset += len(ids)
            take(ids)
            if len(ids) < chunk:
                break
        next_cursor = None
        if len(found) == limit:
            next_cursor = f"{found[-1].created_at!r}:{found[-1].id}"
        return Page(found, next_cursor)

    def status_index(self, status: Status) -> str:
        """The index of the ended jobs of one status, built once from the records if this
        store predates it (a job that ends meanwhile is added by its transition too)."""
        index = self.key("jobs", "status", status.value)
        built = self.key("jobs", "status", "built")
        if not self.redis.exists(built):
            ids = cast(list[str], self.redis.zrange(self.key("jobs", "expiry"), 0, -1))
            ids = [member.partition(":")[0] for member in ids]
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                pipe = self.redis.pipeline(transaction=False)
                for job_id in chunk:
                    pipe.hmget(self.key("job", job_id), "status", "created_at")
                by_status: dict[str, dict[str, float]] = {}
                for job_id, (value, created) in zip(chunk, pipe.execute(), strict=True):
                    if value in FINAL and created is not None:
                        by_status.setdefault(value, {})[job_id] = float(created)
                pipe = self.redis.pipeline(transaction=False)
                for value, members in by_status.items():
                    pipe.zadd(self.key("jobs", "status", value), members)
                pipe.execute()
            self.redis.set(built, "1")
        return index


def next_chunk(wanted: int, read: int, kept: int) -> int:
    """How many ids to read next for `wanted` more jobs, when `kept` of the `read` so far
    passed the search: enough at the rate seen, and a quarter more, or four times as many as
    so far while none has passed (at least 100, at most 1,000: an index that narrowed well
    needs few, a search that reads every job many)."""
    if read == 0:
        return max(wanted, 100)
    enough = 4 * read if kept == 0 else math.ceil(wanted / (kept / read) * 1.25)
    return min(max(enough, 100, wanted), max(wanted, 1000))
