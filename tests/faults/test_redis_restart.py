"""Redis killed and started again in the middle of an import, with a page watching: the
embedded Redis keeps an append-only file, so no job, error or session is lost; the worker, the
web process's hub and the open page catch up by themselves, without a reload."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine

from server.embedded_redis import EmbeddedRedis
from tasks.data.users import add_user
from tasks.jobs.model import Status
from tasks.jobs.store import JobStore
from tests.faults.fault_kit import WebProcess, Workers, add_demo_courses, imported_users, users_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROWS, BAD = 100_000, 30
EMAIL, PASSWORD = "sue@example.com", "redis-restart-password"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, with its append-only file, that the test may kill."""
    server = EmbeddedRedis(tmp_path / "redis", appendonly=True).start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.kill()
            server.process.wait()


def status_text(page: Page, text: str) -> object:
    return page.get_by_role("status").filter(has_text=re.compile(rf"^{re.escape(text)}$"))


@pytest.mark.timeout(240)
def test_redis_restart_mid_import_loses_nothing_and_the_page_catches_up(
    engine: Engine,
    private_redis: EmbeddedRedis,
    workers: Workers,
    web: Callable[..., WebProcess],
    chromium: Browser,
) -> None:
    add_demo_courses(engine)
    with engine.begin() as conn:
        add_user(conn, EMAIL, "Sue Super", "superadmin", PASSWORD)
    env = {"REDIS_URL": private_redis.url}
    server = web(**env)
    workers.start(**env)
    store = JobStore.from_url(private_redis.url, 86400)

    context = chromium.new_context()
    page = context.new_page()
    page.goto(server.base_url + "/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.goto(server.base_url + "/admin/background-jobs")
    expect(status_text(page, "Live")).to_be_visible()
    page.evaluate("window.jobdeckTestMark = true")

    response = page.request.post(
        server.base_url + "/api/imports/users",
        multipart={"file": {"name": "redis.csv", "mimeType": "text/csv",
                            "buffer": users_csv(ROWS, BAD, seed=31, prefix="r-")}},
        headers={"Origin": server.base_url},
    )  # fmt: skip
    assert response.status == 202, response.text()
    job_id = response.json()["id"]
    description = f"Import users from redis.csv ({ROWS:,} rows)"
    bar = page.get_by_role("progressbar", name=f"Progress of {description}", exact=True)
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]|[1-3]\d)$"))

    before = store.get(job_id)
    assert private_redis.process is not None
    private_redis.process.kill()  # SIGKILL: no shutdown, no last write
    private_redis.process.wait()
    down_at = time.monotonic()
    time.sleep(1.0)  # the fault: Redis stays down a second
    private_redis.start()
    downtime = time.monotonic() - down_at
    assert store.get(job_id).done >= before.done, "progress written before the kill was lost"

    row = page.get_by_role("article", name=description, exact=True)
    # "Completed", or "Completed with N errors" (the file has bad rows).
    done = re.compile(r"^\s*Completed( with [\d,]+ errors?)?\s*$")
    expect(row.get_by_text(done)).to_be_visible(timeout=120_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(row).to_contain_text(f"{ROWS:,} / {ROWS:,} items")
    expect(
        row.get_by_role("button", name=re.compile(r"errors?: show details$"))
    ).to_have_accessible_name(f"{BAD} errors: show details")
    expect(status_text(page, "Live")).to_be_visible()
    assert page.evaluate("window.jobdeckTestMark === true"), "the page reloaded"

    job = store.get(job_id)
    assert job.status is Status.COMPLETED and (job.done, job.total) == (ROWS, ROWS)
    assert job.error_count == store.error_count(job_id) == BAD
    assert imported_users(engine, "r-") == (ROWS - BAD, ROWS - BAD)
    # the session survived too: the signed-in page still answers without a new sign-in
    assert page.request.get(server.base_url + "/admin/background-jobs").url.endswith(
        "/admin/background-jobs"
    )
    context.close()
    print(f"redis down {downtime:.1f}s; job completed; page caught up without a reload")
