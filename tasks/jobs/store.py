"""Jobs on Redis: records, indexes, the error ledger, notify wishes, and events.

Keys, all under one prefix (`jobdeck:` by default):

    job:{id}              hash: the job record (`model.to_fields`), plus `mail_queued`, and
                          `runner` and `run`: the worker that holds the job and the fencing
                          token of its run (`claim_run`; never published)
    job:{id}:errors       sorted set: the error ledger; score = item position, member = JSON
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
    jobs:word:{word}      sorted set: the jobs whose text has this word, by creation time
    jobs:words            sorted set, every score 0: the words some job's text has (a word's
                          start looked up by ZRANGEBYLEX, a piece inside one by ZSCAN MATCH);
                          built like the status indexes, flagged by jobs:words:built
    jobs:words:reversed   sorted set, every score 0: the same words spelt backwards (a word's end)
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
(`FLUSH`), one round trip per throttled update.

One runner per job at a time: a worker claims a job before it starts or resumes it
(`claim_run`, refused while another live worker holds it), and every write of that run (flush,
rewind, its final transition) carries the run's token and raises `RunLost` once somebody else
claimed the job, so that a worker that was only paused cannot write after it lost the job.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from tasks.jobs import events
from tasks.jobs.model import (
    FINAL,
    Event,
    InvalidTransition,
    Job,
    Person,
    Status,
    apply,
    from_fields,
    to_fields,
)
from tasks.jobs.search import Lookup, lookup, text_of, words_of

# KEYS: job hash, errors zset, channel, events counter
# ARGV: n field pairs, the publish time, the run's token, field, value, ..., then score, member
# pairs for the ledger. Writes nothing and returns 'lost' if the token (when not empty) is no
# longer the job's run.
FLUSH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local run = redis.call('HGET', KEYS[1], 'run')
if run and ARGV[3] ~= '' and run ~= ARGV[3] then return 'lost' end
local n = tonumber(ARGV[1])
local i = 4
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', KEYS[1], 'error_count', redis.call('ZCARD', KEYS[2]))
redis.call('HINCRBY', KEYS[1], 'seq', 1)
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for j = 1, #flat, 2 do job[flat[j]] = flat[j + 1] end
job['mail_queued'] = nil
job['runner'] = nil
job['run'] = nil
local event = {v = 1, type = 'job', job = job, at = tonumber(ARGV[2])}
redis.call('PUBLISH', KEYS[3], cjson.encode(event))
redis.call('INCR', KEYS[4])
return job['status']
"""

