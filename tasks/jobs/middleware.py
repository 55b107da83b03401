"""Opens and closes a job around every massive action, as Dramatiq middleware.

Before the actor runs: a queued job starts; a running one (a message redelivered after its
worker died) resumes; an aborting one is confirmed aborted without running; an ended or
unknown one is skipped; one whose owner may no longer run it fails saying why (and, through
`JobContext.before_batch`, before each batch too: tasks/jobs/standing.py). The actor then
finds its `JobContext` with `current_job()`. After it: completed, aborted or failed with the
exception's message, and the end-of-job emails are queued once. A massive action is never
retried by Dramatiq: its actor has `max_retries=0`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from tasks.jobs.beacon import WorkerBeacon
from tasks.jobs.context import AbortRequested, JobContext
from tasks.jobs.model import Event, InvalidTransition, Job, Status
from tasks.jobs.notify import queue_job_mails
from tasks.jobs.reaper import Reaper
from tasks.jobs.standing import OwnerLostStanding, check_owner
from tasks.jobs.store import UnknownJob
from tasks.runtime import Runtime

log = logging.getLogger(__name__)

JOBS_QUEUE = "jobs"  # every massive action's; its actor is named after the job's kind

_local = threading.local()


class NoJob(RuntimeError):
    pass


def massive_action(fn: Callable[[str], None]) -> dramatiq.Actor[[str], None]:
    """Declare a massive action: on the jobs queue, never retried by Dramatiq (a crash is
    resumed from the checkpoint instead), a day to run, and an abort that is not an error."""
    declare = dramatiq.actor(
        queue_name=JOBS_QUEUE,
        max_retries=0,
        time_limit=24 * 3600 * 1000,
        massive_action=True,
        throws=(AbortRequested,),
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

    @property
    def actor_options(self) -> set[str]:
        return {"massive_action"}

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.reaper = Reaper(self.runtime, on_end=self.on_job_end)
        self.reaper.start()
        settings = self.runtime.settings
        self.beacon = WorkerBeacon(self.runtime.store, settings.heartbeat_interval_s)
        self.beacon.start()
        log.info("worker started", extra={"worker": self.beacon.name})

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.reaper is not None:
            self.reaper.stop()
        if self.beacon is not None:
            self.beacon.stop()
            log.info("worker stopped", extra={"worker": self.beacon.name})

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get("massive_action"):
            return
        store, settings = self.runtime.store, self.runtime.settings
        job_id = message.kwargs.get("job_id") or message.args[0]
        try:
            job = store.get(job_id)
        except UnknownJob:
            log.warning("skipping a message of an unknown job",
                        extra={"job_id": job_id, "message_id": message.message_id})  # fmt: skip
            raise SkipMessage(job_id) from None
        if job.is_final:
            raise SkipMessage(job_id)
        if job.status is Status.ABORTING:
            self.end(job, Event.CONFIRM_ABORT)
            raise SkipMessage(job_id)
        if job.status is Status.QUEUED:
            try:
                job = store.transition(job_id, Event.START, at=time.time())
            except InvalidTransition:  # aborted while we were looking
                raise SkipMessage(job_id) from None
            log.info("job started", extra=log_ids(job))
        else:
            log.info("job resumed", extra={**log_ids(job), "from_item": job.checkpoint})
        try:
            check_owner(self.runtime.engine, job)
        except OwnerLostStanding as lost:
            self.end(job, Event.FAIL, message=str(lost))
            raise SkipMessage(job_id) from None
        ctx = JobContext(store, job, settings.progress_interval_ms, settings.heartbeat_interval_s)
        ctx.before_batch = lambda: check_owner(self.runtime.engine, job)  # fails the job if not
        ctx.start_heartbeat()
        _local.job = ctx

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
            ctx.close()
        except Exception:
            log.exception("could not write the last progress of a job", extra={"job_id": ctx.id})
        if exception is None:
            event = Event.CONFIRM_ABORT if ctx.is_abort_requested else Event.COMPLETE
            self.end(ctx.job, event)
        elif type(exception).__name__ == "AbortRequested":
            self.end(ctx.job, Event.CONFIRM_ABORT)
        else:
            message_text = str(exception) or type(exception).__name__
            self.end(ctx.job, Event.FAIL, message=message_text[:2000])

    def end(self, job: Job, event: Event, **changes: Any) -> None:
        """Give the job its final status (abort wins a race with completion), then mail."""
        store = self.runtime.store
        try:
            ended = store.transition(job.id, event, at=time.time(), **changes)
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

    def on_job_end(self, job: Job) -> None:
        queue_job_mails(self.runtime, job)
