"""How workers announce themselves: a heartbeat into one sorted set that anybody can read.

Each worker process, once booted, writes its id scored by the time into `workers` (under the
store's prefix) every heartbeat interval, and counts the beat in `workers:beats`; on a clean
shutdown it takes its id out. A worker that died simply stops beating: readers decide how old
a beat may be (`live_workers`). Entries older than a day are swept on each beat. Each beat also
records the process's Dramatiq broker id in `workers:brokers`, so that its messages can be
given back to their queues as soon as it stops beating (rescue.py). `steady_since` says since
when this worker's own beats have all gone through in time: after Redis was away, every
worker's beat is old at once, and nobody should take the others for dead until they could beat.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import cast

from tasks.jobs.store import JobStore

log = logging.getLogger(__name__)

FORGET_AFTER_S = 86_400


def worker_id() -> str:
    """Host, process and a random part (pids repeat across restarts and containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class WorkerBeacon:
    def __init__(
        self, store: JobStore, interval_s: float, name: str | None = None, broker_id: str = ""
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.name = name or worker_id()
        self.broker_id = broker_id
        self.steady_since = float("-inf")  # last beat that failed or came late, if any
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jobdeck-beacon", daemon=True)

    def start(self) -> None:
        self.beat(time.time())  # ready at once, not one interval later
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)
        try:
            pipe = self.store.redis.pipeline(transaction=True)
            pipe.zrem(self.store.key("workers"), self.name)
            pipe.hdel(self.store.key("workers", "brokers"), self.name)
            pipe.execute()
        except Exception:
            log.warning("worker %s could not sign off", self.name, exc_info=True)

    def beat(self, at: float) -> None:
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.zadd(self.store.key("workers"), {self.name: at})
        pipe.incr(self.store.key("workers", "beats"))
        pipe.zremrangebyscore(self.store.key("workers"), 0, at - FORGET_AFTER_S)
        if self.broker_id:  # again on every beat: a worker taken for dead that beats again
            pipe.hset(self.store.key("workers", "brokers"), self.name, self.broker_id)
        pipe.execute()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval_s):
            at = time.time()
            try:
                self.beat(at)
            except Exception:
                log.warning("worker %s: heartbeat failed", self.name, exc_info=True)
                self.steady_since = time.time()
                continue
            if time.time() - at > self.interval_s:  # waited for Redis (see RIDE_OUT_S)
                self.steady_since = time.time()


def live_workers(store: JobStore, at: float, within_s: float) -> dict[str, float]:
    """The workers whose last beat is at most `within_s` old, with that beat's time."""
    beats = store.redis.zrangebyscore(store.key("workers"), at - within_s, "+inf", withscores=True)
    return {name: score for name, score in cast(list[tuple[str, float]], beats)}


def last_beats(store: JobStore) -> dict[str, float]:
    """Every worker seen in the last day, with the time of its last beat."""
    beats = store.redis.zrange(store.key("workers"), 0, -1, withscores=True)
    return {name: score for name, score in cast(list[tuple[str, float]], beats)}


def beats_total(store: JobStore) -> int:
    return int(cast(str | None, store.redis.get(store.key("workers", "beats"))) or 0)
