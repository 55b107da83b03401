"""Where each queued job stands in line and when it should start: pure, from what runs now.

`plan()` plays the line forward as the workers would take it (tasks/jobs/line.py: fast track
first, then fair share): each running job frees its thread when its rate says it will end, each
queued job then runs for its items at the rate of the jobs running now, and a free thread takes
the next job by the same rule as `take_turn.lua`. A start is unknown (None) once it waits for a
thread whose end nobody can tell yet (a running job with no rate so far, a job of unknown
size, no worker at all). Position 1 is the next job to start.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tasks.jobs.model import Job, Status

HOLDS_THREAD = frozenset({Status.RUNNING, Status.ABORTING, Status.PAUSING})


@dataclass(frozen=True)
class Place:
    position: int  # 1 = next to start
    starts_at: float | None  # None while unknown
    held_by_share: int = 0  # its owner's jobs running, when fair share holds it back; else 0

    @property
    def is_held_by_share(self) -> bool:
        return self.held_by_share > 0

    def waiting_reason(self, owner_name: str) -> str:
        """Why it waits beyond its turn, in a sentence ("" if only for a free thread)."""
        if not self.held_by_share:
            return ""
        return f"waiting: {self.held_by_share} of {owner_name}'s jobs are running"


def next_in_line(waiting: Sequence[Job], running: Counter[int], share: int) -> int:
    """The index of the job a free thread takes (the rule of take_turn.lua)."""
    fast = [i for i, job in enumerate(waiting) if job.fast_tracked_at is not None]
    if fast:
        return min(fast, key=lambda i: waiting[i].fast_tracked_at or 0.0)
    return min(range(len(waiting)), key=lambda i: min(running[waiting[i].owner.id], share))


def work_s(job: Job, rates: dict[str, float], any_rate: float | None) -> float | None:
    """How long a queued job should run: its items left at the rate of its kind (or of any
    job) running now."""
    rate = rates.get(job.kind, any_rate)
    if job.total is None or not rate:
        return None
    return max(0, job.total - job.checkpoint) / rate


def plan(
    waiting: Sequence[Job], running: Iterable[Job], threads: int, share: int, at: float
) -> dict[str, Place]:
    """The place of each job in `waiting` (queued, in the order they joined the line)."""
    busy = [job for job in running if job.status in HOLDS_THREAD]
    rates: dict[str, list[float]] = {}
    for job in busy:
        rate = job.rate(at)
        if rate:
            rates.setdefault(job.kind, []).append(rate)
    by_kind = {kind: sum(r) / len(r) for kind, r in rates.items()}
    every = [r for rs in rates.values() for r in rs]
    any_rate = sum(every) / len(every) if every else None

    counts = Counter(job.owner.id for job in busy)
    # When each thread frees, and whose job it frees (-1: free now); a thread whose job has no
    # known end is not in the list.
    slots = [(at, -1)] * max(0, threads - len(busy))
    for job in busy:
        left = job.eta(at)
        if left is not None:
            slots.append((at + left, job.owner.id))
    slots.sort()

    places: dict[str, Place] = {}
    held = _held_by_share(waiting, counts, share)
    # The rule of next_in_line, in O(jobs x owners): fast-tracked jobs in their order, then the
    # head (oldest) of the owner with the fewest running, counted up to `share`.
    fast = sorted((j for j in waiting if j.fast_tracked_at is not None),
                  key=lambda j: j.fast_tracked_at or 0.0)  # fmt: skip
    by_owner: dict[int, deque[tuple[int, Job]]] = {}
    for index, job in enumerate(waiting):
        if job.fast_tracked_at is None:
            by_owner.setdefault(job.owner.id, deque()).append((index, job))
    running_now = Counter(counts)
    position = 0
    for _ in range(len(waiting)):
        starts_at: float | None = None
        if slots and threads > 0:
            starts_at, owner = slots.pop(0)
            if owner >= 0:
                running_now[owner] -= 1
        if fast:
            job = fast.pop(0)
        else:
            owner = min(by_owner, key=lambda o: (min(running_now[o], share), by_owner[o][0][0]))
            job = by_owner[owner].popleft()[1]
            if not by_owner[owner]:
                del by_owner[owner]
        position += 1
        places[job.id] = Place(position, starts_at, held.get(job.id, 0))
        running_now[job.owner.id] += 1
        length = work_s(job, by_kind, any_rate)
        if starts_at is not None and length is not None:
            bisect.insort(slots, (starts_at + length, job.owner.id))
    return places


def _held_by_share(waiting: Sequence[Job], running: Counter[int], share: int) -> dict[str, int]:
    """The jobs that wait because their owner already has their share running while someone
    else waits (fast-tracked ones go past it): job id -> that owner's running count."""
    owners = {job.owner.id for job in waiting}
    return {
        job.id: running[job.owner.id]
        for job in waiting
        if job.fast_tracked_at is None and running[job.owner.id] >= share and len(owners) > 1
    }
