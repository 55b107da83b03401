"""The line of queued jobs, kept by jobdeck in Redis; Dramatiq only carries turns.

A launched (or resumed) job joins the line, and one *turn* is queued for it: a Dramatiq message
to the `take_turn` actor on the jobs queue. A worker thread that gets a turn takes the next job
in line there and then (`take`, one Lua script): fast-tracked jobs first, in the order they
were fast-tracked; then fair share: the job of the owner with the fewest jobs running, counted
up to `JOBS_PER_PERSON` (owners at that share are equal), the oldest first among equals. So
while others wait, an owner at their share gets no thread before anyone below it. The order is
decided by whoever has a free thread, at the moment it is free, whatever Dramatiq prefetched;
turns are interchangeable.

The script also claims the job for the turn's run (as `JobStore.claim_run` does) and binds the
turn's message id to it: a turn that Dramatiq gives back after its worker died (rescue.py)
goes on with the job it had started, or waits while a live worker still holds it. So a job is
never lost (it stays in line, or bound to a message that Dramatiq keeps until it is acked) and
never runs twice at once (the claim). docs/queue.md says why, case by case. A job put in line
whose turn was never queued (its web process died between the two) is given one by the reaper
(`missing_turns`) after `JOINED_AT_LEAST_S`.

Keys, under the store's prefix (besides store.py's):

    jobs:line         sorted set: queued job ids waiting for a turn, by when they joined (launch
                      time, or the time they were resumed after a pause)
    jobs:line:turns   hash: Dramatiq message id -> the job that turn started (until it ends)
    workers:threads   hash: worker id -> how many threads it runs (for start estimates)
"""

from __future__ import annotations

from typing import cast

from tasks.jobs.beacon import live_workers
from tasks.jobs.lua import lua
from tasks.jobs.model import Job, Status
from tasks.jobs.places import HOLDS_THREAD, Place, plan
from tasks.jobs.store import JobStore

TURN_ACTOR = "take_turn"  # tasks/actors/take_turn.py; the web process queues it by name
TAKE_TURN = lua("take_turn")
MISSING_TURNS = lua("missing_turns")
JOINED_AT_LEAST_S = 10  # a job in line this long without a free turn gets one (the reaper)


class Line:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.key = store.key("jobs", "line")
        self.turns = store.key("jobs", "line", "turns")
        self._take = store.redis.register_script(TAKE_TURN)
        self._missing = store.redis.register_script(MISSING_TURNS)

    def join(self, job_id: str, at: float) -> None:
        """Put a job in line at `at` (a job already in line keeps its place)."""
        self.store.redis.zadd(self.key, {job_id: at}, nx=True)

    def leave(self, job_id: str) -> None:
        self.store.redis.zrem(self.key, job_id)

    def take(
        self, message_id: str, runner: str, run: str, alive_since: float, jobs_per_person: int
    ) -> tuple[str, str]:
        """The turn `message_id`'s job, claimed for `run`: ('bound', id) if this turn had
        started it, ('took', id) for the next in line, ('held', id) while a live worker runs
        the job this turn had started, ('none', '') if nobody waits."""
        store = self.store
        keys = [self.key, self.turns, store.key("workers"), store.key("jobs", "active")]
        args: list[str | int] = [message_id, runner, run, repr(alive_since), jobs_per_person,
                                 store.key("job", "")]  # fmt: skip
        outcome, job_id = cast(list[str], self._take(keys=keys, args=args))
        return outcome, job_id

    def missing_turns(self, namespace: str, queue: str, joined_before: float) -> int:
        """How many queued jobs that joined the line before `joined_before` no free turn will
        take: only after a process died between putting a job in line and queuing its turn
        (the reaper queues that many, reaper.py)."""
        store = self.store
        keys = [self.key, self.turns, store.key("workers", "brokers")]
        args = [store.key("job", ""), namespace, queue, repr(joined_before)]
        return int(cast(int, self._missing(keys=keys, args=args)))

    def let_go(self, message_id: str) -> None:
        """The turn has ended (its job ended or paused): it binds nothing any more."""
        self.store.redis.hdel(self.turns, message_id)

    def waiting(self) -> list[Job]:
        """The queued jobs in line, in the order they joined."""
        ids = cast(list[str], self.store.redis.zrange(self.key, 0, -1))
        return [job for job in self.store.get_many(ids) if job.status is Status.QUEUED]

    def places(self, at: float, share: int, alive_within_s: float) -> dict[str, Place]:
        """Where each queued job stands and when it should start (places.py), from the line,
        the jobs holding threads and the threads of the workers that beat within
        `alive_within_s`."""
        in_line = cast(list[str], self.store.redis.zrange(self.key, 0, -1))
        if not in_line:
            return {}
        active = {job.id: job for job in self.store.get_many(self.store.active_ids())}
        queued = (active.get(job_id) for job_id in in_line)  # (one read of each record)
        waiting = [job for job in queued if job is not None and job.status is Status.QUEUED]
        running = [job for job in active.values() if job.status in HOLDS_THREAD]
        live = set(live_workers(self.store, at, alive_within_s))
        return plan(waiting, running, self.threads(live), share, at)

    # -- the threads that turns run on, for estimates ----------------------------------------

    def announce_threads(self, worker: str, threads: int) -> None:
        self.store.redis.hset(self.store.key("workers", "threads"), worker, threads)

    def sign_off(self, worker: str) -> None:
        self.store.redis.hdel(self.store.key("workers", "threads"), worker)

    def threads(self, live: set[str]) -> int:
        """How many threads the `live` workers run in all."""
        key = self.store.key("workers", "threads")
        counts = cast(dict[str, str], self.store.redis.hgetall(key))
        return sum(int(n) for name, n in counts.items() if name in live)
