"""What a process that runs or launches jobs holds: settings, the job store, the database.

Built once per process from `Settings`; the store and the engine are made on first use, so
that importing the actors (as the web process does, to send messages) opens nothing.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.engine import Engine

from tasks.data.db import connect
from tasks.jobs.store import JobStore
from tasks.settings import Settings


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def store(self) -> JobStore:
        return JobStore.from_url(self.settings.redis_url, self.settings.retention_days * 86400)

    @cached_property
    def engine(self) -> Engine:
        return connect(self.settings.database_url)
