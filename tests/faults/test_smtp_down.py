"""SMTP down while jobs end: the end-of-job emails are retried with backoff and delivered once
the mail server is back, even when the worker holding them is killed meanwhile, and never twice."""

from __future__ import annotations

import email
from collections.abc import Callable

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from server.embedded_redis import free_port
from tasks.data.users import add_user
from tasks.jobs.model import Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_import
from tasks.runtime import Runtime
from tests.faults.fault_kit import Mailbox, Workers, kill, users_csv
from tests.support.waiting import wait_until

JOBS, WATCHERS = 3, 2
MAIL_QUEUES = ("jobdeck-dramatiq:mail.msgs", "jobdeck-dramatiq:mail.DQ.msgs")


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_mails_wait_for_smtp_and_arrive_once(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    workers: Workers,
    redis_url: str,
    wait_for_job: Callable[..., Job],
) -> None:
    with engine.begin() as conn:  # Superadmins: they may see the jobs they are told about
        watchers = [
            add_user(conn, f"watcher{n}@example.org", f"Watcher {n}", "superadmin").id
            for n in range(WATCHERS)
        ]
    jobs = [
        launch_import(
            runtime,
            superadmin,
            "superadmin",
            f"mail-{n}.csv",
            [users_csv(300, 3, seed=n, prefix=f"m{n}-")],
        )  # fmt: skip
        for n in range(JOBS)
    ]
    for job in jobs:
        for user_id in watchers:
            store.add_watcher(job.id, user_id)
    port = free_port()  # nothing listens there yet: the mail server is down
    smtp = {"SMTP_URL": f"smtp://127.0.0.1:{port}"}

    first = workers.start(**smtp)
    for job in jobs:
        assert wait_for_job(job.id, lambda j: j.is_final).status is Status.COMPLETED
    wait_until(
        lambda: workers.log_text().count("Retrying message") >= JOBS * WATCHERS * 2,
        60, "every email to fail twice",
    )  # fmt: skip
    kill(first)  # it held the emails waiting for their next try
    workers.start(**smtp)

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        client = redis.Redis.from_url(redis_url)
        wait_until(
            lambda: all(store.was_mailed(j.id, u) for j in jobs for u in watchers),
            90, "every email to be sent",
        )  # fmt: skip
        wait_until(
            lambda: not any(client.hlen(queue) for queue in MAIL_QUEUES),
            30, "no email message left in the queue",
        )  # fmt: skip
    finally:
        controller.stop()

    received = sorted(
        (str(m["To"]), str(m["Subject"])) for m in map(email.message_from_bytes, mailbox.messages)
    )
    expected = sorted(
        (f"Watcher {n} <watcher{n}@example.org>", f"Import users from mail-{j}.csv (300 rows) "
         "completed")
        for n in range(WATCHERS) for j in range(JOBS)
    )  # fmt: skip
    assert received == expected
