"""When to publish a job's progress: at most once per interval, pure and clock-free.

The caller passes the time (`at`, seconds on any monotonic clock). Changes of status and the
final snapshot never go through a throttle: they are published at once.
"""

from __future__ import annotations


class Throttle:
    """Lets one publication through per `interval_ms`, and says when something is pending."""

    def __init__(self, interval_ms: int) -> None:
        if interval_ms < 0:
            raise ValueError(f"interval_ms must be >= 0, got {interval_ms}")
        self.interval_s = interval_ms / 1000
        self.last_at: float | None = None
        self.is_pending = False

    def offer(self, at: float) -> bool:
        """Note a change at `at`; True when it should be published now."""
        if self.last_at is None or at - self.last_at >= self.interval_s:
            self.last_at = at
            self.is_pending = False
            return True
        self.is_pending = True
        return False

    def flushed(self, at: float) -> None:
        """Note that the latest state was published at `at` by another path."""
        self.last_at = at
        self.is_pending = False
