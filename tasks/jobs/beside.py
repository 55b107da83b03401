"""What the job store keeps beside each job (keys in store.py's docstring): its error ledger
(searched through error_index.py), who asked to be told when it ends and who was mailed, and
its audit. Each set and list expires with its job (the Lua scripts add to them only while the
job exists, with its expiry).

`Beside` is a part of `JobStore`, which gives it `redis`, `key()` and the scripts.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import cast

import redis
from redis.commands.core import Script

from tasks.jobs.error_index import ErrorIndex
from tasks.jobs.lua import lua
from tasks.jobs.records import AuditEntry, JobError, Page, UnknownJob

ADD_BESIDE = lua("add_beside")
AUDIT = lua("audit")
CLAIM_MAIL = lua("claim_mail")
AUDIT_KEPT = 1000  # the last entries of a job's audit
ERRORS_AT = lua("errors_at")
READ_AT_ONCE = 500  # candidates of an error search read in one round trip
WATCHING = lua("watching")


class Beside:
    redis: redis.Redis
    error_index: ErrorIndex
    _add_beside: Script
    _errors_at: Script
    _claim_mail: Script
    _audit: Script
    _watching: Script

    def key(self, *parts: object) -> str:
        raise NotImplementedError  # JobStore's

    # -- the error ledger ------------------------------------------------------------------

    def errors(self, job_id: str, cursor: int = 0, limit: int = 50) -> Page[JobError]:
        """Errors in item order; the cursor is the offset of the next one, None at the end
        (one more is read to know: a ledger full at its cap ends on a page boundary)."""
        raw = self.redis.zrange(self.key("job", job_id, "errors"), cursor, cursor + limit)
        items = [JobError.from_json(r) for r in cast(list[str], raw)[:limit]]
        next_cursor = str(cursor + limit) if len(raw) > limit else None
        return Page(items, next_cursor)

    def search_errors(
        self, job_id: str, needle: str, cursor: int = 0, limit: int = 50
    ) -> Page[JobError]:
        """Errors whose item or message contains `needle` (any case), in item order; the
        cursor is the ledger offset to go on from. Reads only the errors that the index says
        may match (`ErrorIndex.candidates`), and checks each."""
        wanted = needle.casefold()
        slots = self.error_index.candidates(job_id, wanted)
        if slots is None:
            return self._scan_errors(job_id, wanted, cursor, limit)
        key = self.key("job", job_id, "errors")
        pending = slots[bisect.bisect_left(slots, cursor) :]
        found: list[JobError] = []
        for start in range(0, len(pending), READ_AT_ONCE):
            chunk = pending[start : start + READ_AT_ONCE]
            members = cast(list[str | None], self._errors_at(keys=[key], args=chunk))
            for slot, member in zip(chunk, members, strict=True):
                if member is None:
                    continue
                error = JobError.from_json(member)
                if wanted in error.item.casefold() or wanted in error.message.casefold():
                    found.append(error)
                    if len(found) == limit:
                        more = slot < pending[-1]
                        return Page(found, str(slot + 1) if more else None)
        return Page(found, None)

    def _scan_errors(self, job_id: str, wanted: str, cursor: int, limit: int) -> Page[JobError]:
        """`search_errors` by reading the ledger from `cursor` on, a thousand at a time: for
        the jobs that `candidates` cannot narrow (at most `max_errors` errors each)."""
        key = self.key("job", job_id, "errors")
        found: list[JobError] = []
        chunk = 1000
        while len(found) < limit:
            raw = cast(list[str], self.redis.zrange(key, cursor, cursor + chunk - 1))
            for offset, member in enumerate(raw):
                error = JobError.from_json(member)
                if wanted in error.item.casefold() or wanted in error.message.casefold():
                    found.append(error)
                    if len(found) == limit:
                        next_cursor = cursor + offset + 1
                        more = self.redis.zcard(key) > next_cursor
                        return Page(found, str(next_cursor) if more else None)
            cursor += len(raw)
            if len(raw) < chunk:
                break
        return Page(found, None)

    def error_count(self, job_id: str) -> int:
        """How many errors the ledger keeps: the record's `error_count` counts them all, and
        is larger once more than `max_errors` were found."""
        count: int = self.redis.zcard(self.key("job", job_id, "errors"))
        return count

    # -- notify me -------------------------------------------------------------------------

    def add_watcher(self, job_id: str, user_id: int) -> bool:
        """True if this person had not asked yet."""
        keys = [self.key("job", job_id), self.key("job", job_id, "notify")]
        result = self._add_beside(keys=keys, args=[user_id])
        if not result:
            raise UnknownJob(job_id)
        return int(result) == 2

    def watchers(self, job_id: str) -> set[int]:
        return {int(u) for u in self.redis.smembers(self.key("job", job_id, "notify"))}

    def is_watching(self, job_id: str, user_id: int) -> bool:
        return bool(self.redis.sismember(self.key("job", job_id, "notify"), str(user_id)))

    def watched_by(self, job_ids: Sequence[str], user_id: int) -> set[str]:
        """Those of `job_ids` that `user_id` asked to be told about, in one command (a page
        of 200 rows sent 200 SISMEMBERs)."""
        if not job_ids:
            return set()
        keys = [self.key("job", job_id, "notify") for job_id in job_ids]
        found = cast(list[int], self._watching(keys=keys, args=[user_id]))
        return {job_id for job_id, is_member in zip(job_ids, found, strict=True) if is_member}

    def claim_mail_queue(self, job_id: str) -> bool:
        """True once per job: whoever gets True queues the end-of-job emails."""
        return bool(self._claim_mail(keys=[self.key("job", job_id)]))

    def was_mailed(self, job_id: str, user_id: int) -> bool:
        return bool(self.redis.sismember(self.key("job", job_id, "mailed"), str(user_id)))

    def mark_mailed(self, job_id: str, user_id: int) -> None:
        keys = [self.key("job", job_id), self.key("job", job_id, "mailed")]
        self._add_beside(keys=keys, args=[user_id])

    # -- the audit -------------------------------------------------------------------------

    def add_audit(self, job_id: str, entry: AuditEntry) -> None:
        """Keep who did what with the job (the last thousand entries; expires with the job)."""
        keys = [self.key("job", job_id), self.key("job", job_id, "audit")]
        if not self._audit(keys=keys, args=[entry.to_json(), AUDIT_KEPT]):
            raise UnknownJob(job_id)

    def audit(self, job_id: str) -> list[AuditEntry]:
        raw = cast(list[str], self.redis.lrange(self.key("job", job_id, "audit"), 0, -1))
        return [AuditEntry.from_json(r) for r in raw]
