"""*Notify me when finished*: when a job ends, one email per person who asked for it.

The mail is queued by actor name (`send_job_mail`, on the `mail` queue), so the web process,
which queues it when an abort ends a job at once, needs no actor of its own.
"""

from __future__ import annotations

from tasks.jobs.model import Job
from tasks.runtime import Runtime

MAIL_QUEUE = "mail"
MAIL_ACTOR = "send_job_mail"


def queue_job_mail(runtime: Runtime, job_id: str, user_id: int) -> None:
    runtime.queue(MAIL_QUEUE, MAIL_ACTOR, job_id, user_id)


def queue_job_mails(runtime: Runtime, job: Job) -> None:
    """Queue one email per watcher of an ended job; only the first caller queues anything."""
    if runtime.store.claim_mail_queue(job.id):
        for user_id in sorted(runtime.store.watchers(job.id)):
            queue_job_mail(runtime, job.id, user_id)
