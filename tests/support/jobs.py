"""What many tests need to put a job in the store."""

from __future__ import annotations

import time
from typing import Any

from tasks.jobs.model import Job, Person
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore


def new_job(
    store: JobStore,
    owner: Any,
    description: str = "Import users from x.csv (10 rows)",
    **fields: Any,
) -> Job:
    """A queued import of 10 items owned by `owner` (a User or a Person), stored and published."""
    defaults: dict[str, Any] = {
        "id": new_job_id(),
        "kind": "import_users",
        "description": description,
        "owner": Person(owner.id, owner.name),
        "created_at": time.time(),
        "total": 10,
    }
    return store.create(Job(**{**defaults, **fields}))
