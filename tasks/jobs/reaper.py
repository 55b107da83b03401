"""Housekeeping that some worker must do: fail jobs whose worker was lost, forget expired jobs.

Every worker process runs one reaper thread; they may overlap safely, because each change is
an atomic transition that only one of them can win.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from tasks.data.db import checkpoints, uploads
from tasks.jobs.model import Event, InvalidTransition, Job, Status
from tasks.jobs.store import UnknownJob
from tasks.runtime import Runtime

log = logging.getLogger(__name__)

WORKER_LOST = "worker lost: no heartbeat and the job was not picked up again"


class Reaper:
    def __init__(
        self, runtime: Runtime, on_end: Callable[[Job], None], interval_s: float = 5.0
    ) -> None:
        self.runtime = runtime
        self.on_end = on_end
        self.interval_s = interval_s
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
        expired = store.forget_expired(at)
        if expired:
            with self.runtime.engine.begin() as conn:
                conn.execute(sa.delete(uploads).where(uploads.c.job_id.in_(expired)))
                conn.execute(sa.delete(checkpoints).where(checkpoints.c.job_id.in_(expired)))
            log.info("forgot %d expired jobs", len(expired))

    def fail_lost(self, job: Job, at: float) -> None:
        event = Event.CONFIRM_ABORT if job.status is Status.ABORTING else Event.FAIL
        changes = {"message": WORKER_LOST} if event is Event.FAIL else {}
        try:
            ended = self.runtime.store.transition(job.id, event, at=at, **changes)
        except (InvalidTransition, UnknownJob):
            return
        log.warning("job %s: %s", job.id, ended.message or "aborted after its worker was lost")
        self.on_end(ended)
