"""What `dramatiq tasks.worker` loads: the worker's composition root.

It sets up the broker from the environment first (actors bind to the global broker when they
are declared), then imports every actor module.
"""

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
