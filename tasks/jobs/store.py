"""Jobs on Redis: records, indexes, the error ledger, notify wishes, and events.

`JobStore` is this module's records, transitions, progress and removal, with its parts in
modules of their own: listings.py (lists and status indexes), beside.py (the error ledger,
notify wishes and mails, the audit), error_index.py (error search), word_index.py (history
search), records.py (what it hands out besides jobs); its Lua scripts are files under lua/,
each saying what its KEYS and ARGV are.

Keys, all under one prefix (`jobdeck:` by default):

    job:{id}              hash: the job record (`model.to_fields`, its `error_cap` among
                          them), plus `mail_queued`, and `runner` and `run`: the worker that
                          holds the job and the fencing token of its run (`claim_run`; never
                          published)
    job:{id}:errors       sorted set: the error ledger, its first `max_errors` errors, or
                          `error_cap` if the record has one and it is smaller (each one's item
                          and message cut to a bounded length); score = item position,
                          member = JSON
    job:{id}:errors:over  hash: the errors past that cap, counted and not kept: `n` their
                          number (the record's `error_count` = the ledger's size + n), and per
                          position the range of their orders, `lo:hi` (for a rewind)
    job:{id}:errors:words hash: the error index (beside.py): index token (search.py's
                          `tokens_of`) -> the ledger slots (ranks) of the errors that have it,
                          packed as 4-byte little-endian integers; `!indexed` once it holds
                          any, `!unordered` if an error ever came out of ledger order
    job:{id}:errors:vocabulary  sorted set, every score 0: the words of the index (a word's
                          start looked up by ZRANGEBYLEX, its end or a piece by ZSCAN MATCH)
    job:{id}:notify       set: ids of the people who asked for an email when the job ends
    job:{id}:mailed       set: ids of the people who were sent that email
    job:{id}:audit        list: who launched, aborted, asked to be notified, and when (JSON)
    jobs                  sorted set: every job id, scored by creation time
    jobs:owner:{uid}      sorted set: one owner's job ids, scored by creation time
    jobs:active           sorted set: jobs not yet ended, scored by creation time
    jobs:expiry           sorted set: ended jobs, scored by when they expire
    jobs:status:{status}  sorted set: ended jobs of one final status, scored by creation time
                          (so that a status filter reads only what it lists, and /metrics
                          counts them with ZCARD; built from the records once, on first use,
                          in a store that predates it)
    job:{id}:words        string: the words of the job's text (search.py), space-separated;
                          no expiry: removed with the job from every index
    job:{id}:pairs        string: the pairs of words of the job's text (search.pairs_of), a
                          JSON array; no expiry, like its words
    jobs:word:{word}      sorted set: the jobs whose text has this word, by creation time
    jobs:words            sorted set, every score 0: the words some job's text has (a word's
                          start looked up by ZRANGEBYLEX, a piece of one or two characters
                          inside one by ZSCAN MATCH);
                          built like the status indexes, flagged by jobs:words:built
    jobs:words:reversed   sorted set, every score 0: the same words spelt backwards (a word's end)
    jobs:trigram:{abc}    set: the words of jobs:words that hold these three characters (a
                          piece inside a word); built once in a store that predates them,
                          flagged by jobs:trigrams:built
    jobs:pair:{pair}      sorted set: the jobs whose text has this pair of words next to each
                          other ("owner 7", "class-77": as the text writes them), by creation time
    jobs:pairs            sorted set, every score 0: the pairs some job's text has (a needle of
                          two words looked up by ZRANGEBYLEX); built once in a store that
                          predates them, flagged by jobs:pairs:built
    jobs:pairs:full       set: the pairs whose sorted set passed PAIR_MOST_JOBS and was
                          dropped (word_index.py; no search reads that many through one option)
    jobs:search:{digest}  sorted set: the jobs one search may find (an intersection or union
                          of word sets), for a minute
    events                pub/sub channel: one JSON event per change (see docs/events.md)
    stats:events          counter: job events published, by every process (INCR in the same
                          MULTI or script that publishes), for /metrics
    workers               sorted set: worker ids, scored by their last heartbeat (beacon.py)
    workers:beats         counter: worker heartbeats, by every worker
    workers:brokers       hash: worker id -> its Dramatiq broker id (beacon.py, rescue.py)

A change of status is a WATCH/MULTI transaction that applies the pure model and PUBLISHes the
new snapshot inside the same MULTI, so that the stored record and the event stream agree and
a racing abort and completion cannot both win. Progress and errors go through one Lua script
(`FLUSH`), one round trip per throttled update; it also files each kept error in the index.

One runner per job at a time: a worker claims a job before it starts or resumes it
(`claim_run`, refused while another live worker holds it), and every write of that run (flush,
rewind, its final transition) carries the run's token and raises `RunLost` once somebody else
claimed the job, so that a worker that was only paused cannot write after it lost the job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from tasks.jobs import events
from tasks.jobs.beside import (
    ADD_BESIDE,
    AUDIT,
    AUDIT_KEPT,
    CLAIM_MAIL,
    ERRORS_AT,
    WATCHING,
    Beside,
)
from tasks.jobs.error_index import ErrorIndex
from tasks.jobs.listings import ACTIVE, Listings
from tasks.jobs.lua import lua
from tasks.jobs.model import (
    FINAL,
    OPTIONAL_FIELDS,
    Event,
    InvalidTransition,
    Job,
    Status,
    apply,
    from_fields,
    to_fields,
)
from tasks.jobs.records import (
    AuditEntry,
    JobError,
    Page,
    RunLost,
    TooManyActiveJobs,
    UnknownJob,
)
from tasks.jobs.search import error_text, pairs_of, text_of, tokens_of, words_of
from tasks.jobs.word_index import WordIndex

FLUSH = lua("flush")


REWIND = lua("rewind")

CLAIM = lua("claim")
ACTIVE_OWNERS = lua("active_owners")
JOB_TEXTS = lua("job_texts")


RIDE_OUT_S = 20  # how long a command waits for a restarting Redis (see `JobStore.from_url`)
# The keys that make up one job: deleted together, and expiring together once it ends.
BESIDE = ("", ":errors", ":notify", ":mailed", ":audit", ":errors:over", ":errors:words",
          ":errors:vocabulary")  # fmt: skip
MAX_ERRORS = 10_000  # kept in a job's ledger, unless the store is told otherwise (JOB_MAX_ERRORS)
OWNER_MAX_KEPT = 100_000  # kept by one person's jobs in all (OWNER_MAX_KEPT_ERRORS, budget.py)


class JobStore(Listings, Beside):
    """Maps jobs to Redis and back; every method is one or a few round trips."""

    def __init__(
        self,
        client: redis.Redis,
        retention_s: float,
        prefix: str = "jobdeck:",
        max_errors: int = MAX_ERRORS,
        owner_max_kept: int = OWNER_MAX_KEPT,
    ) -> None:
        self.redis = client
        self.retention_s = retention_s
        self.prefix = prefix
        self.max_errors = max_errors
        self.owner_max_kept = owner_max_kept
        self._full_ledgers: set[str] = set()  # jobs this process saw with a full ledger
        self.channel = prefix + "events"
        self._flush = client.register_script(FLUSH)
        self._rewind = client.register_script(REWIND)
        self._add_beside = client.register_script(ADD_BESIDE)
        self._errors_at = client.register_script(ERRORS_AT)
        self._claim_mail = client.register_script(CLAIM_MAIL)
        self._watching = client.register_script(WATCHING)
        self._audit = client.register_script(AUDIT)
        self._claim = client.register_script(CLAIM)
        self._active_owners = client.register_script(ACTIVE_OWNERS)
        self._job_texts = client.register_script(JOB_TEXTS)
        self.words = WordIndex(client, self.key)
        self.error_index = ErrorIndex(client, self.key)

    @classmethod
    def from_url(
        cls,
        url: str,
        retention_s: float,
        prefix: str = "jobdeck:",
        max_errors: int = MAX_ERRORS,
        owner_max_kept: int = OWNER_MAX_KEPT,
    ) -> JobStore:
        # A Redis restart (a failover, an upgrade) must not fail the jobs that are writing:
        # each command waits for Redis to come back, up to about RIDE_OUT_S, before it raises.
        retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=RIDE_OUT_S + 5)
        client = redis.Redis.from_url(
            url, decode_responses=True, health_check_interval=30, retry=retry
        )
        return cls(client, retention_s, prefix, max_errors, owner_max_kept)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # -- records ---------------------------------------------------------------------------

    def create(self, job: Job, max_active: int | None = None) -> Job:
        """Store a new job (queued) and announce it. With `max_active`, raises
        TooManyActiveJobs, writing nothing, if its owner has that many jobs not ended yet: the
        count and the writes are one transaction (watching the owner's index, so that two
        launches at once cannot both take the last place)."""
        job = replace(job, seq=1)
        fields = to_fields(job)
        owned = self.key("jobs", "owner", job.owner.id)

        def attempt(pipe: redis.client.Pipeline) -> None:
            if max_active is not None:
                active = self.key("jobs", "active")
                if pipe.zintercard(2, [active, owned], limit=max_active) >= max_active:
                    raise TooManyActiveJobs(job.owner.id, max_active)
            pipe.multi()
            pipe.hset(self.key("job", job.id), mapping=cast(dict[Any, Any], fields))
            pipe.zadd(self.key("jobs"), {job.id: job.created_at})
            pipe.zadd(owned, {job.id: job.created_at})
            pipe.zadd(self.key("jobs", "active"), {job.id: job.created_at})
            self.words.index(pipe, job.id, job.created_at, text_of(job.description, job.owner.name))
            pipe.publish(self.channel, events.encode_job(fields, time.time()))
            pipe.incr(self.key("stats", "events"))

        self.redis.transaction(attempt, owned)
        return job

    def active_count(self, owner_id: int, most: int = 0) -> int:
        """How many of the owner's jobs are not ended yet (counted up to `most`; 0: all)."""
        keys = [self.key("jobs", "active"), self.key("jobs", "owner", owner_id)]
        count: int = self.redis.zintercard(2, keys, limit=most)
        return count

    def get(self, job_id: str) -> Job:
        fields = cast(dict[str, str], self.redis.hgetall(self.key("job", job_id)))
        if not fields:
            raise UnknownJob(job_id)
        return from_fields(fields)

    def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        """The jobs that still exist, in the order asked."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.key("job", job_id))
        return [from_fields(f) for f in pipe.execute() if f]

    def transition(
        self,
        job_id: str,
        event: Event,
        at: float,
        run: str | None = None,
        audit: AuditEntry | None = None,
        **changes: Any,
    ) -> Job:
        """Apply `event` atomically, with its `audit` entry if any (in the same MULTI: no
        abort without its author); raises InvalidTransition if the status does not allow it,
        and RunLost if `run` is given and is no longer the job's run."""
        key = self.key("job", job_id)

        def attempt(pipe: redis.client.Pipeline) -> Job:
            fields = cast(dict[str, str], pipe.hgetall(key))
            if not fields:
                raise UnknownJob(job_id)
            if run is not None and fields.get("run", run) != run:
                raise RunLost(job_id)
            job = apply(from_fields(fields), event, at, **changes)
            job = replace(job, seq=job.seq + 1)
            new_fields = to_fields(job)
            pipe.multi()
            pipe.hset(key, mapping=cast(dict[Any, Any], new_fields))
            gone = [name for name in OPTIONAL_FIELDS if name in fields and name not in new_fields]
            if gone:  # (a pause's time, once the job runs again)
                pipe.hdel(key, *gone)
            if audit is not None:  # (before _expire, which gives the list the job's expiry)
                pipe.rpush(self.key("job", job_id, "audit"), audit.to_json())
                pipe.ltrim(self.key("job", job_id, "audit"), -AUDIT_KEPT, -1)
            if job.status in FINAL:
                self._expire(pipe, job)
                self._full_ledgers.discard(job.id)
            pipe.publish(self.channel, events.encode_job(new_fields, time.time()))
            pipe.incr(self.key("stats", "events"))
            return job

        transaction: Any = self.redis.transaction  # typed as if the callable returned None
        result: Job = transaction(attempt, key, value_from_callable=True)
        return result

    def _expire(self, pipe: redis.client.Pipeline, job: Job) -> None:
        expires_at = job.expires_at(self.retention_s)
        assert expires_at is not None
        pipe.zrem(self.key("jobs", "active"), job.id)
        pipe.zadd(self.key("jobs", "status", job.status.value), {job.id: job.created_at})
        pipe.zadd(self.key("jobs", "expiry"), {f"{job.id}:{job.owner.id}": expires_at})
        for name in BESIDE:
            pipe.expireat(self.key("job", job.id) + name, int(expires_at) + 1)

    def claim_run(self, job_id: str, runner: str, run: str, alive_since: float) -> str:
        """Make `run` (a fresh token) of worker `runner` the job's one run: 'ok'; or 'held'
        while another worker whose last beat is at or after `alive_since` holds it, 'ended',
        'gone'. A worker that stopped beating loses its claim to the next one."""
        keys = [self.key("job", job_id), self.key("workers")]
        outcome: str = self._claim(keys=keys, args=[runner, run, repr(alive_since)])
        return outcome

    def flush(
        self,
        job_id: str,
        fields: dict[str, str],
        errors: Iterable[JobError] = (),
        run: str = "",
    ) -> Status | None:
        """Write progress fields and new errors, publish the snapshot; the status, or None if
        the job is gone. Raises RunLost (writing nothing) if `run` is no longer the job's.
        Errors past `max_errors` (or the job's smaller `error_cap`) are counted and not kept
        (told apart within a position by their `order`, which `JobContext.error` numbers);
        each kept one is indexed."""
        args: list[str | int | float] = [len(fields), repr(time.time()), run, self.max_errors]
        for name, value in fields.items():
            args += [name, value]
        is_full = job_id in self._full_ledgers  # then only counted: no need to say more
        for error in errors:
            if is_full:
                args += [error.score, "", error.order, ""]
            else:
                tokens = " ".join(tokens_of(error_text(error.item, error.message)))
                args += [error.score, error.to_json(), error.order, tokens]
        job = self.key("job", job_id)
        beside = [job + name for name in (":errors:over", ":errors:words", ":errors:vocabulary")]
        keys = [job, job + ":errors", self.channel, self.key("stats", "events"), *beside]
        outcome = self._flush(keys=keys, args=args)
        if outcome == "lost":
            raise RunLost(job_id)
        if not outcome:
            return None
        status, full = outcome
        if int(full):
            self._full_ledgers.add(job_id)
        return Status(status)

    def rewind(self, job_id: str, position: int, run: str = "") -> None:
        """Forget errors at or after `position` (kept or only counted): the items from there on
        will be done again."""
        job = self.key("job", job_id)
        keys = [job, job + ":errors", job + ":errors:over"]
        self._full_ledgers.discard(job_id)
        outcome = self._rewind(keys=keys, args=[position, run])
        if outcome == "lost":
            raise RunLost(job_id)
        if not outcome:
            raise UnknownJob(job_id)

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        pipe = self.redis.pipeline(transaction=True)
        for name in BESIDE:
            pipe.delete(self.key("job", job_id) + name)
        for index in (("jobs",), ("jobs", "owner", job.owner.id), ("jobs", "active")):
            pipe.zrem(self.key(*index), job_id)
        pipe.zrem(self.key("jobs", "expiry"), f"{job_id}:{job.owner.id}")
        pipe.zrem(self.key("jobs", "status", job.status.value), job_id)
        text = text_of(job.description, job.owner.name)
        self.words.unindex(pipe, job_id, words_of(text), pairs_of(text))
        pipe.publish(self.channel, events.encode_removed(job_id, job.owner.id))
        pipe.incr(self.key("stats", "events"))
        pipe.execute()

    def forget_expired(self, at: float, limit: int = 500) -> list[str]:
        """Drop ended jobs past retention from every index (their keys expired on their own);
        returns their ids so that their inputs can be removed too."""
        members = cast(
            list[str], self.redis.zrangebyscore(self.key("jobs", "expiry"), 0, at, 0, limit)
        )
        if not members:
            return []
        pipe = self.redis.pipeline(transaction=False)
        ids = []
        for member in members:
            job_id, _, owner_id = member.partition(":")
            ids.append(job_id)
            pipe.zrem(self.key("jobs", "owner", owner_id), job_id)
        pipe.zrem(self.key("jobs"), *ids)
        pipe.zrem(self.key("jobs", "active"), *ids)
        for status in FINAL:
            pipe.zrem(self.key("jobs", "status", status.value), *ids)
        pipe.zrem(self.key("jobs", "expiry"), *members)
        pipe.execute()
        words_pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            words_pipe.get(self.key("job", job_id, "words"))
            words_pipe.get(self.key("job", job_id, "pairs"))
        stored = words_pipe.execute()
        pipe = self.redis.pipeline(transaction=False)
        for job_id, words, pairs in zip(ids, stored[0::2], stored[1::2], strict=True):
            self.words.unindex(
                pipe, job_id, set((words or "").split()), set(json.loads(pairs or "[]"))
            )
        pipe.execute()
        return ids

    # -- figures for /metrics --------------------------------------------------------------

    def events_published(self) -> int:
        return int(cast(str | None, self.redis.get(self.key("stats", "events"))) or 0)

    def count_by_status(self) -> dict[Status, int]:
        """How many stored jobs are in each status: the size of each ended status's index,
        and the status of each job not ended yet (these are few: the ones running or queued)."""
        counts = dict.fromkeys(Status, 0)
        indexes = {status: self.status_index(status) for status in FINAL}
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes.values():
            pipe.zcard(index)
        for status, count in zip(indexes, pipe.execute(), strict=True):
            counts[status] = int(count)
        active = self.active_ids()
        pipe = self.redis.pipeline(transaction=False)
        for job_id in active:
            pipe.hget(self.key("job", job_id), "status")
        for status in pipe.execute():
            if status in counts and Status(status) in ACTIVE:
                counts[Status(status)] += 1
        return counts


__all__ = [
    "AuditEntry",
    "InvalidTransition",
    "JobError",
    "JobStore",
    "Page",
    "RunLost",
    "TooManyActiveJobs",
    "UnknownJob",
]
