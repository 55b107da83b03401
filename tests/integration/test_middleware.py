"""The job middleware around a real Dramatiq worker, the reaper, and end-of-job mail.

A test-only massive action (`probe_job`) does what its job's params say, so that each test
drives one path through the middleware: complete, fail, abort, resume, skip.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from server.embedded_redis import free_port
from tasks.actors.send_job_mail import send_job_mail
from tasks.data.db import users
from tasks.data.users import add_user
from tasks.jobs.events import JobChanged, decode
from tasks.jobs.middleware import NoJob, current_job
from tasks.jobs.model import Event, Job, Person, Status
from tasks.jobs.notify import queue_job_mails
from tasks.jobs.reaper import WORKER_LOST, Reaper
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore
from tasks.mail import build_job_mail, send_mail
from tasks.worker import broker

ADA = Person(7, "Ada Lovelace")
ROOT = Person(1, "Root")

RUNS: Counter[str] = Counter()
_runs_lock = threading.Lock()


@dramatiq.actor(queue_name="jobs", max_retries=0, massive_action=True)
def probe_job(job_id: str) -> None:
    """Works through `items` items from its checkpoint, as its params say."""
    ctx = current_job()
    with _runs_lock:
        RUNS[job_id] += 1
    mode = ctx.params.get("mode", "ok")
    items = int(str(ctx.params.get("items", 3)))
    ctx.set_total(items)
    for item in range(ctx.done, items):
        if mode == "boom" and item == 1:
            raise RuntimeError("the CSV file vanished at line 3")
        if mode == "slow":
            time.sleep(0.01)  # one item's work
        if mode == "bad_rows" and item % 2 == 0:
            ctx.error(f"line {item + 2}", "email is empty")
            ctx.save()
        ctx.advance()


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _ada_may_run_jobs(engine: Any) -> None:
    """The jobs here are Ada's: the worker asks the database that she may still run them."""
    with engine.begin() as conn:
        ada = {"id": ADA.id, "email": "ada@example.com", "name": ADA.name, "role": "superadmin"}
        conn.execute(sa.insert(users).values(**ada, is_active=True, created_at=0.0))


def launch(store: JobStore, owner: Person = ADA, **params: object) -> Job:
    return store.create(
        Job(
            id=new_job_id(),
            kind="probe",
            description="Probe the engine (3 items)",
            owner=owner,
            created_at=time.time(),
            params=dict(params),
        )
    )


def drain(worker: dramatiq.Worker) -> None:
    """Wait until every job and every email it queued was processed."""
    for queue in ("jobs", "mail", "jobs", "mail"):
        broker.join(queue, timeout=20_000)
    worker.join()


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.005)


def outbox_files(runtime: Any, job_id: str) -> list[Path]:
    outbox: Path = runtime.settings.outbox_dir
    return sorted(outbox.glob(f"*job-{job_id}-*.eml")) if outbox.exists() else []


# -- the life of a job through the worker ------------------------------------------------


def test_job_goes_queued_running_completed(store: JobStore, worker: dramatiq.Worker) -> None:
    pubsub = store.redis.pubsub()
    pubsub.subscribe(store.channel)
    assert pubsub.get_message(timeout=5) is not None
    job = launch(store, items=3)

    probe_job.send(job.id)
    drain(worker)

    snapshots = []
    while (message := pubsub.get_message(True, timeout=0.3)) is not None:
        event = decode(message["data"])
        assert isinstance(event, JobChanged)
        snapshots.append(event.job)
    pubsub.close()
    statuses = [s.status for s in snapshots]
    assert statuses[0] is Status.QUEUED
    assert statuses[-1] is Status.COMPLETED
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == [
        Status.QUEUED,
        Status.RUNNING,
        Status.COMPLETED,
    ]
    assert [s.seq for s in snapshots] == list(range(1, len(snapshots) + 1))
    ended = store.get(job.id)
    assert ended == snapshots[-1]
    assert (ended.total, ended.done, ended.percent) == (3, 3, 100)
    assert ended.started_at is not None and ended.finished_at is not None
    assert ended.finished_at >= ended.started_at
    assert RUNS[job.id] == 1
    assert job.id not in store.active_ids()


def test_job_id_may_come_as_a_keyword(store: JobStore, worker: dramatiq.Worker) -> None:
    job = launch(store, items=2)
    probe_job.send(job_id=job.id)
    drain(worker)
    assert store.get(job.id).status is Status.COMPLETED


