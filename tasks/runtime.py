"""What a process that runs or launches jobs holds: settings, the job store, the database, and
the broker that carries job messages.

Built once per process from `Settings`; each part is made on first use, so building a Runtime
opens nothing.
"""

from __future__ import annotations

from functools import cached_property

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy.engine import Engine

from tasks.data.db import connect
from tasks.jobs.line import TURN_ACTOR, Line
from tasks.jobs.store import JobStore
from tasks.settings import Settings

BROKER_NAMESPACE = "jobdeck-dramatiq"
JOBS_QUEUE = "jobs"  # every massive action's, and every turn's (tasks/jobs/line.py)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def store(self) -> JobStore:
        settings = self.settings
        return JobStore.from_url(
            settings.redis_url,
            settings.retention_days * 86400,
            max_errors=settings.job_max_errors,
            owner_max_kept=settings.owner_max_kept_errors,
        )

    @cached_property
    def line(self) -> Line:
        return Line(self.store)

    @cached_property
    def engine(self) -> Engine:
        return connect(self.settings.database_url)

    @cached_property
    def broker(self) -> RedisBroker:
        """A broker on the settings' Redis (the worker adds its middleware; the web process
        only queues messages by actor name with it)."""
        return RedisBroker(  # type: ignore[no-untyped-call]
            url=self.settings.redis_url,
            namespace=BROKER_NAMESPACE,
            heartbeat_timeout=self.settings.broker_heartbeat_timeout_ms,
            maintenance_chance=self.settings.broker_maintenance_chance,
        )

    def queue(self, queue_name: str, actor_name: str, *args: object) -> None:
        """Queue a message for the actor named `actor_name`, as `actor.send(*args)` would,
        without declaring the actor here."""
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
        )
        self.broker.enqueue(message)

    def queue_turn(self, job_id: str) -> None:
        """Queue one turn on the jobs queue, for a job that has just joined the line."""
        self.queue(JOBS_QUEUE, TURN_ACTOR, job_id)
