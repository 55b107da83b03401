"""What `dramatiq tasks.worker` loads: the worker's composition root.

It sets up the broker from the environment first (actors bind to the global broker when they
are declared), then imports every actor module.
"""

import os

from tasks.broker import setup_broker
from tasks.logs import configure_logging
from tasks.settings import Settings

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