# KEYS: job hash, a set beside it; ARGV: member. The set expires with the job, if it does.
# Returns 0 if the job is gone, 1 if the member was there already, 2 if it is new.
ADD_BESIDE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local added = redis.call('SADD', KEYS[2], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1 + added
"""

# KEYS: job hash, its audit list; ARGV: entry, how many to keep. The list expires with the job,
# if it does.
AUDIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

# KEYS: job hash; the claim is taken only on a job that still exists
CLAIM_MAIL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'mail_queued', '1')
"""

# KEYS: job hash, errors zset; ARGV: position, the run's token
REWIND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local run = redis.call('HGET', KEYS[1], 'run')
if run and ARGV[2] ~= '' and run ~= ARGV[2] then return 'lost' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
redis.call('HSET', KEYS[1], 'error_count', redis.call('ZCARD', KEYS[2]),
           'done', ARGV[1], 'checkpoint', ARGV[1])
return true
"""

# KEYS: job hash, workers zset; ARGV: this worker, the new run's token, the oldest beat that
# counts as alive. 'ok' once the job is this run's; 'held' while another live worker holds it.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'completed' or status == 'failed' or status == 'aborted' then return 'ended' end
local holder = redis.call('HGET', KEYS[1], 'runner')
if holder then
  local beat = redis.call('ZSCORE', KEYS[2], holder)
  if beat and tonumber(beat) >= tonumber(ARGV[3]) then return 'held' end
end
redis.call('HSET', KEYS[1], 'runner', ARGV[1], 'run', ARGV[2])
return 'ok'
"""


# KEYS: the vocabulary, the reversed one, then the job's word sets; ARGV: job id, its words (in
# the same order), then the same words reversed. A word no job has any more leaves both.
REMOVE_WORDS = """
local n = #KEYS - 2
for i = 1, n do
  redis.call('ZREM', KEYS[i + 2], ARGV[1])
  if redis.call('EXISTS', KEYS[i + 2]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i + 1])
    redis.call('ZREM', KEYS[2], ARGV[i + 1 + n])
  end
end
return true
"""


T = TypeVar("T")
ACTIVE = frozenset(Status) - FINAL

AUDIT_KEPT = 1000  # the last entries of a job's audit
SEARCH_TTL_S = 60
# A search whose candidate words number more than this, or hold more jobs than SEARCH_UNION,
# reads the jobs newest first instead (such a needle matches many of them anyway).
SEARCH_WORDS = 5000
SEARCH_UNION = 20_000
RIDE_OUT_S = 20  # how long a command waits for a restarting Redis (see `JobStore.from_url`)
# The keys that make up one job: deleted together, and expiring together once it ends.
BESIDE = ("", ":errors", ":notify", ":mailed", ":audit")


class UnknownJob(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"unknown job {job_id!r}")
        self.job_id = job_id


class RunLost(RuntimeError):
    """This run of the job was superseded: another worker claimed the job (`claim_run`)
    after this one's worker stopped beating. The run must stop and write nothing more."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} is held by another run now")
        self.job_id = job_id


@dataclass(frozen=True)
class JobError:
    position: int
    item: str
    message: str
    at: float
    order: int = 0  # among the errors at one position, in the order they were found

    @property
    def score(self) -> float:
        """Ledger order: by position, then by discovery (exact below a million per batch)."""
        return self.position + min(self.order, 999_999) / 1_000_000

    def to_json(self) -> str:
        return json.dumps(
            {"p": self.position, "item": self.item, "message": self.message, "at": self.at},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobError:
        data = json.loads(raw)
        return cls(data["p"], data["item"], data["message"], data["at"])


@dataclass(frozen=True)
class AuditEntry:
    """Somebody did something to a job: `launched`, `aborted` or `notify` (asked for an email)."""

    action: str
    by: Person
    at: float

    def to_json(self) -> str:
        data = {"action": self.action, "by_id": self.by.id, "by_name": self.by.name, "at": self.at}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AuditEntry:
        data = json.loads(raw)
        return cls(data["action"], Person(int(data["by_id"]), data["by_name"]), data["at"])


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None


def new_job_id() -> str:
    return secrets.token_hex(8)


def is_job_id(value: str) -> bool:
    return len(value) == 16 and all(c in "0123456789abcdef" for c in value)


class JobStore:
    """Maps jobs to Redis and back; every method is one or a few round trips."""

    def __init__(self, client: redis.Redis, retention_s: float, prefix: str = "jobdeck:") -> None:
        self.redis = client
        self.retention_s = retention_s
        self.prefix = prefix
        self.channel = prefix + "events"
        self._flush = client.register_script(FLUSH)
        self._rewind = client.register_script(REWIND)
        self._add_beside = client.register_script(ADD_BESIDE)
        self._claim_mail = client.register_script(CLAIM_MAIL)
        self._audit = client.register_script(AUDIT)
        self._claim = client.register_script(CLAIM)
        self._remove_words = client.register_script(REMOVE_WORDS)

    @classmethod
    def from_url(cls, url: str, retention_s: float, prefix: str = "jobdeck:") -> JobStore:
        # A Redis restart (a failover, an upgrade) must not fail the jobs that are writing:
        # each command waits for Redis to come back, up to about RIDE_OUT_S, before it raises.
        retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=RIDE_OUT_S + 5)
        client = redis.Redis.from_url(
            url, decode_responses=True, health_check_interval=30, retry=retry
        )
        return cls(client, retention_s, prefix)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # -- records ---------------------------------------------------------------------------

    def create(self, job: Job) -> Job:
        """Store a new job (queued) and announce it."""
        job = replace(job, seq=1)
        fields = to_fields(job)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("job", job.id), mapping=cast(dict[Any, Any], fields))
        pipe.zadd(self.key("jobs"), {job.id: job.created_at})
        pipe.zadd(self.key("jobs", "owner", job.owner.id), {job.id: job.created_at})
        pipe.zadd(self.key("jobs", "active"), {job.id: job.created_at})
        self.index_words(pipe, job.id, job.created_at, text_of(job.description, job.owner.name))
        pipe.publish(self.channel, events.encode_job(fields, time.time()))
        pipe.incr(self.key("stats", "events"))
        pipe.execute()
        return job

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
            if audit is not None:  # (before _expire, which gives the list the job's expiry)
                pipe.rpush(self.key("job", job_id, "audit"), audit.to_json())
                pipe.ltrim(self.key("job", job_id, "audit"), -AUDIT_KEPT, -1)
            if job.status in FINAL:
                self._expire(pipe, job)
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
        the job is gone. Raises RunLost (writing nothing) if `run` is no longer the job's."""
        args: list[str | int | float] = [len(fields), repr(time.time()), run]
        for name, value in fields.items():
            args += [name, value]
        for error in errors:
            args += [error.score, error.to_json()]
        keys = [self.key("job", job_id), self.key("job", job_id, "errors"), self.channel,
                self.key("stats", "events")]  # fmt: skip
        status = self._flush(keys=keys, args=args)
        if status == "lost":
            raise RunLost(job_id)
        return Status(status) if status else None

    def rewind(self, job_id: str, position: int, run: str = "") -> None:
        """Forget errors at or after `position`: the items from there on will be done again."""
        keys = [self.key("job", job_id), self.key("job", job_id, "errors")]
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
        self._unindex_words(pipe, job_id, words_of(text_of(job.description, job.owner.name)))
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
        pipe = self.redis.pipeline(transaction=False)
        for job_id, words in zip(ids, words_pipe.execute(), strict=True):
            self._unindex_words(pipe, job_id, set((words or "").split()))
        pipe.execute()
        return ids

    # -- the search index ------------------------------------------------------------------

    def index_words(
        self, pipe: redis.client.Pipeline, job_id: str, created_at: float, text: str
    ) -> None:
        """Add the job, in `pipe`, to the sets of its text's words (`create` does; a writer
        of records of its own, such as bench/history.py, calls it too)."""
        words = sorted(words_of(text))
        for word in words:
            pipe.zadd(self.key("jobs", "word", word), {job_id: created_at})
        if words:
            pipe.zadd(self.key("jobs", "words"), dict.fromkeys(words, 0))
            pipe.zadd(self.key("jobs", "words", "reversed"), {w[::-1]: 0 for w in words})
        pipe.set(self.key("job", job_id, "words"), " ".join(words))

    def _unindex_words(self, pipe: redis.client.Pipeline, job_id: str, words: set[str]) -> None:
        ordered = sorted(words)
        vocabularies = [self.key("jobs", "words"), self.key("jobs", "words", "reversed")]
        keys = [*vocabularies, *(self.key("jobs", "word", w) for w in ordered)]
        args = [job_id, *ordered, *(w[::-1] for w in ordered)]
        self._remove_words(keys=keys, args=args, client=pipe)
        pipe.delete(self.key("job", job_id, "words"))

    def _words_index_built(self) -> None:
        """Index the words of the jobs stored before the index existed, once."""
        built = self.key("jobs", "words", "built")
        if self.redis.exists(built):
            return
        ids = cast(list[str], self.redis.zrange(self.key("jobs"), 0, -1))
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            pipe = self.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hmget(self.key("job", job_id), "description", "owner_name", "created_at")
            records = cast(list[list[str | None]], pipe.execute())
            pipe = self.redis.pipeline(transaction=False)
            for job_id, (description, owner, created) in zip(chunk, records, strict=True):
                if description is not None and created is not None:
                    text = text_of(description, owner or "")
                    self.index_words(pipe, job_id, float(created), text)
            pipe.execute()
        self.redis.set(built, "1")

    def search_index(self, needle: str) -> str | None:
        """The key of a sorted set, scored by creation time, that holds every job whose text
        can contain the case-folded `needle` (and maybe others: the caller checks each); None
        if only reading every job can tell."""
        self._words_index_built()
        found = lookup(needle)
        if found is None:
            return None
        dest = self.key("jobs", "search", hashlib.sha1(needle.encode()).hexdigest()[:20])
        if found.whole:
            keys = [self.key("jobs", "word", word) for word in found.whole]
            if len(keys) == 1:
                return keys[0]
            pipe = self.redis.pipeline(transaction=True)
            pipe.zinterstore(dest, keys, aggregate="MIN")
            pipe.expire(dest, SEARCH_TTL_S)
            pipe.execute()
            return dest
        candidates = self._fewest_candidates(found)
        if candidates is None:
            return None
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(dest)
        if candidates:
            pipe.zunionstore(dest, candidates, aggregate="MIN")
            pipe.expire(dest, SEARCH_TTL_S)
        pipe.execute()
        return dest

    def _fewest_candidates(self, found: Lookup) -> list[str] | None:
        """The word sets that hold every job with a word that starts with `found.starts`, or
        every job with one that ends with `found.ends`, whichever holds fewer jobs (or, for a
        needle inside one word, with a word that contains it); None if there are more than
        SEARCH_WORDS words or SEARCH_UNION jobs: reading the jobs is then quicker."""
        options: list[list[str]] = []
        if found.starts:
            options.append(self._words_starting(self.key("jobs", "words"), found.starts))
        if found.ends:
            backwards = self._words_starting(
                self.key("jobs", "words", "reversed"), found.ends[::-1]
            )
            options.append([word[::-1] for word in backwards])
        if found.inside:
            options.append(self._words_containing(found.inside))
        best: list[str] | None = None
        fewest = SEARCH_UNION + 1
        for words in options:
            if len(words) > SEARCH_WORDS:
                continue
            keys = [self.key("jobs", "word", word) for word in words]
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.zcard(key)
            jobs = sum(cast(list[int], pipe.execute()))
            if jobs < fewest:
                best, fewest = keys, jobs
        return best

    def _words_starting(self, vocabulary: str, prefix: str) -> list[str]:
        """The words of `vocabulary` that start with `prefix` (SEARCH_WORDS + 1 at most)."""
        start = prefix.encode()
        # In UTF-8 no byte is 0xff: "(prefix\xff" bounds every word that starts with it.
        low, high = b"[" + start, b"(" + start + b"\xff"
        words = self.redis.zrangebylex(vocabulary, low, high, 0, SEARCH_WORDS + 1)
        return cast(list[str], words)

    def _words_containing(self, piece: str) -> list[str]:
        """The words that contain `piece` (SEARCH_WORDS + 1 at most): Redis reads the whole
        vocabulary for this one, in steps."""
        words = []
        # \w holds none of glob's special characters (* ? [ ] \\).
        for word, _ in self.redis.zscan_iter(
            self.key("jobs", "words"), match=f"*{piece}*", count=10_000
        ):
            words.append(word)
            if len(words) > SEARCH_WORDS:
                break
        return words

    # -- lists -----------------------------------------------------------------------------

    def active_ids(self) -> list[str]:
        ids = cast(list[str], self.redis.zrange(self.key("jobs", "active"), 0, -1))
        return ids

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
        if needle:
            accepts = matching

            def matching(text: str) -> bool:
                return needle in text.casefold() and (accepts is None or accepts(text))

        if wanted and wanted <= ACTIVE:
            index = self.key("jobs", "active")  # few: the owner, if any, is checked per job
        elif needle and (candidates := self.search_index(needle)) is not None:
            index = candidates  # the owner and statuses are checked per job
        elif owner_id is None and len(wanted) == 1 and wanted <= FINAL:
            index = self.status_index(next(iter(wanted)))
        found: list[Job] = []

        def take(ids: list[str]) -> None:
            if matching is not None and ids:
                pipe = self.redis.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hmget(self.key("job", job_id), "description", "owner_name")
                texts = cast(list[list[str | None]], pipe.execute())
                ids = [i for i, (d, o) in zip(ids, texts, strict=True) if matching(f"{d}\n{o}")]
            # Whole records are read a page's worth at a time, until the page is full.
            for start in range(0, len(ids), max(limit, 1)):
                if len(found) >= limit:
                    break
                for job in self.get_many(ids[start : start + max(limit, 1)]):
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
        offset, chunk = 0, max(limit, 1000 if matching is not None else 100)
        while len(found) < limit:
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

    # -- the error ledger ------------------------------------------------------------------

    def errors(self, job_id: str, cursor: int = 0, limit: int = 50) -> Page[JobError]:
        """Errors in item order; the cursor is the offset of the next one."""
        raw = self.redis.zrange(self.key("job", job_id, "errors"), cursor, cursor + limit - 1)
        items = [JobError.from_json(r) for r in cast(list[str], raw)]
        next_cursor = str(cursor + len(items)) if len(items) == limit else None
        return Page(items, next_cursor)

    def search_errors(
        self, job_id: str, needle: str, cursor: int = 0, limit: int = 50
    ) -> Page[JobError]:
        """Errors whose item or message contains `needle` (any case), in item order; the
        cursor is the ledger offset to go on from. Scans the ledger in chunks, on Redis's side
        only reads: a search costs one ZRANGE per thousand errors looked at."""
        wanted = needle.casefold()
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
    "UnknownJob",
]
