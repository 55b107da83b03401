"""What `dramatiq tasks.worker` loads: the broker first, then every actor module."""

from tasks import broker  # (sets up Dramatiq before any actor is declared)
from tasks.actors import enroll_users, import_users, mail  # noqa: F401
from tasks.logs import configure_logging

configure_logging(broker.settings.production, restyle_existing=True)
