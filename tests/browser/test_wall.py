"""The wallboard and screen links in real Chromium, against the app served by uvicorn.

A real worker runs a real import for the live test; elsewhere jobs move through the real job
store (whose every change is published on Redis, as a worker's are), so that what the wall
must show is known exactly. Elements are found by role and accessible name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import dramatiq
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy.engine import Engine

from server.auth.screen_links import ScreenLinks
from tasks.data.courses import add_course
from tasks.data.users import add_user
from tasks.demo import COURSES, demo_csv
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore

pytestmark = pytest.mark.browser

PASSWORD = "browser-password-1"
SUE_EMAIL = "sue@example.com"
WALL = "/admin/background-jobs/wall"
LOST = re.compile(r"^Connection lost, reconnecting… Last update at \d{1,2}:\d\d:\d\d\s*([AP]M)?\.$")
RECOVERY_TIMEOUT_MS = 30_000


class Server(Protocol):
    """What these tests use of a served app (`ServedApp` in tests/support/served.py)."""

    @property
    def base_url(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    def url(self, path: str) -> str: ...
    def start(self) -> Server: ...
    def stop(self) -> None: ...


@pytest.fixture
def sue(engine: Engine) -> Person:
    """Sue, a Superadmin with PASSWORD, and the courses that the demo CSV names."""
    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)
        user = add_user(conn, SUE_EMAIL, "Sue Super", "superadmin", PASSWORD)
    return Person(user.id, user.name)


@pytest.fixture
def signed_in(
    page: Page, sue: Person, sign_in: Callable[[Page, str, str, str], None]
) -> Callable[[Server], Page]:
    def open_as_sue(server: Server) -> Page:
        sign_in(page, server.base_url, SUE_EMAIL, PASSWORD)
        return page

    return open_as_sue


@pytest.fixture
def screen(browser: Browser) -> Iterator[Page]:
    """A wall screen: a browser context of its own, with nobody signed in."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def add_job(store: JobStore, owner: Person, description: str, total: int = 200) -> Job:
    job = Job(
        id=new_job_id(),
        kind="import_users",
        description=description,
        owner=owner,
        created_at=time.time(),
        total=total,
    )
    return store.create(job)


def open_wall(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("status").filter(has_text=re.compile("^Live$"))).to_be_visible()


def article(page: Page, description: str) -> Locator:
    return page.get_by_role("article", name=description, exact=True)


def bar(page: Page, description: str) -> Locator:
    return page.get_by_role("progressbar", name=f"Progress of {description}", exact=True)


def words(row: Locator, pattern: str) -> Locator:
    return row.get_by_text(re.compile(rf"^\s*({pattern})\s*$"))


def mark_document(page: Page) -> None:
    page.evaluate("window.jobdeckTestMark = true")


def is_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.jobdeckTestMark === true"))


def test_wall_shows_running_jobs_first_and_follows_a_real_import_live(
    live_server: Server,
    signed_in: Callable[[Server], Page],
    sue: Person,
    store: JobStore,
    job_worker: dramatiq.Worker,
) -> None:
    earlier = add_job(store, sue, "Import users from earlier.csv (200 rows)")
    store.transition(earlier.id, Event.START, at=time.time())
    store.transition(earlier.id, Event.COMPLETE, at=time.time())
    page = signed_in(live_server)
    open_wall(page, live_server.url(WALL))
    mark_document(page)
    finished = page.get_by_role("region", name="Finished")
    expect(article(finished, earlier.description)).to_be_visible()

    rows = 60_000
    data = "".join(demo_csv(rows, 12, 7)).encode()
    response = page.request.post(
        live_server.url("/api/imports/users"),
        multipart={"file": {"name": "wall.csv", "mimeType": "text/csv", "buffer": data}},
        headers={"Origin": live_server.base_url},
    )
    assert response.status == 202, response.text()
    description = f"Import users from wall.csv ({rows:,} rows)"

    running = page.get_by_role("region", name="Running")
    row = article(running, description)
    expect(words(row, "Running")).to_be_visible()
    expect(page.get_by_role("article").first).to_have_accessible_name(description)
    progress = bar(page, description)
    expect(progress).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]|[1-4]\d)$"))
    shown = int(progress.get_attribute("aria-valuenow") or "0")
    expect(progress).not_to_have_attribute("aria-valuenow", str(shown))
    expect(page.get_by_role("button")).to_have_count(0)  # no abort, no notify, no dialog

    done = article(finished, description)
    expect(words(done, "Completed")).to_be_visible(timeout=60_000)
    expect(done).to_contain_text("12 errors")
    expect(bar(page, description)).to_have_attribute("aria-valuenow", "100")
    expect(article(running, description)).to_have_count(0)
    expect(page.get_by_role("article").first).to_have_accessible_name(description)
    expect(page.get_by_role("button")).to_have_count(0)
    assert is_same_document(page), "the wall reloaded instead of being updated live"


@pytest.fixture
def restartable(serve: Callable[[], Server]) -> Iterator[Server]:
    """A web process of its own on a fixed port, that the test stops and starts again."""
    yield serve()


