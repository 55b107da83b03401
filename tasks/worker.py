"""What `dramatiq tasks.worker` loads: the worker's composition root.

It sets up the broker from the environment first (actors bind to the global broker when they
are declared), then imports every actor module.
"""

import gc
import os
import sys

from tasks.broker import setup_broker
from tasks.logs import configure_logging
from tasks.settings import Settings

# An import checks and looks up its next batch in one thread while another thread waits on the
# database; back from each of its several round trips a batch, that thread waits for the GIL
# up to the switch interval, 5 ms by default. At 1 ms an import on PostgreSQL went from 0.46
# to 0.53 of its ceiling (bench/import_users.py); the web process keeps the default.
sys.setswitchinterval(0.001)

settings = Settings.from_environ(os.environ)
broker = setup_broker(settings)

from tasks.actors import (  # noqa: E402, F401
    enroll_users,
    import_users,
    revert_job,
    send_job_mail,
    take_turn,
)

configure_logging(settings.production, restyle_existing=True)

# The collector's full passes walk every object the process holds, and an import's batch in
# flight is some 40,000 young objects (rows, checks, plans) that live until it is written: at
# the default first threshold (700) a full pass came every other batch and cost an import on
# SQLite 25-30 % of its time (bench/import_users.py, docs/performance.md). What is loaded by
# now (modules, the broker, the actors) lives as long as the worker and is frozen out of the
# passes; the first generation is collected every 10,000 allocations instead of 700.
gc.collect()
gc.freeze()
gc.set_threshold(10_000, 10, 10)
