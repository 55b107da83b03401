"""/metrics: Prometheus text that prometheus-client's own parser reads, whose figures move as
jobs run and sockets get frames; served to loopback, or elsewhere only with METRICS_TOKEN."""

from __future__ import annotations

import dataclasses
import time

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from server.app import create_app
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id

LOOPBACK = ("127.0.0.1", 40000)
STAFF = b"email,name\nada@example.com,Ada\nbob@example.com,Bob\nbad-email,Carl\n"
TOKEN = "a-metrics-token-long-enough"


def scrape(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    """Every sample, by name and labels, parsed by prometheus-client's parser."""
    response = TestClient(app, client=LOOPBACK).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return float(samples[(name, tuple(sorted(labels.items())))])


def test_figures_move_when_a_job_runs_and_a_socket_gets_frames(  # type: ignore[no-untyped-def]
    app, client, headers, worker, store
):
    before = scrape(app)
    assert value(before, "jobdeck_frames_sent_total") == 0
    assert value(before, "jobdeck_events_published_total") == 0
    assert value(before, "jobdeck_jobs", status="completed") == 0
    assert value(before, "jobdeck_sockets_open", role="power_user") == 0
    assert value(before, "jobdeck_worker_heartbeats_total") >= 1, "the worker beat on boot"
    with client.websocket_connect("/ws/jobs?tab=mine", headers=headers["power"]) as ws:
        launched = client.post(
            "/api/imports/users",
            files={"file": ("staff.csv", STAFF, "text/csv")},
            headers=headers["power"],
        )
        assert launched.status_code == 202
        job_id = launched.json()["id"]
        while "status-completed" not in (frame := ws.receive_text()):
            pass
        assert job_id in frame
        during = scrape(app)
        assert value(during, "jobdeck_sockets_open", role="power_user") == 1
        assert value(during, "jobdeck_sockets_open", role="superadmin") == 0
    after = scrape(app)
    assert value(after, "jobdeck_jobs", status="completed") == 1
    assert value(after, "jobdeck_jobs", status="running") == 0
    # created, started, at least one progress flush, completed: each one event, all counted
    assert value(after, "jobdeck_events_published_total") >= 4
    frames = value(after, "jobdeck_frames_sent_total")
    assert frames >= 2  # the snapshot on connect, then the job's states
    assert value(after, "jobdeck_bytes_sent_total") > 100 * frames
    assert value(after, "jobdeck_publish_to_send_seconds_count") >= 1
    assert value(after, "jobdeck_publish_to_send_seconds_sum") < 60
    assert value(after, "jobdeck_publish_to_send_seconds_bucket", le="+Inf") == value(
        after, "jobdeck_publish_to_send_seconds_count"
    )
    beats = [k for k in after if k[0] == "jobdeck_worker_heartbeat_age_seconds"]
    assert len(beats) == 1 and after[beats[0]] < 30
    assert value(after, "jobdeck_sockets_open", role="power_user") == 0


def test_states_replaced_before_a_tick_are_counted_as_coalesced(  # type: ignore[no-untyped-def]
    settings, runtime, people, headers, store
):
    slow_ticks = create_app(dataclasses.replace(settings, hub_tick_ms=1500))
    owner = Person(people["power"].id, people["power"].name)
    job = store.create(Job(id=new_job_id(), kind="import_users", description="Import",
                           owner=owner, created_at=time.time(), total=10))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time())
    with TestClient(slow_ticks) as client:
        with client.websocket_connect("/ws/jobs?tab=mine", headers=headers["power"]) as ws:
            while f'id="j{job.id}s"' not in ws.receive_text():
                pass  # the snapshot
            for done in range(1, 6):
                store.flush(job.id, {"done": str(done)})
            while 'aria-valuenow="50"' not in ws.receive_text():
                pass
            samples = scrape(slow_ticks)
    # five states of one job within one tick: one sent, the four before it replaced
    assert value(samples, "jobdeck_states_coalesced_total") >= 4


def test_refused_from_another_address_without_the_token(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    response = TestClient(app, client=("203.0.113.7", 5000)).get("/metrics")
    assert response.status_code == 403
    assert "jobdeck_" not in response.text
    assert TestClient(app, client=("::1", 5000)).get("/metrics").status_code == 200
    no_token_set = TestClient(app, client=("203.0.113.7", 5000)).get(
        "/metrics", headers={"authorization": "Bearer "}
    )
    assert no_token_set.status_code == 403, "an empty token never matches an unset one"


def test_served_elsewhere_with_the_configured_token(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, metrics_token=TOKEN))
    remote = TestClient(app, client=("203.0.113.7", 5000))
    assert remote.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 403
    good = remote.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200 and "jobdeck_jobs" in good.text


def test_two_apps_keep_their_own_registries(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    first, second = create_app(settings), create_app(settings)
    first.state.hub.metrics.frames += 3
    assert value(scrape(first), "jobdeck_frames_sent_total") == 3
    assert value(scrape(second), "jobdeck_frames_sent_total") == 0


def test_lag_lands_in_the_right_bucket_and_bytes_count_utf8() -> None:
    from server.hub.metrics import HubMetrics

    class Sock:
        coalesced = 2
        oldest_event_at: float | None = None

    metrics, sock = HubMetrics(), Sock()
    metrics.offered(sock, time.time() - 0.2)
    metrics.offered(sock, time.time())  # a later event: the frame's lag is the oldest one's
    metrics.frame_sent(sock, "Zoë")
    text = generate(metrics)
    assert value(text, "jobdeck_publish_to_send_seconds_bucket", le="0.1") == 0
    assert value(text, "jobdeck_publish_to_send_seconds_bucket", le="0.25") == 1
    assert 0.2 <= value(text, "jobdeck_publish_to_send_seconds_sum") < 0.25
    assert value(text, "jobdeck_bytes_sent_total") == 4
    assert value(text, "jobdeck_states_coalesced_total") == 2 and sock.coalesced == 0
    metrics.frame_sent(sock, "x")  # nothing published since: no lag to observe
    assert value(generate(metrics), "jobdeck_publish_to_send_seconds_count") == 1


def generate(metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    from prometheus_client.exposition import generate_latest

    samples = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