def test_errors_reported_by_the_action_are_kept(store: JobStore, worker: dramatiq.Worker) -> None:
    job = launch(store, mode="bad_rows", items=10)
    probe_job.send(job.id)
    drain(worker)
    ended = store.get(job.id)
    assert ended.status is Status.COMPLETED
    assert ended.error_count == 5
    assert [e.item for e in store.errors(job.id).items] == [f"line {n}" for n in (2, 4, 6, 8, 10)]


def test_exception_fails_the_job_with_its_message_and_is_not_retried(
    store: JobStore, worker: dramatiq.Worker
) -> None:
    job = launch(store, mode="boom", items=5)

    probe_job.send(job.id)
    drain(worker)

    failed = store.get(job.id)
    assert failed.status is Status.FAILED
    assert failed.message == "the CSV file vanished at line 3"
    assert failed.done == 1, "the item committed before the exception is counted"
    assert failed.finished_at is not None
    assert RUNS[job.id] == 1, "a massive action is never re-run by Dramatiq's retries"


def test_job_aborted_while_queued_is_never_run(store: JobStore, worker: dramatiq.Worker) -> None:
    job = launch(store)
    store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)

    probe_job.send(job.id)
    drain(worker)

    assert RUNS[job.id] == 0
    aborted = store.get(job.id)
    assert aborted.status is Status.ABORTED
    assert aborted.started_at is None
    assert aborted.aborted_by == ROOT


def test_job_aborting_when_its_message_arrives_is_confirmed_aborted(
    store: JobStore, worker: dramatiq.Worker
) -> None:
    job = launch(store)
    store.transition(job.id, Event.START, at=time.time())
    store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)

    probe_job.send(job.id)
    drain(worker)

    assert RUNS[job.id] == 0
    aborted = store.get(job.id)
    assert aborted.status is Status.ABORTED
    assert aborted.aborted_by == ROOT


def test_abort_of_a_running_job_stops_it_within_one_second(
    store: JobStore, worker: dramatiq.Worker
) -> None:
    job = launch(store, mode="slow", items=10_000)
    probe_job.send(job.id)
    wait_for(lambda: store.get(job.id).done > 0)

    store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT, aborted_at=time.time())
    wait_for(lambda: store.get(job.id).status is Status.ABORTED, timeout_s=1.0)
    drain(worker)

    aborted = store.get(job.id)
    assert 0 < aborted.done < 10_000
    assert aborted.aborted_by == ROOT
    assert RUNS[job.id] == 1


def test_redelivered_running_job_resumes_from_its_checkpoint(
    store: JobStore, worker: dramatiq.Worker
) -> None:
    # As after a worker died mid-job: the record says running, 4 of 10 items committed.
    job = launch(store, items=10)
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"total": "10", "done": "4", "checkpoint": "4"})

    probe_job.send(job.id)
    drain(worker)

    ended = store.get(job.id)
    assert ended.status is Status.COMPLETED
    assert ended.done == 10
    assert RUNS[job.id] == 1


def test_unknown_job_is_skipped(store: JobStore, worker: dramatiq.Worker) -> None:
    probe_job.send("feedfacefeedface")
    drain(worker)
    assert RUNS["feedfacefeedface"] == 0
    assert not store.redis.exists(store.key("job", "feedfacefeedface"))


def test_ended_job_is_not_run_again(store: JobStore, worker: dramatiq.Worker) -> None:
    job = launch(store)
    probe_job.send(job.id)
    drain(worker)
    finished = store.get(job.id)

    probe_job.send(job.id)
    drain(worker)

    assert RUNS[job.id] == 1
    assert store.get(job.id) == finished


def test_current_job_outside_an_action_raises() -> None:
    with pytest.raises(NoJob, match="outside a massive action"):
        current_job()


# -- the reaper ----------------------------------------------------------------------------


def test_reaper_fails_a_running_job_whose_worker_was_lost(runtime: Any, store: JobStore) -> None:
    lost_after = runtime.settings.worker_lost_after_s
    now = time.time()
    lost = launch(store)
    store.transition(lost.id, Event.START, at=now - lost_after - 5)
    alive = launch(store)
    store.transition(alive.id, Event.START, at=now - lost_after + 30)
    queued = launch(store)
    ended: list[Job] = []

    Reaper(runtime, on_end=ended.append).sweep(now)

    failed = store.get(lost.id)
    assert failed.status is Status.FAILED
    assert failed.message == WORKER_LOST
    assert "worker lost" in failed.message
    assert failed.finished_at == now
    assert store.get(alive.id).status is Status.RUNNING
    assert store.get(queued.id).status is Status.QUEUED
    assert [j.id for j in ended] == [lost.id]


