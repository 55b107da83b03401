"""Database work that failed for a passing cause (a restart, a dropped connection, a
serialization failure, a lock) is tried again with backoff, up to a time budget.

`Backoff` is the pure policy: how long to wait before the next try, or None once the budget is
spent. `retry_transient` runs one unit of work (a batch in its own transaction, so a failed try
left nothing behind) under that policy and raises `DatabaseUnavailable`, with a sentence a
person can act on, when the budget runs out. Any other error is raised at once.

Why not tenacity: it would say the same in as many lines (retry_if_exception, wait_exponential,
stop_after_delay, an `after` hook for `forget`, a retry_error_callback for the sentence), but it
measures elapsed time with its own `time.monotonic()` (only `sleep` can be passed in), so the
policy could no longer be tested as data with a clock that moves when the code sleeps, and its
stop rule gives up instead of shortening the last wait to what is left of the budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

log = logging.getLogger(__name__)

T = TypeVar("T")


class DatabaseUnavailable(RuntimeError):
    """The database kept failing for a transient cause past the retry budget."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: `first_s`, doubled each try, at most `cap_s`, within `budget_s`."""

    budget_s: float = 30.0
    first_s: float = 0.2
    cap_s: float = 5.0

    def delay_s(self, tries: int, elapsed_s: float) -> float | None:
        """The wait before try number `tries + 1`, after `tries` failed ones took `elapsed_s`;
        None when no try is left."""
        if tries < 1:
            raise ValueError(f"tries must be >= 1, got {tries}")
        remaining = self.budget_s - elapsed_s
        if remaining <= 0:
            return None
        return float(min(self.first_s * 2 ** (tries - 1), self.cap_s, remaining))


DEFAULT_BACKOFF = Backoff()


def is_transient(exc: BaseException) -> bool:
    """True for failures that trying again may cure: the server went away or restarted, the
    connection broke, a serialization failure or deadlock, a busy SQLite file."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)


def retry_transient(
    work: Callable[[], T],
    what: str,
    policy: Backoff,
    forget: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`work()`, tried again after each transient failure. `forget()` runs after every failed
    try, the last one included, to undo what it recorded outside the database (the errors it
    found in rows it did not commit)."""
    started = clock()
    tries = 0
    while True:
        try:
            return work()
        except Exception as exc:
            if not is_transient(exc):
                raise
            forget()
            tries += 1
            delay = policy.delay_s(tries, clock() - started)
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            if delay is None:
                raise DatabaseUnavailable(
                    f"the database failed {tries} times in {clock() - started:.0f}s while "
                    f"{what} ({cause}); what came before was saved: run the job again later"
                ) from exc
            log.warning("%s failed (%s); try %d in %.1fs", what, cause, tries + 1, delay)
        sleep(delay)
