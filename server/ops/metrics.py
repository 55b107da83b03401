"""`/metrics` in Prometheus text format, from one CollectorRegistry per app (not the global one).

Two kinds of figures: this process's hub, counted as it works (server/hub/metrics.py), and
shared ones, read at scrape time (`JobdeckCollector`): jobs by status and the events every
process published (from the job store), worker heartbeats, and the sockets open per role.

Only loopback may read it, or a scraper that sends `Authorization: Bearer $METRICS_TOKEN`.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.hub.fanout import Hub
from tasks.jobs.beacon import beats_total, last_beats
from tasks.runtime import Runtime


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
