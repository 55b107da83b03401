"""`/metrics` in Prometheus text format, from one CollectorRegistry per app (not the global one).

Two kinds of figures:

- this process's hub, counted as it works (`HubMetrics`; the hub calls `offered()` when it
  gives one socket an event's fragments (a busy one, or one served through ASGI),
  `frame_sent()` when it hands one socket a frame, and `frames_sent()` once for a frame a
  tick writes to a whole group):
  frames and bytes sent, states coalesced (a pending fragment replaced by a later one before
  it was sent), and the lag from an event's publication to the frame that carries it (the
  oldest event in each frame, against the publisher's clock);
- shared ones, read at scrape time (`JobdeckCollector`): jobs by status and the events every
  process published (from the job store), worker heartbeats, and the sockets open per role.

Only loopback may read it, or a scraper that sends `Authorization: Bearer $METRICS_TOKEN`.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tasks.jobs.beacon import beats_total, last_beats
from tasks.runtime import Runtime

if TYPE_CHECKING:
    from server.hub import Hub

LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Measured(Protocol):
    """What `HubMetrics` keeps on a hub socket: how many pending states it replaced, and when
    the oldest event not yet sent to it was published."""

    coalesced: int
    oldest_event_at: float | None


class HubMetrics(Collector):
    """The hub's own counters, in a registry of their own (one per app).

    The hooks run on the hub's hot path (per socket served one by one, and once per group a tick
    writes to), so they only add to plain numbers; the registry reads them when scraped.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.coalesced = 0
        self.lag_buckets = [0] * (len(LAG_BUCKETS_S) + 1)  # the last one is +Inf
        self.lag_sum = 0.0
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def offered(self, sock: Measured, published_at: float | None) -> None:
        """An event's fragments were queued for `sock`."""
        if sock.oldest_event_at is None:
            sock.oldest_event_at = published_at

    def frame_sent(self, sock: Measured, frame: str) -> None:
        """`frame` is being handed to `sock`'s connection."""
        if sock.coalesced:
            self.coalesced += sock.coalesced
            sock.coalesced = 0
        published_at, sock.oldest_event_at = sock.oldest_event_at, None
        self.frames_sent(1, frame, published_at)

    def frames_sent(self, count: int, frame: str, published_at: float | None) -> None:
        """`frame` is being handed to `count` sockets that had nothing pending: what a tick
        writes to a whole group, counted once."""
        self.frames += count
        self.bytes += count * (len(frame) if frame.isascii() else len(frame.encode()))
        if published_at is not None and count:
            lag = max(0.0, time.time() - published_at)
            self.lag_buckets[bisect_left(LAG_BUCKETS_S, lag)] += count
            self.lag_sum += count * lag

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily("jobdeck_frames_sent", "WebSocket frames sent", self.frames)
        yield CounterMetricFamily(
            "jobdeck_bytes_sent", "WebSocket bytes sent (UTF-8)", value=self.bytes
        )
        yield CounterMetricFamily(
            "jobdeck_states_coalesced",
            "Pending fragments replaced by a later state before they were sent",
            value=self.coalesced,
        )
        cumulative, total = [], 0
        for bound, count in zip((*LAG_BUCKETS_S, math.inf), self.lag_buckets, strict=True):
            total += count
            cumulative.append(("+Inf" if bound == math.inf else repr(bound), total))
        yield HistogramMetricFamily(
            "jobdeck_publish_to_send_seconds",
            "From an event's publication to the frame that carries it (oldest event per frame)",
            buckets=cumulative,
            sum_value=self.lag_sum,
        )


class JobdeckCollector(Collector):
    """Figures read when scraped: from Redis (shared by every process) and from the hub."""

    def __init__(self, runtime: Runtime, hub: Hub) -> None:
        self.runtime = runtime
        self.hub = hub

    def collect(self) -> Iterable[Metric]:
        store = self.runtime.store
        jobs = GaugeMetricFamily("jobdeck_jobs", "Stored jobs by status", labels=["status"])
        for status, count in store.count_by_status().items():
            jobs.add_metric([status.value], count)
        yield jobs
        yield CounterMetricFamily(
            "jobdeck_events_published",
            "Job events published on Redis by every process",
            value=store.events_published(),
        )
        at = time.time()
        beats = last_beats(store)
        yield CounterMetricFamily(
            "jobdeck_worker_heartbeats", "Worker heartbeats, every worker", value=beats_total(store)
        )
        age = GaugeMetricFamily(
            "jobdeck_worker_heartbeat_age_seconds",
            "Seconds since each worker seen in the last day last beat",
            labels=["worker"],
        )
        for name, beat_at in beats.items():
            age.add_metric([name], max(0.0, at - beat_at))
        yield age
        sockets = GaugeMetricFamily(
            "jobdeck_sockets_open", "Open WebSockets in this process, by role", labels=["role"]
        )
        roles = Tally(sock.viewer.role for sock in list(self.hub.sockets))
        for role in ("superadmin", "power_user", "screen"):
            roles.setdefault(role, 0)
        for role, count in sorted(roles.items()):
            sockets.add_metric([role], count)
        yield sockets


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsEndpoint:
    def __init__(self, runtime: Runtime, hub: Hub) -> None:
        self.token = runtime.settings.metrics_token
        self.registry = hub.metrics.registry
        self.registry.register(JobdeckCollector(runtime, hub))
        self.routes = [Route("/metrics", self.serve)]

    def may_read(self, request: Request) -> bool:
        if is_loopback(request.client.host if request.client else None):
            return True
        given = request.headers.get("authorization", "")
        expected = f"Bearer {self.token}"
        return bool(self.token) and hmac.compare_digest(given.encode(), expected.encode())

    async def serve(self, request: Request) -> Response:
        if not self.may_read(request):
            return PlainTextResponse(
                "Metrics are served to loopback, or with the METRICS_TOKEN bearer token.",
                status_code=403,
            )
        body = await run_in_threadpool(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
