"""What happened to each job since the last tick, from the events heard on Redis: O(1) each.

An event decodes, drops a stale `seq`, and keeps only the latest state of its job: a tick
sends each changed job once, whatever number of events it had (`received`). `last` is the
newest state of each job heard of, so that a snapshot read from Redis never undoes a newer
event that was already sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from server.hub.metrics import HubMetrics
from tasks.jobs import events
from tasks.jobs.model import Job

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000


@dataclass
class Change:
    """What happened to one job since the last tick: its latest state and the parts to swap."""

    job: Job | None  # None: removed
    owner_id: int
    parts: set[str] = field(default_factory=set)
    new_status: bool = False
    published_at: float | None = None  # of the oldest event merged into this change


class Changes:
    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics
        self.last: dict[str, Job] = {}
        self.pending: dict[str, Change] = {}

    def take(self) -> dict[str, Change]:
        """This tick's changes; the next tick starts with none."""
        taken, self.pending = self.pending, {}
        return taken

    def received(self, raw: bytes | str) -> None:
        """Note one event from Redis for the next tick (the latest state of each job wins)."""
        try:
            event = events.decode(raw)
        except events.BadEvent:
            log.warning("ignoring a malformed event on the channel", exc_info=True)
            return
        if isinstance(event, events.JobRemoved):
            self.last.pop(event.job_id, None)
            self.pending.pop(event.job_id, None)
            self.pending[event.job_id] = Change(None, event.owner_id)
            return
        job = event.job
        previous = self.last.get(job.id)
        if previous is not None and previous.seq >= job.seq:
            return  # a stale or repeated event: the newer state is already out
        self.last[job.id] = job
        if len(self.last) > MAX_REMEMBERED:
            for old in [j.id for j in self.last.values() if j.is_final][: MAX_REMEMBERED // 10]:
                del self.last[old]
        change = self.pending.get(job.id)
        if change is None or change.job is None:
            change = self.pending[job.id] = Change(job, job.owner.id)
            change.published_at = event.published_at
        else:
            self.metrics.coalesced += 1  # an earlier state of this tick is never sent
        change.job = job
        # Only what changed is swapped: a button that a viewer is about to click or has
        # focused must not be replaced by an identical copy on every progress event.
        change.parts.add("state")
        if previous is None or previous.error_count != job.error_count:
            change.parts.add("errors")
        if previous is None or previous.status is not job.status:
            change.parts.add("actions")
            change.new_status = True
