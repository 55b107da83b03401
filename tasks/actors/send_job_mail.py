"""The end-of-job email: queued once per job (tasks/jobs/notify.py), sent once per person,
retried with backoff."""

from __future__ import annotations

import logging

import dramatiq

from tasks.broker import worker_runtime
from tasks.data.users import get_user
from tasks.jobs.notify import MAIL_ACTOR, MAIL_QUEUE
from tasks.jobs.records import UnknownJob
from tasks.jobs.standing import may_see
from tasks.mail import build_job_mail, send_mail

log = logging.getLogger(__name__)


@dramatiq.actor(
    actor_name=MAIL_ACTOR,
    queue_name=MAIL_QUEUE,
    max_retries=20,
    min_backoff=1_000,
    max_backoff=300_000,
)
def send_job_mail(job_id: str, user_id: int) -> None:
    runtime = worker_runtime()
    store, settings = runtime.store, runtime.settings
    if store.was_mailed(job_id, user_id):
        return
    try:
        job = store.get(job_id)
    except UnknownJob:
        log.info("job %s is gone; no email for user %s", job_id, user_id)
        return
    with runtime.engine.connect() as conn:
        user = get_user(conn, user_id)
    if user is None or not may_see(user, job):  # demoted since asking: no longer told
        log.info("user %s may no longer see job %s; no email", user_id, job_id)
        return
    message = build_job_mail(job, user.email, user.name, settings.base_url, settings.mail_from)
    send_mail(message, settings.smtp_url, settings.outbox_dir)
    store.mark_mailed(job_id, user_id)
