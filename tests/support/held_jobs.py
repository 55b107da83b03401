"""A test-only massive action that a test holds in place: `held_job` works through its items
and, before each one, waits until the test lets it go further (`Gates.let`), so that a test
can keep a worker's threads full for as long as it needs, and say when each job may end.

Jobs of kind "held_job" are launched as the app launches, through the line and a turn
(`launch_held`); the turn runs this actor because the kind names it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq

from tasks.jobs.middleware import current_job, massive_action
from tasks.jobs.model import Job, Person
from tasks.jobs.records import new_job_id
from tasks.runtime import Runtime

WAIT_S = 60.0  # a job that a test forgot to let go ends the test's worker, not the session


class Gates:
    """How far each held job may go: items allowed so far, per job id; and which started."""

    def __init__(self) -> None:
        self.allowed: dict[str, int] = {}
        self.started: list[str] = []
        self.items: Counter[str] = Counter()  # items done, per job, over all its runs
        self.is_open = False  # every job may go to its end
        self._changed = threading.Condition()

    def reset(self) -> None:
        with self._changed:
            self.allowed.clear()
            self.started.clear()
            self.items.clear()
            self.is_open = False

    def open_all(self) -> None:
        with self._changed:
            self.is_open = True
            self._changed.notify_all()

    def let(self, job_id: str, items: int = 1_000_000) -> None:
        """Let `job_id` do up to `items` items in all (by default, all of them)."""
        with self._changed:
            self.allowed[job_id] = items
            self._changed.notify_all()

    def wait_for(self, job_id: str, item: int) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: self.is_open or self.allowed.get(job_id, 0) > item, WAIT_S
            )

    def note_start(self, job_id: str) -> None:
        with self._changed:
            self.started.append(job_id)


GATES = Gates()


@massive_action
def held_job(job_id: str) -> None:
    ctx = current_job()
    GATES.note_start(job_id)
    items = int(str(ctx.params.get("items", 5)))
    ctx.set_total(items)
    for item in range(ctx.done, items):
        GATES.wait_for(job_id, item)
        ctx.save()
        GATES.items[job_id] += 1
        ctx.advance()


def launch_held(
    runtime: Runtime,
    owner: Person,
    items: int = 5,
    name: str = "",
    queue_turn: bool = True,
    joined_s_ago: float = 0,
) -> Job:
    """Record a held job and put it in line with its turn, as tasks/launch.py does (without
    the turn: as a launch cut short by a crash leaves it)."""
    at = time.time() - joined_s_ago
    job = runtime.store.create(
        Job(
            id=new_job_id(),
            kind="held_job",
            description=name or f"Held job ({items} items)",
            owner=owner,
            created_at=at,
            params={"items": items, "owner_role": "power_user"},
            total=items,
        )
    )
    runtime.line.join(job.id, at)
    if queue_turn:
        runtime.queue_turn(job.id)
    return job


@contextmanager
def worker_with_threads(threads: int) -> Iterator[dramatiq.Worker]:
    """A real Dramatiq worker in this process with `threads` threads, stopped afterwards."""
    from tasks.worker import broker

    GATES.reset()
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        GATES.open_all()
        worker.stop()
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not worker
        ]
