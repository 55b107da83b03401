"""The hub's own counters, counted as it works, in a Prometheus registry of their own (one per
app; `/metrics` serves it, server/ops/metrics.py).

The hub calls `offered()` when it gives one socket an event's fragments (a busy one, or one
served through ASGI), `frame_sent()` when it hands one socket a frame, and `frames_sent()` once
for a frame a tick writes to a whole group: frames and bytes sent, states coalesced (a pending
fragment replaced by a later one before it was sent), and the lag from an event's publication
to the frame that carries it (the oldest event in each frame, against the publisher's clock).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

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
