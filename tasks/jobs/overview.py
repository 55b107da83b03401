"""What every admin page's header shows of a person's jobs: how many have not ended yet, and
the latest few. Read by the pages and by the hub alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tasks.jobs.model import Job
from tasks.jobs.store import JobStore

RECENT = 5


@dataclass(frozen=True)
class Overview:
    running: int
    recent: list[Job]


def running_counts(store: JobStore, owner_ids: Iterable[int]) -> dict[int, int]:
    """How many of each person's jobs have not ended yet."""
    counts = dict.fromkeys(owner_ids, 0)
    if counts:
        for owner in store.active_owners():
            if owner in counts:
                counts[owner] += 1
    return counts


def overview_of(store: JobStore, owner_id: int) -> Overview:
    """One person's: counted from the indexes of jobs not ended and of their jobs (every admin
    page's header asks, on every request), not from the records under way."""
    recent = store.list_jobs(owner_id=owner_id, limit=RECENT).items
    return Overview(store.active_count(owner_id), recent)
