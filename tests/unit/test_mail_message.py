"""The end-of-job email, built by a pure function: subject, body, link, and durations."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from tasks.jobs.model import Job, Person, Status, format_duration
from tasks.mail import build_job_mail

T0 = 1_700_000_000.0
BASE_URL = "https://learn.example.org"
SENDER = "jobdeck <jobdeck@example.org>"

JOB = Job(
    id="0123456789abcdef",
    kind="import_users",
    description="Import users from staff-2026.csv (5,000 rows)",
    owner=Person(7, "Ada Lovelace"),
    created_at=T0,
    status=Status.COMPLETED,
    total=5000,
    done=5000,
    error_count=1234,
    started_at=T0 + 10,
    finished_at=T0 + 10 + 125,
)


def mail_for(job: Job) -> EmailMessage:
    return build_job_mail(job, "grace@example.org", "Grace Hopper", BASE_URL, SENDER)


def body_of(message: EmailMessage) -> str:
    return str(message.get_content())


def test_completed_mail_subject_has_description_and_outcome() -> None:
    assert mail_for(JOB)["Subject"] == "Import users from staff-2026.csv (5,000 rows) completed"


def test_failed_mail_subject_and_reason() -> None:
    failed = replace(JOB, status=Status.FAILED, done=120, message="the CSV file vanished")
    message = mail_for(failed)
    assert message["Subject"] == "Import users from staff-2026.csv (5,000 rows) failed"
    assert "Reason:       the CSV file vanished" in body_of(message)


def test_aborted_mail_names_who_aborted() -> None:
    aborted = replace(JOB, status=Status.ABORTED, done=2500, aborted_by=Person(1, "Linus"))
    message = mail_for(aborted)
    assert message["Subject"] == "Import users from staff-2026.csv (5,000 rows) was aborted"
    body = body_of(message)
    assert "Aborted by:   Linus" in body
    assert "Items done:   2,500 of 5,000" in body


def test_aborted_by_and_reason_only_where_they_belong() -> None:
    body = body_of(mail_for(replace(JOB, aborted_by=Person(1, "Linus"), message="x")))
    assert "Aborted by" not in body
    assert "Reason" not in body


def test_body_has_counts_running_time_and_links() -> None:
    body = body_of(mail_for(JOB))
    assert "Hello Grace Hopper," in body
    assert '"Import users from staff-2026.csv (5,000 rows)" completed.' in body
    assert "Items done:   5,000 of 5,000" in body
    assert "Errors:       1,234" in body
    assert "Running time: 2:05" in body
    assert f"{BASE_URL}/admin/background-jobs/0123456789abcdef/errors" in body
    assert f"{BASE_URL}/admin/background-jobs\n" in body


def test_body_with_unknown_total() -> None:
    body = body_of(mail_for(replace(JOB, total=None, done=42)))
    assert "Items done:   42 of unknown" in body


def test_running_time_of_a_job_aborted_while_queued() -> None:
    queued_then_aborted = replace(
        JOB, status=Status.ABORTED, started_at=None, done=0, finished_at=T0 + 3
    )
    assert "Running time: —" in body_of(mail_for(queued_then_aborted))


def test_headers_address_the_recipient_and_date_the_end() -> None:
    message = mail_for(JOB)
    assert message["To"] == "Grace Hopper <grace@example.org>"
    assert message["From"] == SENDER
    assert parsedate_to_datetime(message["Date"]).timestamp() == JOB.finished_at
    assert "0123456789abcdef" in message["Message-ID"]


def test_non_ascii_names_survive_encoding() -> None:
    job = replace(JOB, description="Import von Zoë's Datei")
    message = build_job_mail(job, "zoe@example.org", "Zoë Ünal", BASE_URL, SENDER)
    raw = bytes(message)
    assert b"Zo=C3=AB" in raw or b"=?utf-8?" in raw
    assert "Zoë Ünal" in str(message["To"])
    assert message["Subject"] == "Import von Zoë's Datei completed"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0:00"),
        (0.9, "0:00"),
        (59.99, "0:59"),
        (61, "1:01"),
        (599, "9:59"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (3725, "1:02:05"),
        (36_000 + 59, "10:00:59"),
        (100 * 3600, "100:00:00"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds, "—") == text
