"""What `dramatiq tasks.worker` loads: the broker first, then every actor module."""

from tasks import broker  # noqa: F401  (sets up Dramatiq before any actor is declared)
from tasks.actors import enroll_users, import_users, mail  # noqa: F401
