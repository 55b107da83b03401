"""The Dramatiq broker of a worker process, set up from `Settings` by one function.

`setup_broker()` builds the process's `Runtime`, puts jobdeck's middleware on its broker and
makes it Dramatiq's global broker, which actors bind to when they are declared: so
`tasks/worker.py` calls it before importing any actor. Nothing happens at import. The web
process never declares an actor: it queues messages by actor name through `Runtime.broker`.
`DRAMATIQ_HEARTBEAT_TIMEOUT_MS` and `DRAMATIQ_MAINTENANCE_CHANCE` tune Dramatiq's own
redelivery of a dead worker's messages (the defaults are Dramatiq's), which is only a backstop:
jobdeck's reapers give them back within seconds (tasks/jobs/rescue.py).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tasks.jobs.middleware import JobMiddleware
from tasks.runtime import Runtime
from tasks.settings import Settings


class BrokerNotSetUp(RuntimeError):
    """An actor ran on a broker that `setup_broker()` did not set up."""


def setup_broker(settings: Settings) -> RedisBroker:
    """The worker's broker, with `JobMiddleware` around every massive action, made global."""
    runtime = Runtime(settings)
    broker = runtime.broker
    broker.add_middleware(JobMiddleware(runtime))
    dramatiq.set_broker(broker)
    return broker


def worker_runtime() -> Runtime:
    """The `Runtime` of this worker process: the one its broker's `JobMiddleware` holds."""
    broker = dramatiq.get_broker()
    for middleware in broker.middleware:
        if isinstance(middleware, JobMiddleware):
            return middleware.runtime
    raise BrokerNotSetUp(f"expected a broker from tasks.broker.setup_broker(), got {broker!r}")
