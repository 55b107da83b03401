"""The email sent when a job ends: built by one pure function, sent by another.

`SMTP_URL` is `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it) or
`smtps://…` (TLS from the start); with none, each message is written as an `.eml` file under
the outbox folder, so a laptop needs no mail server.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tasks.jobs.model import Job, Status, format_duration

OUTCOMES = {
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.ABORTED: "was aborted",
}


def build_job_mail(
    job: Job, to_address: str, to_name: str, base_url: str, sender: str
) -> EmailMessage:
    """The end-of-job email for one recipient (pure: no clock, no network)."""
    outcome = OUTCOMES.get(job.status, job.status.value)
    msg = EmailMessage()
    # A header is one line, and the name is a quoted display name, never more addresses.
    msg["Subject"] = " ".join(f"{job.description} {outcome}".split())
    msg["From"] = sender
    msg["To"] = Address(display_name=" ".join(to_name.split()), addr_spec=to_address)
    msg["Message-ID"] = make_msgid(idstring=f"job-{job.id}-{to_address}", domain="jobdeck")
    if job.finished_at is not None:
        msg["Date"] = format_datetime(datetime.fromtimestamp(job.finished_at, UTC))
    total = f"{job.total:,}" if job.total is not None else "unknown"
    running = job.running_time(job.finished_at or job.created_at)
    lines = [
        f"Hello {to_name},",
        "",
        f'The background job "{job.description}" {outcome}.',
        "",
        f"Items done:   {job.done:,} of {total}",
        f"Errors:       {job.error_count:,}",
        f"Running time: {format_duration(running, '—')}",
    ]
    if job.status is Status.ABORTED and job.aborted_by is not None:
        lines.append(f"Aborted by:   {job.aborted_by.name}")
    if job.status is Status.FAILED and job.message:
        lines.append(f"Reason:       {job.message}")
    lines += [
        "",
        f"Errors and details: {base_url}/admin/background-jobs/{job.id}/errors",
        f"All background jobs: {base_url}/admin/background-jobs",
        "",
        "You get this email because you asked to be notified when this job finished.",
    ]
    msg.set_content("\n".join(lines))
    return msg


def send_mail(message: EmailMessage, smtp_url: str, outbox: Path, timeout_s: float = 30) -> None:
    """Deliver `message` by SMTP, or write it to the outbox when there is no SMTP_URL."""
    if not smtp_url:
        outbox.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").replace("/", "_").replace("@", "_at_")
        (outbox / f"{name}.eml").write_bytes(bytes(message))
        return
    url = urlsplit(smtp_url)
    host = url.hostname or "localhost"
    if url.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            host, url.port or 465, timeout=timeout_s, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(host, url.port or 25, timeout=timeout_s)
    with smtp:
        smtp.ehlo()
        if url.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