def test_reaper_confirms_abort_of_an_aborting_job_whose_worker_was_lost(
    runtime: Any, store: JobStore
) -> None:
    now = time.time()
    job = launch(store)
    long_ago = now - runtime.settings.worker_lost_after_s - 5
    store.transition(job.id, Event.START, at=long_ago)
    store.transition(job.id, Event.ABORT, at=long_ago, aborted_by=ROOT)
    ended: list[Job] = []

    Reaper(runtime, on_end=ended.append).sweep(now)

    aborted = store.get(job.id)
    assert aborted.status is Status.ABORTED
    assert aborted.message == ""
    assert [j.status for j in ended] == [Status.ABORTED]


def test_reaper_respects_a_fresh_heartbeat(runtime: Any, store: JobStore) -> None:
    now = time.time()
    job = launch(store)
    store.transition(job.id, Event.START, at=now - 10_000)
    store.flush(job.id, {"heartbeat_at": repr(now - 1)})
    ended: list[Job] = []

    Reaper(runtime, on_end=ended.append).sweep(now)

    assert store.get(job.id).status is Status.RUNNING
    assert ended == []


def test_reaper_forgets_expired_jobs(runtime: Any, store: JobStore) -> None:
    job = launch(store)
    store.transition(job.id, Event.START, at=time.time())
    finished = store.transition(job.id, Event.COMPLETE, at=time.time())
    expires_at = finished.expires_at(store.retention_s)
    assert expires_at is not None

    Reaper(runtime, on_end=lambda job: None).sweep(expires_at + 1)

    assert store.list_jobs().items == []


# -- notify: the outbox ------------------------------------------------------------------


def add_watchers(runtime: Any, store: JobStore, job: Job, count: int) -> list[int]:
    ids = []
    with runtime.engine.begin() as conn:
        for n in range(count):
            # Superadmins: only those who may see another's job are told when it ends.
            user = add_user(conn, f"watcher{n}@example.org", f"Watcher {n}", "superadmin")
            ids.append(user.id)
    for user_id in ids:
        store.add_watcher(job.id, user_id)
    return ids


def test_two_watchers_get_exactly_two_emails_in_the_outbox(
    runtime: Any, store: JobStore, worker: dramatiq.Worker
) -> None:
    assert runtime.settings.smtp_url == ""
    job = launch(store, items=3)
    add_watchers(runtime, store, job, 2)

    probe_job.send(job.id)
    drain(worker)

    files = outbox_files(runtime, job.id)
    assert len(files) == 2
    messages = [email.message_from_bytes(f.read_bytes()) for f in files]
    assert sorted(m["To"] for m in messages) == [
        "Watcher 0 <watcher0@example.org>",
        "Watcher 1 <watcher1@example.org>",
    ]
    for message in messages:
        assert message["Subject"] == "Probe the engine (3 items) completed"
        body = message.get_payload(decode=True).decode()
        assert "Items done:   3 of 3" in body
        assert f"{runtime.settings.base_url}/admin/background-jobs/{job.id}/errors" in body


def test_handling_the_end_twice_sends_no_second_email(
    runtime: Any, store: JobStore, worker: dramatiq.Worker
) -> None:
    job = launch(store, items=3)
    watcher_ids = add_watchers(runtime, store, job, 2)
    probe_job.send(job.id)
    drain(worker)
    assert len(outbox_files(runtime, job.id)) == 2

    ended = store.get(job.id)
    queue_job_mails(runtime, ended)
    queue_job_mails(runtime, ended)
    for user_id in watcher_ids:  # even a duplicated mail message sends nothing
        send_job_mail.send(job.id, user_id)
    drain(worker)

    assert len(outbox_files(runtime, job.id)) == 2
    assert all(store.was_mailed(job.id, user_id) for user_id in watcher_ids)


def test_job_aborted_while_queued_is_mailed_once(
    runtime: Any, store: JobStore, worker: dramatiq.Worker
) -> None:
    # Whoever aborts a queued job ends it, and queues its mails (as the abort API does); the
    # worker that later skips its message must not mail again.
    job = launch(store)
    add_watchers(runtime, store, job, 1)
    aborted = store.transition(job.id, Event.ABORT, at=time.time(), aborted_by=ROOT)
    queue_job_mails(runtime, aborted)

    probe_job.send(job.id)
    drain(worker)

    files = outbox_files(runtime, job.id)
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["Subject"] == "Probe the engine (3 items) was aborted"
    assert "Aborted by:   Root" in message.get_payload(decode=True).decode()


