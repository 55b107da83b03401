"""The end-of-job email: queued once per job, sent once per person, retried with backoff."""

from __future__ import annotations

import logging

import dramatiq

from tasks.broker import runtime
from tasks.data.users import get_user
from tasks.jobs.model import Job
from tasks.jobs.store import JobStore, UnknownJob
from tasks.mail import build_job_mail, send_mail

log = logging.getLogger(__name__)


def queue_job_mails(store: JobStore, job: Job) -> None:
    """Queue one email per watcher of an ended job; only the first caller queues anything."""
    if store.claim_mail_queue(job.id):
        for user_id in sorted(store.watchers(job.id)):
            send_job_mail.send(job.id, user_id)


@dramatiq.actor(queue_name="mail", max_retries=20, min_backoff=1_000, max_backoff=300_000)
def send_job_mail(job_id: str, user_id: int) -> None:
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
    if user is None or not user.is_active:
        return
    message = build_job_mail(job, user.email, user.name, settings.base_url, settings.mail_from)
    send_mail(message, settings.smtp_url, settings.outbox_dir)
    store.mark_mailed(job_id, user_id)
