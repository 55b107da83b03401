"""Opens and closes a job around every massive action, as Dramatiq middleware.

A turn (tasks/jobs/line.py) takes the next job in line and claims it there and then; a message
that names its job (as tests send) claims that one (`JobStore.claim_run`). Either way, a copy
of the message of a job that another live worker runs, or of an ended or unknown job, is
skipped. Then a queued job starts; a running one (its worker died, and the message was given
back, rescue.py) resumes; an aborting one is confirmed aborted without running, a pausing one
paused. The actor
then finds its `JobContext` with `current_job()`. After it: completed, aborted or failed with
the exception's message, or paused at a batch boundary (`PauseRequested`), and the end-of-job
emails are queued once, unless the run lost its
job to another run (`RunLost`): then it writes nothing. A massive action is never retried by
Dramatiq: its actor has `max_retries=0`. A job whose owner may no longer run it fails saying
why, when it starts or resumes and, through `JobContext.before_batch`, before each batch
(tasks/jobs/standing.py). At its first start a job is given the most errors it may keep, out
of its owner's budget (tasks/jobs/budget.py).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from tasks.jobs.beacon import WorkerBeacon, worker_id
from tasks.jobs.budget import error_cap
from tasks.jobs.context import AbortRequested, JobContext, PauseRequested
from tasks.jobs.model import Event, InvalidTransition, Job, Status
from tasks.jobs.notify import queue_job_mails
from tasks.jobs.reaper import Reaper
from tasks.jobs.records import RunLost, UnknownJob
from tasks.jobs.rescue import dead_after_s
from tasks.jobs.standing import OwnerLostStanding, check_owner
from tasks.runtime import JOBS_QUEUE, Runtime

log = logging.getLogger(__name__)


_local = threading.local()


class NoJob(RuntimeError):
    pass


def massive_action(fn: Callable[[str], None], **options: Any) -> dramatiq.Actor[[str], None]:
    """Declare a massive action: on the jobs queue, never retried by Dramatiq (a crash is
    resumed from the checkpoint instead), a day to run, and an abort or a pause that is not an
    error. `takes_turn=True` declares the actor of turns (tasks/actors/take_turn.py)."""
    declare = dramatiq.actor(
        queue_name=JOBS_QUEUE,
        max_retries=0,
        time_limit=24 * 3600 * 1000,
        massive_action=True,
        throws=(AbortRequested, PauseRequested, RunLost),
        **options,
    )
    return declare(fn)


def log_ids(job: Job) -> dict[str, object]:
    """The ids that every log line about a job carries."""
    return {"job_id": job.id, "user_id": job.owner.id, "kind": job.kind}


def current_job() -> JobContext:
    ctx: JobContext | None = getattr(_local, "job", None)
    if ctx is None:
        raise NoJob("current_job() called outside a massive action")
    return ctx


class JobMiddleware(Middleware):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.reaper: Reaper | None = None
        self.beacon: WorkerBeacon | None = None
        self._name = ""

    @property
    def actor_options(self) -> set[str]:
        return {"massive_action", "takes_turn"}

    @property
    def runner(self) -> str:
        """The name this process claims jobs under: its beacon's (a process that never booted
        a worker gets a name of its own, that no beacon keeps alive)."""
        if self.beacon is None:
            self._name = self._name or worker_id()
            return self._name
        return self.beacon.name

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before the consumers start: a message may be processed before after_worker_boot.
        settings = self.runtime.settings
        broker_id = str(getattr(broker, "broker_id", ""))
        self.beacon = WorkerBeacon(
            self.runtime.store, settings.heartbeat_interval_s, worker_id(), broker_id
        )
        self.beacon.start()
        self.runtime.line.announce_threads(self.beacon.name, int(worker.worker_threads))
        log.info("worker started", extra={"worker": self.beacon.name, "broker_id": broker_id})

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.reaper = Reaper(
            self.runtime, on_end=self.on_job_end, broker=broker, beacon=self.beacon
        )
        self.reaper.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.reaper is not None:
            self.reaper.stop()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Only now: while its threads finish their jobs, the worker must still count as alive
        # (a job held by a worker that signed off may be claimed by another).
        if self.beacon is not None:
            self.beacon.stop()
            self.runtime.line.sign_off(self.beacon.name)
            log.info("worker stopped", extra={"worker": self.beacon.name})

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get("massive_action"):
            return
        run = secrets.token_hex(8)
        alive_since = time.time() - dead_after_s(self.runtime.settings.heartbeat_interval_s)
        if not actor.options.get("takes_turn"):
            job_id = message.kwargs.get("job_id") or message.args[0]
            self.claim(message, job_id, run, alive_since)
            self.open(job_id, run)
            return
        job_id = self.take_turn(message, run, alive_since)
        try:
            self.open(job_id, run)
        except SkipMessage:
            self.runtime.line.let_go(message.message_id)  # its job will not run on this turn
            raise

    def open(self, job_id: str, run: str) -> None:
        """Start or resume the job that `run` claimed, and give the actor its context; or end
        it at once (aborted, paused) and SkipMessage."""
        store, settings = self.runtime.store, self.runtime.settings
        try:
            job = store.get(job_id)  # as claimed: it may have been aborted meanwhile
            if job.is_final or job.status is Status.PAUSED:
                raise SkipMessage(job_id)
            if job.status is Status.ABORTING:
                self.end(job, Event.CONFIRM_ABORT, run=run)
                raise SkipMessage(job_id)
            if job.status is Status.PAUSING:  # its worker died before the boundary
                self.pause(job, run)
                raise SkipMessage(job_id)
            if job.status is Status.QUEUED:
                self.runtime.line.leave(job_id)  # (a message of its own: it does not wait)
                # Its share of the owner's budget, fixed at its first start (budget.py).
                cap = error_cap(store, job) if job.error_cap is None else job.error_cap
                job = store.transition(job_id, Event.START, at=time.time(), run=run,
                                       error_cap=cap)  # fmt: skip
                after_pause = {"from_item": job.checkpoint} if job.checkpoint else {}
                log.info("job started", extra={**log_ids(job), **after_pause})
            else:
                log.info("job resumed", extra={**log_ids(job), "from_item": job.checkpoint})
        except (InvalidTransition, UnknownJob, RunLost):  # ended or taken while we looked
            raise SkipMessage(job_id) from None
        ctx = JobContext(
            store, job, settings.progress_interval_ms, settings.heartbeat_interval_s, run=run
        )
        try:
            check_owner(self.runtime.engine, job)
        except OwnerLostStanding as lost:
            self.end(job, Event.FAIL, run=run, message=str(lost))
            raise SkipMessage(job_id) from None
        ctx.before_batch = lambda: check_owner(self.runtime.engine, job)  # fails the job if not
        ctx.start_heartbeat()
        _local.job = ctx

    def claim(self, message: Any, job_id: str, run: str, alive_since: float) -> None:
        """Claim the job a message names for `run`; SkipMessage if it is not to run here."""
        store = self.runtime.store
        try:
            job = store.get(job_id)
        except UnknownJob:
            log.warning("skipping a message of an unknown job",
                        extra={"job_id": job_id, "message_id": message.message_id})  # fmt: skip
            raise SkipMessage(job_id) from None
        if job.is_final:
            raise SkipMessage(job_id)
        claimed = store.claim_run(job_id, self.runner, run, alive_since)
        if claimed != "ok":
            if claimed == "held":
                log.info("skipping a copy of a job that another worker runs",
                         extra={**log_ids(job), "message_id": message.message_id})  # fmt: skip
            raise SkipMessage(job_id)

    def take_turn(self, message: Any, run: str, alive_since: float) -> str:
        """The job this turn runs, claimed for `run` (tasks/jobs/line.py); SkipMessage if none."""
        line = self.runtime.line
        outcome, job_id = line.take(
            message.message_id, self.runner, run, alive_since, self.runtime.settings.jobs_per_person
        )
        if outcome == "held":
            log.info("skipping a copy of a turn whose job another worker runs",
                     extra={"job_id": job_id, "message_id": message.message_id})  # fmt: skip
        if outcome not in ("took", "bound"):
            raise SkipMessage(job_id)
        return job_id

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        ctx: JobContext | None = getattr(_local, "job", None)
        if ctx is None:
            return
        _local.job = None
        try:
            self.finish(ctx, exception)
        finally:
            # (A run that lost its job leaves the binding to the run that took it over.)
            if broker.get_actor(message.actor_name).options.get("takes_turn") and not ctx.is_lost:
                self.runtime.line.let_go(message.message_id)

    def finish(self, ctx: JobContext, exception: BaseException | None) -> None:
        """Close the run of `ctx` after its action returned or raised `exception`."""
        if isinstance(exception, RunLost):  # (the database's fence: Redis may not know yet)
            ctx.is_lost = True
        try:
            ctx.close()
        except RunLost:
            pass  # ctx.is_lost says so
        except Exception:
            log.exception("could not write the last progress of a job", extra={"job_id": ctx.id})
        if ctx.is_lost:
            log.warning("job lost to another run: this one stopped", extra=log_ids(ctx.job))
        elif exception is None:
            event = Event.CONFIRM_ABORT if ctx.is_abort_requested else Event.COMPLETE
            self.end(ctx.job, event, run=ctx.run)
        elif type(exception).__name__ == "AbortRequested":
            self.end(ctx.job, Event.CONFIRM_ABORT, run=ctx.run)
        elif (
            isinstance(exception, PauseRequested)
            and ctx.total is not None
            and (ctx.done >= ctx.total)
        ):  # the pause came at its last boundary: nothing is left to pause
            self.end(ctx.job, Event.COMPLETE, run=ctx.run)
        elif isinstance(exception, PauseRequested):
            self.pause(ctx.job, ctx.run)
        else:
            message_text = str(exception) or type(exception).__name__
            self.end(ctx.job, Event.FAIL, run=ctx.run, message=message_text[:2000])

    def end(self, job: Job, event: Event, run: str | None = None, **changes: Any) -> None:
        """Give the job its final status (abort wins a race with completion), then mail;
        nothing if `run` lost the job to another run."""
        store = self.runtime.store
        try:
            ended = store.transition(job.id, event, at=time.time(), run=run, **changes)
        except RunLost:
            log.warning("job lost to another run: this one stopped", extra=log_ids(job))
            return
        except InvalidTransition as exc:
            if exc.status is Status.ABORTING:
                ended = store.transition(job.id, Event.CONFIRM_ABORT, at=time.time())
            else:
                log.warning("job could not end", extra={**log_ids(job), "event": event.value,
                                                        "status": exc.status.value})  # fmt: skip
                return
        except UnknownJob:
            log.warning("job removed while it ran", extra=log_ids(job))
            return
        outcome = {"status": ended.status.value, "done": ended.done, "errors": ended.error_count}
        log.info("job finished", extra={**log_ids(ended), **outcome})
        self.on_job_end(ended)

    def pause(self, job: Job, run: str) -> None:
        """The run stopped at a batch boundary for a pause: the job is paused (or, if an abort
        came meanwhile, aborted); its checkpoint stays, and it holds no thread or message."""
        try:
            paused = self.runtime.store.transition(job.id, Event.CONFIRM_PAUSE, at=time.time(),
                                                   run=run)  # fmt: skip
        except InvalidTransition as exc:
            if exc.status is Status.ABORTING:
                self.end(job, Event.CONFIRM_ABORT, run=run)
            return
        except (RunLost, UnknownJob):
            return
        log.info("job paused", extra={**log_ids(paused), "at_item": paused.checkpoint})

    def on_job_end(self, job: Job) -> None:
        queue_job_mails(self.runtime, job)