def test_wall_says_so_when_its_connection_is_lost_for_5_s_and_recovers(
    restartable: Server, signed_in: Callable[[Server], Page], sue: Person, store: JobStore
) -> None:
    gone = add_job(store, sue, "Import users from removed.csv (200 rows)")
    store.transition(gone.id, Event.START, at=time.time())
    store.transition(gone.id, Event.COMPLETE, at=time.time())
    job = add_job(store, sue, "Import users from outage.csv (200 rows)")
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"done": "50"})
    page = signed_in(restartable)
    open_wall(page, restartable.url(WALL))
    mark_document(page)
    expect(article(page, gone.description)).to_be_visible()
    expect(bar(page, job.description)).to_have_attribute("aria-valuenow", "25")
    lost = page.get_by_role("alert").filter(has_text="Connection lost")

    restartable.stop()
    expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    closed_by = time.monotonic()  # the socket closed a little before this
    page.wait_for_timeout(4_000)  # the point: what the wall says during its first seconds down
    expect(lost).to_be_hidden(timeout=1)  # not before 5 s: a blink is not an outage
    expect(lost).to_have_text(LOST, timeout=20_000)
    assert time.monotonic() - closed_by > 4.0
    store.flush(job.id, {"done": "200"})
    store.transition(job.id, Event.COMPLETE, at=time.time())
    store.delete(gone.id)  # its removal is published while nobody listens

    restartable.start()
    expect(lost).to_be_hidden(timeout=RECOVERY_TIMEOUT_MS)
    expect(page.get_by_role("status").filter(has_text=re.compile("^Live$"))).to_be_visible()
    row = article(page.get_by_role("region", name="Finished"), job.description)
    expect(words(row, "Completed")).to_be_visible()
    expect(bar(page, job.description)).to_have_attribute("aria-valuenow", "100")
    expect(article(page, gone.description)).to_have_count(0)
    assert is_same_document(page), "the wall reloaded instead of catching up over the socket"


def create_screen_link(page: Page, server: Server, name: str) -> str:
    """Through the gear menu, as a Superadmin would: the address shown once."""
    page.goto(server.url("/admin"))
    page.get_by_role("button", name="Admin Menu", exact=True).click()
    page.get_by_role("navigation", name="Admin Menu").get_by_role(
        "link", name="Screen links"
    ).click()
    page.get_by_label("Screen name").fill(name)
    page.get_by_label("Expires after").select_option(label="1 day")
    page.get_by_role("button", name="Create screen link").click()
    address = page.get_by_role("textbox", name="Address for the screen")
    expect(address).to_have_value(re.compile(r"/screen/[\w-]{40,}$"))
    return address.input_value()


def test_screen_link_shows_the_wall_read_only_and_nothing_else(
    live_server: Server,
    signed_in: Callable[[Server], Page],
    screen: Page,
    sue: Person,
    store: JobStore,
) -> None:
    job = add_job(store, sue, "Import users from lobby.csv (200 rows)")
    store.transition(job.id, Event.START, at=time.time())
    admin = signed_in(live_server)
    address = create_screen_link(admin, live_server, "Lobby screen")
    links = admin.get_by_role("table")
    expect(links.get_by_role("row", name=re.compile("^Lobby screen Sue Super"))).to_contain_text(
        "Never"
    )

    path = "/" + address.split("/", 3)[3]
    open_wall(screen, live_server.url(path))
    expect(screen).to_have_url(live_server.url(WALL))
    expect(screen.get_by_role("heading", level=1)).to_contain_text("Lobby screen")
    store.flush(job.id, {"done": "150"})
    expect(bar(screen, job.description)).to_have_attribute("aria-valuenow", "75")
    expect(screen.get_by_role("button")).to_have_count(0)
    expect(screen.get_by_role("link")).to_have_count(0)

    for refused in ("/admin/background-jobs", "/admin/screens", "/admin"):
        screen.goto(live_server.url(refused))
        expect(screen).to_have_url(re.compile(r"/login\?next="))
    api: Any = screen.request.get(live_server.url("/api/jobs"))
    assert api.status == 401
    aborted = screen.request.post(
        live_server.url(f"/api/jobs/{job.id}/abort"), headers={"Origin": live_server.base_url}
    )
    assert aborted.status == 401

    admin.reload()
    row = admin.get_by_role("table").get_by_role("row", name=re.compile("^Lobby screen"))
    expect(row).not_to_contain_text("Never")


def test_revoking_a_link_mid_view_closes_the_screen_and_says_so(
    live_server: Server,
    signed_in: Callable[[Server], Page],
    screen: Page,
    sue: Person,
    store: JobStore,
) -> None:
    job = add_job(store, sue, "Import users from revoked.csv (200 rows)")
    admin = signed_in(live_server)
    address = create_screen_link(admin, live_server, "Hall screen")
    open_wall(screen, live_server.url("/" + address.split("/", 3)[3]))
    expect(article(screen, job.description)).to_be_visible()

    admin.get_by_role("button", name="Revoke Hall screen").click()
    expect(admin.get_by_text("No screen links.")).to_be_visible()

    told = screen.get_by_role("alert").filter(has_text="This screen link was revoked.")
    expect(told).to_have_text(
        "This screen link was revoked. Ask a Superadmin for a new screen link."
    )
    expect(screen.get_by_role("status")).to_have_text("Disconnected")
    expect(screen.get_by_role("article")).to_have_count(0)  # nothing left to trust
    screen.reload()
    expect(screen.get_by_role("alert")).to_have_text(
        "This screen link was revoked. Ask a Superadmin for a new screen link."
    )


def test_expired_screen_link_is_refused(
    live_server: Server, screen: Page, sue: Person, store: JobStore
) -> None:
    links = ScreenLinks(store.redis, store.prefix)
    _link, token = links.create("Old screen", sue.id, sue.name, 86400, at=time.time() - 2 * 86400)
    screen.goto(live_server.url(f"/screen/{token}"))
    expect(
        screen.get_by_role("heading", name="This screen cannot show the wallboard")
    ).to_be_visible()
    expect(screen.get_by_role("alert")).to_contain_text("Ask a Superadmin for a new screen link.")
    screen.goto(live_server.url(WALL))
    expect(screen).to_have_url(re.compile(r"/login\?next="))
