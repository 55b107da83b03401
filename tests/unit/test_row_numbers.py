"""How a job's row says its numbers and times: separators and units on the rate, a time left in
words, "queued at" for a job that has not started, and an outcome that mentions its errors."""

from __future__ import annotations

import pytest

from server.views.jobs import job_context, render_parts, render_row
from server.views.templates import spoken_seconds
from tasks.jobs.model import Job, Person, Status

T0 = 1_800_000_000.0


def job(**fields: object) -> Job:
    defaults: dict[str, object] = {
        "id": "0123456789abcdef",
        "kind": "import_users",
        "description": "Import users from staff.csv (1,500,000 rows)",
        "owner": Person(1, "Ada Admin"),
        "created_at": T0,
        "total": 1_500_000,
    }
    return Job(**{**defaults, **fields})  # type: ignore[arg-type]


def state(j: Job, at: float) -> str:
    return render_parts(job_context(j, at, 86_400, 60), ("state",))["state"]


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (93, "1 min 33 s"),
        (3600, "1 h"),
        (7_500, "2 h 5 min"),
        (92.6, "1 min 33 s"),
    ],  # fmt: skip
)
def test_time_left_is_said_in_units(seconds: float, said: str) -> None:
    assert spoken_seconds(seconds) == said


def test_a_running_row_says_its_rate_with_separators_and_its_time_left_in_units() -> None:
    running = job(status=Status.RUNNING, started_at=T0, done=1_217_900)
    html = state(running, T0 + 100)  # 12,179 items a second, 282,100 items left
    assert "<span>12,179 items/s</span>" in html
    assert "<span>about 23 s left</span>" in html
    slow = job(status=Status.RUNNING, started_at=T0, done=10_000)
    assert "about 4 h 8 min left" in state(slow, T0 + 100)


def test_a_queued_row_says_queued_at_and_a_started_one_started() -> None:
    queued = render_row(job_context(job(), T0, 86_400, 60), is_watching=False)
    assert "Ada Admin · queued at <time>" in queued
    started = job(status=Status.RUNNING, started_at=T0 + 5)
    assert "Ada Admin · started <time>" in render_row(
        job_context(started, T0 + 6, 86_400, 60), is_watching=False
    )


def test_a_job_that_completed_with_errors_says_so() -> None:
    done = dict(status=Status.COMPLETED, started_at=T0, finished_at=T0 + 9, done=1_500_000)
    assert ">Completed with 400 errors<" in state(job(**done, error_count=400), T0 + 10)
    assert ">Completed with 1 error<" in state(job(**done, error_count=1), T0 + 10)
    assert ">Completed<" in state(job(**done), T0 + 10)
