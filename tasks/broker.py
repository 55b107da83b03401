"""The Dramatiq broker for every process, from the environment, with jobdeck's middleware.

Importing this module is what sets up Dramatiq, so `tasks/__init__.py` imports it before any
actor. `DRAMATIQ_HEARTBEAT_TIMEOUT_MS` and `DRAMATIQ_MAINTENANCE_CHANCE` tune Dramatiq's own
redelivery of a dead worker's messages (the defaults are Dramatiq's), which is only a backstop:
jobdeck's reapers give them back within seconds (tasks/jobs/rescue.py).
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tasks.jobs.middleware import JobMiddleware
from tasks.runtime import Runtime
from tasks.settings import Settings

settings = Settings.from_environ(os.environ)
runtime = Runtime(settings)

broker = RedisBroker(  # type: ignore[no-untyped-call]
    url=settings.redis_url,
    namespace="jobdeck-dramatiq",
    heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
    maintenance_chance=settings.broker_maintenance_chance,
)
broker.add_middleware(JobMiddleware(runtime))
dramatiq.set_broker(broker)