def test_job_failed_by_the_reaper_notifies_its_watchers(
    runtime: Any, store: JobStore, worker: dramatiq.Worker
) -> None:
    from tasks.jobs.middleware import JobMiddleware

    middleware = next(m for m in broker.middleware if isinstance(m, JobMiddleware))
    job = launch(store)
    add_watchers(runtime, store, job, 1)
    store.transition(job.id, Event.START, at=time.time() - 10_000)

    Reaper(runtime, on_end=middleware.on_job_end).sweep(time.time())
    drain(worker)

    files = outbox_files(runtime, job.id)
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["Subject"] == "Probe the engine (3 items) failed"
    assert WORKER_LOST in message.get_payload(decode=True).decode()


# -- notify: a real SMTP server --------------------------------------------------------


@dataclass
class Collector:
    """An aiosmtpd handler that keeps every envelope, and the session it came in."""

    envelopes: list[Any] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        is_tls = server.transport.get_extra_info("ssl_object") is not None
        self.tls.append(is_tls or session.ssl is not None)
        return "250 Message accepted for delivery"


def authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"jobdeck",
        b"s3cret",
    )
    if ok:
        server.event_handler.logins.append(auth_data.login)
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def a_job_mail(to: str = "grace@example.org") -> Any:
    job = Job(
        id="0123456789abcdef",
        kind="import_users",
        description="Import users from staff-2026.csv (5,000 rows)",
        owner=ADA,
        created_at=1_700_000_000.0,
        status=Status.COMPLETED,
        total=5000,
        done=5000,
        error_count=12,
        started_at=1_700_000_010.0,
        finished_at=1_700_000_135.0,
    )
    return build_job_mail(job, to, "Grace Hopper", "https://learn.example.org", "jobdeck <j@x.org>")


def test_mail_arrives_at_a_real_smtp_server(
    smtp_server: tuple[Collector, int], tmp_path: Path
) -> None:
    collector, port = smtp_server

    send_mail(a_job_mail(), f"smtp://127.0.0.1:{port}", tmp_path / "outbox", timeout_s=10)

    assert len(collector.envelopes) == 1
    envelope = collector.envelopes[0]
    assert envelope.rcpt_tos == ["grace@example.org"]
    assert envelope.mail_from == "j@x.org"
    received = email.message_from_bytes(envelope.original_content)
    assert received["Subject"] == "Import users from staff-2026.csv (5,000 rows) completed"
    assert received["To"] == "Grace Hopper <grace@example.org>"
    body = received.get_payload(decode=True).decode()
    assert "Errors:       12" in body
    assert "Running time: 2:05" in body
    assert "https://learn.example.org/admin/background-jobs/0123456789abcdef/errors" in body
    assert not (tmp_path / "outbox").exists(), "with SMTP_URL nothing goes to the outbox"


def test_smtp_down_raises_so_that_dramatiq_retries(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(OSError):
        send_mail(a_job_mail(), f"smtp://127.0.0.1:{port}", tmp_path / "outbox", timeout_s=5)
    assert not (tmp_path / "outbox").exists()
    assert send_job_mail.options["max_retries"] >= 5
    assert send_job_mail.options["min_backoff"] >= 1_000


def test_smtp_refusing_the_recipient_raises(
    smtp_server: tuple[Collector, int], tmp_path: Path
) -> None:
    collector, port = smtp_server
    collector.refuse.add("grace@example.org")
    with pytest.raises(Exception, match="no such mailbox"):
        send_mail(a_job_mail(), f"smtp://127.0.0.1:{port}", tmp_path, timeout_s=10)
    assert collector.envelopes == []


def test_smtp_upgrades_to_starttls_before_logging_in(
    certificate: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our test certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    collector, port = Collector(), free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        send_mail(a_job_mail(), f"smtp://jobdeck:s3cret@127.0.0.1:{port}", tmp_path, timeout_s=10)
    finally:
        controller.stop()

    assert len(collector.envelopes) == 1
    assert collector.tls == [True], "the password and the mail went over TLS"
    assert collector.logins == [b"jobdeck"]


def test_smtps_delivers_over_tls_from_the_start(
    certificate: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    collector, port = Collector(), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port, ssl_context=server_tls)
    controller.start()
    try:
        send_mail(a_job_mail(), f"smtps://127.0.0.1:{port}", tmp_path, timeout_s=10)
    finally:
        controller.stop()

    assert len(collector.envelopes) == 1
    assert collector.tls == [True]
