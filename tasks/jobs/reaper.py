"""Housekeeping that some worker must do: give a dead worker's messages back to their queues
(rescue.py), give a turn to a job in line that has none (line.py), fail jobs that no worker
picked up again, forget expired jobs.

Every worker process runs one reaper thread, every second; they may overlap safely, because
each change is an atomic transition or script that only one of them can win. A job whose worker
died is resumed by a live worker within seconds; it is failed as "worker lost" only when it had
no heartbeat for `WORKER_LOST_AFTER_S`, that is when no worker was alive to resume it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tasks.data.db import checkpoints, uploads
from tasks.data.journal import delete_journal
from tasks.jobs.beacon import WorkerBeacon
from tasks.jobs.line import JOINED_AT_LEAST_S
from tasks.jobs.model import Event, InvalidTransition, Job, Status
from tasks.jobs.records import UnknownJob
from tasks.jobs.rescue import dead_after_s, rescue_dead_workers
from tasks.runtime import JOBS_QUEUE, Runtime

if TYPE_CHECKING:
    from dramatiq import Broker

log = logging.getLogger(__name__)

WORKER_LOST = "worker lost: no heartbeat and the job was not picked up again"


class Reaper:
    def __init__(
        self,
        runtime: Runtime,
        on_end: Callable[[Job], None],
        interval_s: float = 1.0,
        broker: Broker | None = None,
        beacon: WorkerBeacon | None = None,
    ) -> None:
        self.runtime = runtime
        self.on_end = on_end
        self.interval_s = interval_s
        self.broker = broker  # whose dead workers' messages to give back, if any
        self.beacon = beacon  # this worker's own: is it steady enough to judge the others?
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jobdeck-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.sweep(time.time())
            except Exception:
                log.warning("reaper sweep failed", exc_info=True)

    def sweep(self, at: float) -> None:
        store = self.runtime.store
        lost_after = self.runtime.settings.worker_lost_after_s
        for job in store.get_many(store.active_ids()):
            if job.is_stalled(at, lost_after):
                self.fail_lost(job, at)
        if self.broker is not None:
            self.rescue(self.broker, at)
        expired = store.forget_expired(at)
        if expired:
            with self.runtime.engine.begin() as conn:
                conn.execute(sa.delete(uploads).where(uploads.c.job_id.in_(expired)))
                conn.execute(sa.delete(checkpoints).where(checkpoints.c.job_id.in_(expired)))
                delete_journal(conn, expired)
            log.info("forgot %d expired jobs", len(expired))

    def rescue(self, broker: Broker, at: float) -> None:
        """Give the messages of the workers that stopped beating back to their queues."""
        queues = sorted(broker.get_declared_queues() | broker.delay_queues)
        namespace = str(getattr(broker, "namespace", "dramatiq"))
        dead_after = dead_after_s(self.runtime.settings.heartbeat_interval_s)
        if self.beacon is not None and at - self.beacon.steady_since < dead_after:
            return  # our own beats were late: Redis was away, the others' beats are old too
        for worker, broker_id, moved in rescue_dead_workers(
            self.runtime.store, namespace, queues, at, dead_after
        ):
            ids = {"worker": worker, "broker_id": broker_id, "messages": moved}
            log.warning("worker taken for dead: its messages are back in their queues", extra=ids)
        line = self.runtime.line
        missing = line.missing_turns(namespace, JOBS_QUEUE, at - JOINED_AT_LEAST_S)
        for _ in range(missing):
            self.runtime.queue_turn("")
        if missing:
            log.warning("jobs in line had no turn: queued %d", missing, extra={"turns": missing})

    def fail_lost(self, job: Job, at: float) -> None:
        event = Event.CONFIRM_ABORT if job.status is Status.ABORTING else Event.FAIL
        changes: dict[str, Any] = {"message": WORKER_LOST} if event is Event.FAIL else {}
        try:
            ended = self.runtime.store.transition(job.id, event, at=at, **changes)
        except (InvalidTransition, UnknownJob):
            return
        log.warning("job %s: %s", job.id, ended.message or "aborted after its worker was lost")
        self.on_end(ended)
