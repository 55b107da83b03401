"""The line in Chromium: a queued job's place and start estimate on its row, moving live when a
Superadmin fast-tracks another job and when the job ahead starts; Pause → Paused (bar and
running time frozen) → Resume → Completed, by the owner, with the row's own buttons."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Job, Person, Status
from tasks.runtime import Runtime
from tests.browser.axe import check, snap
from tests.support.held_jobs import GATES, launch_held, worker_with_threads
from tests.support.served import ServedApp
from tests.support.waiting import wait_until

PASSWORD = "line-password-1"

pytestmark = pytest.mark.browser


@pytest.fixture
def people(engine: Engine) -> dict[str, User]:
    with engine.begin() as conn:
        return {
            "sue": add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD),
            "pat": add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD),
        }


@pytest.fixture
def one_thread() -> Iterator[None]:
    # ONE thread: a full house, so that queued jobs wait for the one slot in the line's order
    # (and a paused job must give the slot up for anything else to run).
    with worker_with_threads(1):
        yield


def row_of(page: Page, job: Job) -> Locator:
    return page.get_by_role("article", name=job.description, exact=True)


def open_jobs(page: Page, server: ServedApp, user: User, sign_in: Callable[..., None]) -> None:
    sign_in(page, server.base_url, user.email, PASSWORD)
    page.goto(server.url("/admin/background-jobs"))
    expect(page.locator("#connection")).to_have_text("Live")


def test_places_in_line_move_live_with_fast_track_and_as_jobs_start(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in, people, runtime: Runtime, one_thread: None
) -> None:
    pat = Person(people["pat"].id, "Pat Power")
    running = launch_held(runtime, pat, name="Import R (5 rows)")
    wait_until(lambda: GATES.started == [running.id], 20, "R to start")
    a = launch_held(runtime, pat, name="Import A (5 rows)")
    b = launch_held(runtime, pat, name="Import B (5 rows)")
    open_jobs(page, live_server, people["sue"], sign_in)
    expect(row_of(page, a)).to_contain_text("1st in line")
    expect(row_of(page, b)).to_contain_text("2nd in line")
    check(page, "queued jobs with their places")
    snap(page, "line-places")

    row_of(page, b).get_by_role("button", name=f"Fast-track job “{b.description}”").click()
    expect(row_of(page, b)).to_contain_text("Fast-tracked")
    expect(row_of(page, b)).to_contain_text("1st in line")
    expect(row_of(page, a)).to_contain_text("2nd in line")
    expect(row_of(page, b).get_by_role("button", name=re.compile("^Fast-track"))).to_have_count(0)

    GATES.let(running.id, 2)  # R does 2 of its 5 items: now it has a rate, A and B estimates
    expect(row_of(page, a)).to_contain_text(re.compile(r"2nd in line · starts ≈ \d\d:\d\d"))
    GATES.let(running.id)
    expect(row_of(page, b).get_by_text("Running", exact=True)).to_be_visible()
    expect(row_of(page, a)).to_contain_text("1st in line")
    assert GATES.started == [running.id, b.id]


def test_pause_then_resume_from_the_row(  # type: ignore[no-untyped-def]
    live_server, page: Page, sign_in, people, runtime: Runtime, one_thread: None
) -> None:
    pat = Person(people["pat"].id, "Pat Power")
    job = launch_held(runtime, pat, items=10, name="Import staff (10 rows)")
    GATES.let(job.id, 3)
    wait_until(lambda: runtime.store.get(job.id).done == 3, 20, "3 items done")
    open_jobs(page, live_server, people["pat"], sign_in)
    row = row_of(page, job)
    expect(row.get_by_role("button", name=re.compile("^Fast-track"))).to_have_count(0)

    row.get_by_role("button", name=f"Pause job “{job.description}”").click()
    expect(row).to_contain_text("Pausing…")
    asked = runtime.store.get(job.id)
    wait_until(lambda: runtime.store.get(job.id).seq > asked.seq, 20, "the worker to hear")
    GATES.let(job.id, 4)  # one more item: the batch boundary where it stops
    expect(row).to_contain_text("Paused")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "40")
    expect(row.locator(".clock[data-ticking]")).to_have_count(0)  # its time stands still
    check(page, "a paused job")
    snap(page, "line-paused")
    assert runtime.store.get(job.id).status is Status.PAUSED

    row.get_by_role("button", name=f"Resume job “{job.description}”").click()
    expect(row.get_by_text("Running", exact=True)).to_be_visible()
    GATES.let(job.id)
    expect(row).to_contain_text("Completed")
    ended = runtime.store.get(job.id)
    assert (ended.done, ended.total, GATES.started) == (10, 10, [job.id, job.id])
    assert GATES.items[job.id] == 10  # 4 before the pause, 6 after: none done twice
