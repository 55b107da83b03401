"""What a massive action holds while it runs: say what happened, and nothing about Redis.

An action calls `set_total(n)`, `error(item, message)` for each item that failed, `save()`
just before it commits a batch of work, and `advance(k)` just after. The context turns that
into throttled progress events, an exact error ledger, heartbeats and abort checks:

- errors are kept with the position of the first item not yet committed, so that a job
  resumed after a crash (`resume(position)`) forgets exactly the errors it will find again;
- `advance()` raises `AbortRequested` once an abort was asked for, so the action stops at the
  boundary after its last commit and writes nothing more, and `PauseRequested` likewise once a
  pause was asked for (the middleware then marks the job paused, its checkpoint kept);
- a heartbeat thread refreshes the job every `heartbeat_s` even while an item is slow;
- every write carries the run's token (`run`): once another worker has claimed the job, the
  next write raises `RunLost` instead, and so does `advance()`, so that a run that lost its job
  (its worker was paused, taken for dead, and the job resumed elsewhere) stops writing.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable

from tasks.jobs.model import Job, Status
from tasks.jobs.records import JobError, RunLost
from tasks.jobs.store import JobStore
from tasks.jobs.throttle import Throttle

log = logging.getLogger(__name__)

ERRORS_PER_WRITE = 500


class AbortRequested(Exception):
    """Raised from `advance()` once somebody asked for the job to stop."""


class PauseRequested(Exception):
    """Raised from `advance()` once somebody asked for the job to pause: the work before it is
    committed, and the job goes on from there when it is resumed."""


class JobContext:
    def __init__(
        self,
        store: JobStore,
        job: Job,
        interval_ms: int = 200,
        heartbeat_s: float = 2.0,
        clock: Callable[[], float] = time.time,
        run: str | None = None,
    ) -> None:
        self.store = store
        self.job = job
        self.run = run or secrets.token_hex(8)  # the token that fences this run's writes
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.total = job.total
        self.done = job.checkpoint
        self.is_abort_requested = job.status is Status.ABORTING
        self.is_pause_requested = job.status is Status.PAUSING
        self.is_lost = False  # another run claimed the job: write nothing more
        self._throttle = Throttle(interval_ms)
        self._due = float("-inf")  # when the throttle lets the next update through
        self._flushed_done = self.done
        self._errors: list[JobError] = []
        self._error_position, self._error_order = -1, 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._beat: threading.Thread | None = None
        self.before_batch: Callable[[], None] | None = None  # the owner's standing (middleware)
        self.outcome: dict[str, int] | None = job.outcome

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def params(self) -> dict[str, object]:
        return self.job.params

    # -- what an action says -----------------------------------------------------------------

    def resume(self, position: int) -> None:
        """Start (again) after the first `position` items, whose work is committed."""
        with self._lock:
            try:
                self.store.rewind(self.id, position, self.run)
            except RunLost:
                self.is_lost = self.is_abort_requested = True
                raise
            self.done = position
            self._errors.clear()

    def set_total(self, total: int) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        with self._lock:
            self.total = total
            self._flush()

    def error(self, item: str, message: str) -> None:
        """Record that `item` failed because of `message` (a sentence a person can act on)."""
        with self._lock:
            if self.done != self._error_position:
                self._error_position, self._error_order = self.done, 0
            self._error_order += 1
            error = JobError.bounded(self.done, item, message, self.clock(), self._error_order)
            self._errors.append(error)
            if len(self._errors) >= ERRORS_PER_WRITE:
                self._flush()

    def set_outcome(self, counts: dict[str, int]) -> None:
        """What the job has come to so far (a check's or a revert's counts, as committed),
        shown with its next progress."""
        self.outcome = dict(counts)

    def save(self) -> None:
        """Write the errors recorded so far: call it before committing the items they concern."""
        if self.before_batch is not None:
            self.before_batch()
        with self._lock:
            if self._errors:
                self._flush()

    def advance(self, k: int = 1) -> None:
        """`k` more items are done and committed; raises AbortRequested if asked to stop.

        Called once per item, so its usual path is a sum and a clock read, without the lock:
        only the action's thread writes `done`, and the heartbeat publishes what it reads.
        """
        self.done += k
        if time.monotonic() >= self._due:
            with self._lock:
                if self._throttle.offer(time.monotonic()):
                    self._flush()
        if self.is_abort_requested:
            if self.is_lost:
                raise RunLost(self.id)
            raise AbortRequested(self.id)
        if self.is_pause_requested:
            raise PauseRequested(self.id)

    # -- what the middleware does ------------------------------------------------------------

    def start_heartbeat(self) -> None:
        self._beat = threading.Thread(target=self._beat_loop, name=f"heartbeat-{self.id}")
        self._beat.daemon = True
        self._beat.start()

    def close(self) -> None:
        """Stop beating and write the last progress and errors (before the final status)."""
        self._stopped.set()
        if self._beat is not None:
            self._beat.join()
        with self._lock:
            if not self.is_lost:
                self._flush()

    def _beat_loop(self) -> None:
        # Wakes once per progress interval: publishes a throttled update that is still
        # pending, and beats when nothing else was written for `heartbeat_s`.
        while not self._stopped.wait(self._throttle.interval_s or self.heartbeat_s):
            try:
                with self._lock:
                    last = self._throttle.last_at or 0.0
                    is_pending = self.done != self._flushed_done or self._throttle.is_pending
                    if is_pending or time.monotonic() - last >= self.heartbeat_s:
                        self._flush()
            except RunLost:
                log.warning("job %s was claimed by another run: this one stops", self.id)
                return
            except Exception:
                log.warning("heartbeat of job %s failed", self.id, exc_info=True)

    def _flush(self) -> None:
        done = self.done
        fields = {
            "done": str(done),
            "checkpoint": str(done),
            "heartbeat_at": repr(self.clock()),
        }
        if self.total is not None:
            fields["total"] = str(self.total)
        if self.outcome is not None:
            fields["outcome"] = json.dumps(self.outcome, separators=(",", ":"))
        try:
            status = self.store.flush(self.id, fields, self._errors, self.run)
        except RunLost:
            self.is_lost = self.is_abort_requested = True
            raise
        self._errors = []
        self._throttle.flushed(time.monotonic())
        self._flushed_done = done
        self._due = time.monotonic() + self._throttle.interval_s
        if status is Status.PAUSING:
            self.is_pause_requested = True
        elif status is not Status.RUNNING:  # aborting, or ended or removed elsewhere
            self.is_abort_requested = True
