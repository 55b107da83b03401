"""Queued jobs' places, kept current on the page without anyone asking: a queued job's place
and start estimate change when *other* jobs start, end, pause, join the line or are
fast-tracked, and no event of its own says so.

So on a tick whose changes may move the line (a change of status, a queued job's change, a
removal) the hub reads the places again (server.steering.places_now: a few round trips, off
the event loop), and adds to that tick a change of every queued job whose place, estimate or
reason moved, to be drawn and sent like any other. While jobs wait, the estimates are also
refreshed from the running jobs' progress, at most every `REFRESH_S`. `board` is the places as
last drawn: the page's flavour reads it when it draws a queued job (server/views/jobs.py).
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool

from server.hub.changes import Change
from server.steering import places_now
from tasks.jobs.model import Job, Status
from tasks.jobs.places import Place
from tasks.runtime import Runtime

REFRESH_S = 5.0


def _read(runtime: Runtime) -> tuple[dict[str, Place], list[Job]]:
    places = places_now(runtime)
    return places, runtime.store.get_many(list(places))


class LineWatch:
    def __init__(self, runtime: Runtime, board: dict[str, Place]) -> None:
        self.runtime = runtime
        self.board = board
        self._read_at = float("-inf")

    def moves_line(self, changes: dict[str, Change]) -> bool:
        for change in changes.values():
            if change.job is None or change.new_status or change.job.status is Status.QUEUED:
                return True
        return bool(self.board) and time.monotonic() - self._read_at >= REFRESH_S

    async def refresh(self, changes: dict[str, Change], last: dict[str, Job]) -> None:
        """Read the places again, and add to `changes` the queued jobs whose place moved."""
        self._read_at = time.monotonic()
        places, jobs = await run_in_threadpool(_read, self.runtime)
        for job in jobs:
            if job.id in changes or self.board.get(job.id) == places.get(job.id):
                continue
            known = last.get(job.id)
            if known is not None and known.seq > job.seq:
                job = known  # (a newer state was heard while we read)
            changes[job.id] = Change(job, job.owner.id, parts={"state"})
        self.board.clear()
        self.board.update(places)
